//! What a pattern cannot say: the reserved words a name may not be. Each slug's schema gets
//! `not: {enum: [...]}` with the reserved slugs, and a new service user's handle also the
//! handles of Komander's own users, each said in the description too.

use komander_app::users::RESERVED_HANDLES;
use komander_domain::names::RESERVED_SLUGS;
use serde_json::json;
use utoipa::openapi::{AllOfBuilder, Object, ObjectBuilder, OpenApi, Ref, RefOr, Schema, Type};

use super::rules::add_keyword;

/// The components that are slugs, which may not be a reserved word.
const SLUGS: [&str; 7] = [
    "ProjectName",
    "EnvironmentName",
    "DeploymentName",
    "ServiceName",
    "VolumeName",
    "TargetName",
    "UserHandle",
];

/// Adds the reserved words to the slugs' schemas and to `NewServiceUser.handle`.
pub(crate) fn add(doc: &mut OpenApi) {
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    for slug in SLUGS {
        if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(slug) {
            refuse(object, RESERVED_SLUGS);
        }
    }
    if let Some(RefOr::T(Schema::Object(user))) = components.schemas.get_mut("NewServiceUser") {
        let mut reserved = ObjectBuilder::new().schema_type(Type::String).build();
        refuse(&mut reserved, &RESERVED_HANDLES);
        let handle = AllOfBuilder::new()
            .item(RefOr::Ref(Ref::from_schema_name("UserHandle")))
            .item(reserved)
            .description(Some(
                "Its handle; not one of Komander's own users' (`not` lists them)",
            ));
        user.properties
            .insert("handle".to_owned(), RefOr::T(handle.into()));
    }
}

/// Makes `object` refuse each of `words`, naming them in its description.
fn refuse(object: &mut Object, words: &[&str]) {
    let said = format!(
        "Not a reserved word: {}.",
        words
            .iter()
            .map(|w| format!("`{w}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    add_keyword(object, "not", json!({ "enum": words }), &said);
}

#[cfg(test)]
mod tests {
    #[test]
    fn slugs_and_new_handles_refuse_the_reserved_words() {
        let doc = serde_json::to_value(crate::http::openapi()).unwrap();
        let schemas = &doc["components"]["schemas"];
        assert!(
            schemas["ProjectName"]["not"]["enum"]
                .as_array()
                .unwrap()
                .contains(&"api".into()),
            "{}",
            schemas["ProjectName"]
        );
        let handle = &schemas["NewServiceUser"]["properties"]["handle"];
        assert_eq!(
            handle["allOf"][0]["$ref"],
            "#/components/schemas/UserHandle"
        );
        assert!(
            handle["allOf"][1]["not"]["enum"]
                .as_array()
                .unwrap()
                .contains(&"bootstrap".into()),
            "{handle}"
        );
    }
}
