//! OpenAPI links from each create operation to the operations that take what it created, so
//! that a client (and a stateful fuzzer) knows that `POST /api/v1/projects` answers the `name`
//! that `/api/v1/projects/{project}/…` takes, not its `id`.
//!
//! The links are derived from the paths: a `POST` to `P` answering `201` creates what the
//! operations under `P/{param}` take; a `POST` to `B/action` answering `202` with an object
//! `Thing` starts a thing kept under `B/things/{param}` (an apply starts an operation found
//! under `…/operations/{operation}`). Each link passes the created object's field for `param`
//! (the field named like the parameter, else `name`, `handle` or `id`: what the paths take)
//! and the create's own path parameters as they were.

use std::collections::BTreeSet;

use komander_domain::api::LEASE_HEADER;
use utoipa::openapi::{
    Object, OpenApi, RefOr, Schema,
    link::LinkBuilder,
    path::{Operation, ParameterIn, PathItem},
};

/// The fields a created object is looked up by, in the order a path parameter prefers them
/// after the field named like the parameter itself.
const KEY_FIELDS: [&str; 3] = ["name", "handle", "id"];

/// Header parameters a created object answers, and the field that holds each: the lease
/// token of an operation started by a remote executor.
const HEADER_FIELDS: [(&str, &str); 1] = [(LEASE_HEADER, "lease_token")];

/// An operation a link may point to.
struct Target {
    path: String,
    operation_id: String,
    /// Its path parameters.
    parameters: BTreeSet<String>,
    /// Its header parameters that a created object may answer (see [`HEADER_FIELDS`]).
    headers: Vec<(&'static str, &'static str)>,
}

/// Adds to every create operation's `201` response (and every started operation's `202`) a
/// link to each operation that takes what it created.
pub(crate) fn add(doc: &mut OpenApi) {
    let targets: Vec<Target> = doc
        .paths
        .paths
        .iter()
        .flat_map(|(path, item)| {
            operations(item).into_iter().filter_map(move |op| {
                Some(Target {
                    path: path.clone(),
                    operation_id: op.operation_id.clone()?,
                    parameters: parameters(path),
                    headers: header_fields(op),
                })
            })
        })
        .collect();
    let creates: Vec<(String, &str, String)> = doc
        .paths
        .paths
        .iter()
        .filter_map(|(path, item)| {
            let responses = &item.post.as_ref()?.responses.responses;
            if responses.contains_key("201") {
                return Some((path.clone(), "201", path.clone()));
            }
            let started = response_schema(doc, path, "202")?;
            let (parent, _) = path.rsplit_once('/')?;
            let collection = format!("{parent}/{}s", started.to_lowercase());
            Some((path.clone(), "202", collection))
        })
        .collect();
    for (create, status, collection) in creates {
        let Some(created) = response_schema(doc, &create, status).map(str::to_owned) else {
            continue;
        };
        let own = parameters(&create);
        let prefix = format!("{collection}/{{");
        let links: Vec<(String, LinkBuilder)> = targets
            .iter()
            .filter(|target| target.path.starts_with(&prefix))
            .filter_map(|target| {
                let param = target.path[prefix.len()..].split('}').next()?;
                let pointer = key_pointer(doc, &created, param)?;
                // Only what this create and its own path give: deeper parameters need another
                // create first.
                if !target
                    .parameters
                    .iter()
                    .all(|p| p == param || own.contains(p))
                {
                    return None;
                }
                // utoipa writes `operation_id`, not the `operationId` OpenAPI names: the field
                // goes in as an extension, which serializes as it is spelt.
                let operation_id = [("operationId", target.operation_id.clone())]
                    .into_iter()
                    .collect();
                let link = LinkBuilder::new().extensions(Some(operation_id));
                let link = target.parameters.iter().fold(link, |link, p| {
                    let value = if p == param {
                        format!("$response.body#{pointer}")
                    } else {
                        format!("$request.path.{p}")
                    };
                    link.parameter(p.clone(), value)
                });
                let link = target
                    .headers
                    .iter()
                    .filter(|(_, field)| has_field(doc, &created, field))
                    .fold(link, |link, (header, field)| {
                        link.parameter(
                            format!("header.{header}"),
                            format!("$response.body#/{field}"),
                        )
                    });
                Some((target.operation_id.clone(), link))
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
        if let Some(RefOr::T(response)) = post.responses.responses.get_mut(status) {
            for (name, link) in links {
                response.links.insert(name, RefOr::T(link.build()));
            }
        }
    }
}

/// The header parameters of `operation` that [`HEADER_FIELDS`] knows a field for.
fn header_fields(operation: &Operation) -> Vec<(&'static str, &'static str)> {
    let headers: Vec<&str> = operation
        .parameters
        .iter()
        .flatten()
        .filter(|p| matches!(p.parameter_in, ParameterIn::Header))
        .map(|p| p.name.as_str())
        .collect();
    HEADER_FIELDS
        .into_iter()
        .filter(|(header, _)| headers.iter().any(|h| h.eq_ignore_ascii_case(header)))
        .collect()
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

/// The name of the schema `POST path` answers with `status`, when it is a named one.
fn response_schema<'d>(doc: &'d OpenApi, path: &str, status: &str) -> Option<&'d str> {
    let post = doc.paths.paths.get(path)?.post.as_ref()?;
    let RefOr::T(response) = post.responses.responses.get(status)? else {
        return None;
    };
    let schema = response.content.get("application/json")?.schema.as_ref()?;
    let RefOr::Ref(reference) = schema else {
        return None;
    };
    reference.ref_location.rsplit('/').next()
}

/// The properties of the component schema `name`, when it is an object.
fn properties<'d>(doc: &'d OpenApi, name: &str) -> Option<&'d Object> {
    match doc.components.as_ref()?.schemas.get(name)? {
        RefOr::T(Schema::Object(object)) => Some(object),
        _ => None,
    }
}

/// Whether the object schema `name` has the property `field`.
fn has_field(doc: &OpenApi, name: &str, field: &str) -> bool {
    properties(doc, name).is_some_and(|object| object.properties.contains_key(field))
}

/// The JSON pointer, in an object of schema `name`, to the value the path parameter `param`
/// takes: the field named like it, else `name`, `handle` or `id`; a field named like it that
/// holds an object of its own (a started operation's `operation`) is looked into the same way.
fn key_pointer(doc: &OpenApi, name: &str, param: &str) -> Option<String> {
    let object = properties(doc, name)?;
    if let Some(property) = object.properties.get(param) {
        if let RefOr::Ref(inner) = property
            && let Some(inner) = inner.ref_location.rsplit('/').next()
        {
            return key_pointer(doc, inner, param).map(|rest| format!("/{param}{rest}"));
        }
        return Some(format!("/{param}"));
    }
    KEY_FIELDS
        .into_iter()
        .find(|field| object.properties.contains_key(*field))
        .map(|field| format!("/{field}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The link of `create`'s 201 to `operation`, as JSON.
    fn link(doc: &OpenApi, create: &str, operation: &str) -> Option<serde_json::Value> {
        link_of(doc, create, "201", operation)
    }

    /// The link of `create`'s `status` answer to `operation`, as JSON.
    fn link_of(
        doc: &OpenApi,
        create: &str,
        status: &str,
        operation: &str,
    ) -> Option<serde_json::Value> {
        let post = doc.paths.paths.get(create)?.post.as_ref()?;
        let RefOr::T(response) = post.responses.responses.get(status)? else {
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
        let deployment =
            "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}";
        let operation = link_of(&doc, &format!("{deployment}/apply"), "202", "get_operation")
            .expect("an apply links to the operation it started");
        assert_eq!(operation["parameters"]["operation"], "$response.body#/id");
        assert_eq!(
            operation["parameters"]["deployment"],
            "$request.path.deployment"
        );
        let started = link(&doc, &format!("{deployment}/operations"), "renew_lease")
            .expect("a started operation links to its lease");
        assert_eq!(
            started["parameters"]["operation"],
            "$response.body#/operation/id"
        );
        assert_eq!(
            started["parameters"]["header.x-komander-lease"],
            "$response.body#/lease_token"
        );
        assert!(
            link(&doc, "/api/v1/projects", "get_environment").is_none(),
            "an operation that needs another create first is not linked"
        );
    }
}
