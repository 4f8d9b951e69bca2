//! OpenAPI links from each create operation to the operations that take what it created, so
//! that a client (and a stateful fuzzer) knows that `POST /api/v1/projects` answers the `name`
//! that `/api/v1/projects/{project}/…` takes, not its `id`.
//!
//! The links are derived from the paths: a `POST` to `P` answering `201` creates what the
//! operations under `P/{param}` take. Each link passes the created object's field for `param`
//! (the field named like the parameter, else `name`, `handle` or `id`: what the paths take)
//! and the create's own path parameters as they were.

use std::collections::BTreeSet;

use utoipa::openapi::{
    OpenApi, RefOr, Schema,
    link::LinkBuilder,
    path::{Operation, PathItem},
};

/// The fields a created object is looked up by, in the order a path parameter prefers them
/// after the field named like the parameter itself.
const KEY_FIELDS: [&str; 3] = ["name", "handle", "id"];

/// Adds to every create operation's `201` response a link to each operation that takes what it
/// created.
pub(crate) fn add(doc: &mut OpenApi) {
    let targets: Vec<(String, String, BTreeSet<String>)> = doc
        .paths
        .paths
        .iter()
        .flat_map(|(path, item)| {
            operations(item)
                .into_iter()
                .filter_map(|op| op.operation_id.clone())
                .map(move |id| (path.clone(), id, parameters(path)))
        })
        .collect();
    let creates: Vec<String> = doc
        .paths
        .paths
        .iter()
        .filter(|(_, item)| item.post.as_ref().is_some_and(answers_created))
        .map(|(path, _)| path.clone())
        .collect();
    for create in creates {
        let Some(fields) = created_fields(doc, &create) else {
            continue;
        };
        let own = parameters(&create);
        let prefix = format!("{create}/{{");
        let links: Vec<(String, LinkBuilder)> = targets
            .iter()
            .filter(|(path, _, _)| path.starts_with(&prefix))
            .filter_map(|(path, operation_id, params)| {
                let created = path[prefix.len()..].split('}').next()?.to_owned();
                let field = std::iter::once(created.as_str())
                    .chain(KEY_FIELDS)
                    .find(|f| fields.contains(*f))?;
                // Only what this create and its own path give: deeper parameters need another
                // create first.
                if !params.iter().all(|p| *p == created || own.contains(p)) {
                    return None;
                }
                // utoipa writes `operation_id`, not the `operationId` OpenAPI names: the field
                // goes in as an extension, which serializes as it is spelt.
                let target = [("operationId", operation_id.clone())]
                    .into_iter()
                    .collect();
                let link =
                    params
                        .iter()
                        .fold(LinkBuilder::new().extensions(Some(target)), |link, p| {
                            let value = if *p == created {
                                format!("$response.body#/{field}")
                            } else {
                                format!("$request.path.{p}")
                            };
                            link.parameter(p.clone(), value)
                        });
                Some((operation_id.clone(), link))
            })
            .collect();
        let Some(post) = doc
            .paths
            .paths
            .get_mut(&create)
            .and_then(|item| item.post.as_mut())
        else {
            continue;
        };
        if let Some(RefOr::T(response)) = post.responses.responses.get_mut("201") {
            for (name, link) in links {
                response.links.insert(name, RefOr::T(link.build()));
            }
        }
    }
}

/// The operations of a path, whatever their methods.
fn operations(item: &PathItem) -> Vec<&Operation> {
    [
        &item.get,
        &item.put,
        &item.post,
        &item.delete,
        &item.patch,
        &item.head,
        &item.options,
        &item.trace,
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The `{parameters}` of a path template.
fn parameters(path: &str) -> BTreeSet<String> {
    path.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(p, _)| p.to_owned()))
        .collect()
}

/// Whether an operation answers `201 Created`.
fn answers_created(operation: &Operation) -> bool {
    operation.responses.responses.contains_key("201")
}

/// The properties of the object `POST path` answers with `201`, when its schema is a named
/// object.
fn created_fields(doc: &OpenApi, path: &str) -> Option<BTreeSet<String>> {
    let post = doc.paths.paths.get(path)?.post.as_ref()?;
    let RefOr::T(response) = post.responses.responses.get("201")? else {
        return None;
    };
    let schema = response.content.get("application/json")?.schema.as_ref()?;
    let RefOr::Ref(reference) = schema else {
        return None;
    };
    let name = reference.ref_location.rsplit('/').next()?;
    match doc.components.as_ref()?.schemas.get(name)? {
        RefOr::T(Schema::Object(object)) => Some(object.properties.keys().cloned().collect()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The link of `create`'s 201 to `operation`, as JSON.
    fn link(doc: &OpenApi, create: &str, operation: &str) -> Option<serde_json::Value> {
        let post = doc.paths.paths.get(create)?.post.as_ref()?;
        let RefOr::T(response) = post.responses.responses.get("201")? else {
            return None;
        };
        response
            .links
            .get(operation)
            .map(|l| serde_json::to_value(l).unwrap())
    }

    #[test]
    fn each_create_links_to_what_takes_its_slug_handle_or_id() {
        let doc = crate::http::openapi();
        let project = link(&doc, "/api/v1/projects", "get_project").expect("a link");
        assert_eq!(project["operationId"], "get_project", "{project}");
        assert_eq!(
            project["parameters"],
            serde_json::json!({"project": "$response.body#/name"})
        );
        let environments = link(&doc, "/api/v1/projects", "create_environment").expect("a link");
        assert_eq!(
            environments["parameters"]["project"],
            "$response.body#/name"
        );
        let environment = link(
            &doc,
            "/api/v1/projects/{project}/environments",
            "get_environment",
        )
        .expect("a link");
        assert_eq!(
            environment["parameters"],
            serde_json::json!({
                "project": "$request.path.project",
                "environment": "$response.body#/name",
            })
        );
        let token = link(&doc, "/api/v1/users", "create_token").expect("a link");
        assert_eq!(token["parameters"]["user"], "$response.body#/handle");
        assert!(
            link(&doc, "/api/v1/projects", "get_environment").is_none(),
            "an operation that needs another create first is not linked"
        );
    }
}
