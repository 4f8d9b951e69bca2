//! Request bodies are closed: every object a request body holds denies unknown fields on the
//! server (`#[serde(deny_unknown_fields)]` on each of the domain's input types), so the document
//! says `additionalProperties: false` on each, and a client generated from it never sends a
//! field the server refuses.

use std::collections::BTreeSet;

use utoipa::openapi::{OpenApi, RefOr, Schema, schema::AdditionalProperties};

/// Closes every object with named properties among the schemas request bodies refer to,
/// directly or through other schemas.
pub(crate) fn add(doc: &mut OpenApi) {
    let mut pending: Vec<String> = doc
        .paths
        .paths
        .values()
        .flat_map(|item| [&item.get, &item.put, &item.post, &item.delete, &item.patch])
        .flatten()
        .filter_map(|operation| operation.request_body.as_ref())
        .flat_map(|body| body.content.values())
        .filter_map(|content| content.schema.as_ref())
        .flat_map(references)
        .collect();
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    let mut closed = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !closed.insert(name.clone()) {
            continue;
        }
        let Some(RefOr::T(schema)) = components.schemas.get_mut(&name) else {
            continue;
        };
        pending.extend(references(&RefOr::T(schema.clone())));
        close(schema);
    }
}

/// Closes `schema` if it is an object with named properties, or each such variant of a
/// `oneOf` (a tagged enum).
fn close(schema: &mut Schema) {
    match schema {
        Schema::Object(object) if !object.properties.is_empty() => {
            object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
        }
        Schema::OneOf(one_of) => {
            for item in &mut one_of.items {
                if let RefOr::T(variant) = item {
                    close(variant);
                }
            }
        }
        _ => {}
    }
}

/// The names of the components `schema` refers to, at any depth within it.
fn references(schema: &RefOr<Schema>) -> Vec<String> {
    let text = serde_json::to_string(schema).unwrap_or_default();
    text.split("\"#/components/schemas/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next().map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_bodies_and_what_they_hold_take_no_other_fields() {
        let doc = serde_json::to_value(crate::http::openapi()).unwrap();
        let schemas = &doc["components"]["schemas"];
        for name in ["NewProject", "PortSpec", "HealthCheck"] {
            assert_eq!(
                schemas[name]["additionalProperties"], false,
                "{name}: {}",
                schemas[name]
            );
        }
        for variant in schemas["TargetEndpointWrite"]["oneOf"].as_array().unwrap() {
            assert_eq!(variant["additionalProperties"], false, "{variant}");
        }
        assert_ne!(
            schemas["Project"]["additionalProperties"], false,
            "an answer's schema stays open"
        );
    }
}
