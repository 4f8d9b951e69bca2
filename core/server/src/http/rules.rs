//! Rules between two fields of one request body, which JSON Schema states as an `anyOf` of the
//! ways to meet them, said in the description too: a new service runs one replica or publishes
//! no host port (two containers cannot bind one host port).

use serde_json::{Value, json};
use utoipa::openapi::{Object, OpenApi, RefOr, Schema, extensions::Extensions};

/// Adds the rules between fields to the request bodies' schemas.
pub(crate) fn add(doc: &mut OpenApi) {
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    if let Some(RefOr::T(Schema::Object(service))) = components.schemas.get_mut("NewService") {
        add_keyword(
            service,
            "anyOf",
            json!([
                { "properties": { "replicas": { "maximum": 1 } } },
                { "properties": { "ports": { "items": {
                    "properties": { "host": { "type": "null" } }
                } } } },
            ]),
            "Runs one replica, or publishes no host port: two containers cannot bind one host \
             port.",
        );
    }
}

/// Adds to `object` a JSON Schema `keyword` that utoipa's object schema has no field for (`not`,
/// `anyOf`), and says the rule in its description. The keyword goes in as an extension, which
/// serializes into the object as it is spelt.
pub(super) fn add_keyword(object: &mut Object, keyword: &str, value: Value, said: &str) {
    object.description = Some(match object.description.take() {
        Some(description) => format!("{description} {said}"),
        None => said.to_owned(),
    });
    object
        .extensions
        .get_or_insert_with(Extensions::default)
        .insert(keyword.to_owned(), value);
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_new_service_runs_one_replica_or_publishes_no_host_port() {
        let doc = serde_json::to_value(crate::http::openapi()).unwrap();
        let service = &doc["components"]["schemas"]["NewService"];
        let ways = service["anyOf"].as_array().expect("an anyOf");
        assert_eq!(ways[0]["properties"]["replicas"]["maximum"], 1, "{service}");
        assert_eq!(
            ways[1]["properties"]["ports"]["items"]["properties"]["host"]["type"],
            "null"
        );
    }
}
