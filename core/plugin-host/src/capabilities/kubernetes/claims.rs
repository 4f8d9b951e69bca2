//! PersistentVolumeClaims, checked before a manifest reaches the API server: what a
//! deployment's claims are named, and that none picks its volume.
//!
//! A claim is named by whatever asks for it: a PersistentVolumeClaim by its `metadata.name`, a
//! StatefulSet's claim template as `<template>-<statefulset>-<ordinal>`, a pod's ephemeral
//! volume as `<pod>-<volume>`. A StatefulSet's pod mounts the claim of that name if one
//! exists, whoever made it, so a claim's name decides whose data a pod sees. Every claim a
//! deployment makes therefore starts with its claim prefix, `<deployment id>-`
//! ([`Owner::claim_prefix`]): a claim's own name, a claim template's name (the start of every
//! claim it makes) and the name of a workload with ephemeral volumes (the start of its pods'
//! names, and so of their claims'). Deployment ids are UUIDs, all of one length, so no name
//! starts with two deployments' prefixes: a deployment can neither make a claim another will
//! mount nor mount one another made. A claim a pod names (`persistentVolumeClaim.claimName`) is
//! checked by its label instead, before the apply ([`super::manifest::Reference`]).
//!
//! A claim may not pick its volume either: `dataSource` and `dataSourceRef` copy another claim
//! or a snapshot into it, `volumeName` binds a volume that exists already.

use serde_json::Value;

use super::{
    Owner,
    manifest::{add_labels, denied, invalid},
};
use crate::bindings::types::Error as WitError;

/// The fields of a claim's spec that pick the volume it gets.
const VOLUME_PICKS: &[&str] = &["dataSource", "dataSourceRef", "volumeName"];

/// Checks a PersistentVolumeClaim: its name carries the claim prefix, and it picks no volume.
pub(super) fn check_claim(owner: &Owner, claim: &Value) -> Result<(), WitError> {
    let name = claim
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    check_prefix(owner, "metadata.name", name, "the claim")?;
    check_spec("spec", claim.get("spec"))
}

/// Checks a StatefulSet's `spec.volumeClaimTemplates` and puts Komander's labels on each
/// template: the claims it makes, `<template>-<statefulset>-<ordinal>`, start with the
/// template's name, which must carry the claim prefix; and they pick no volume.
pub(super) fn check_claim_templates(owner: &Owner, set: &mut Value) -> Result<(), WitError> {
    let count = set
        .pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    for i in 0..count {
        let at = format!("spec.volumeClaimTemplates[{i}]");
        let path = format!("/spec/volumeClaimTemplates/{i}");
        let template = set.pointer(&path).unwrap_or(&Value::Null);
        let name = template
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("{at}.metadata.name is needed")))?;
        check_prefix(
            owner,
            &format!("{at}.metadata.name"),
            name,
            "its claims, <template>-<statefulset>-<ordinal>,",
        )?;
        check_spec(&format!("{at}.spec"), template.get("spec"))?;
        add_labels(set, &path, &owner.labels)?;
    }
    Ok(())
}

/// Checks the ephemeral volumes of the pod spec `pod` (at `at`) of the `kind` named `name`,
/// and puts Komander's labels on their claim templates. Each makes a claim named
/// `<pod>-<volume>`, and the pods' names start with `name`, which must carry the claim
/// prefix; the claims pick no volume.
pub(super) fn check_ephemeral_volumes(
    owner: &Owner,
    at: &str,
    pod: &mut Value,
    kind: &str,
    name: &str,
) -> Result<(), WitError> {
    let count = pod
        .get("volumes")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    for i in 0..count {
        let path = format!("/volumes/{i}/ephemeral/volumeClaimTemplate");
        let Some(template) = pod.pointer(&path).filter(|t| !t.is_null()) else {
            continue;
        };
        let here = format!("{at}.volumes[{i}].ephemeral.volumeClaimTemplate");
        check_spec(&format!("{here}.spec"), template.get("spec"))?;
        check_prefix(
            owner,
            &format!("{at}.volumes[{i}].ephemeral: the {kind}'s metadata.name"),
            name,
            "the claim, <pod>-<volume> where the pod is named after it,",
        )?;
        add_labels(pod, &path, &owner.labels)?;
    }
    Ok(())
}

/// Refuses a claim spec (at `at`) that picks its volume.
fn check_spec(at: &str, spec: Option<&Value>) -> Result<(), WitError> {
    let Some(spec) = spec else {
        return Ok(());
    };
    match VOLUME_PICKS
        .iter()
        .find(|field| spec.get(**field).is_some_and(|v| !v.is_null()))
    {
        Some(field) => Err(denied(format!(
            "{at}.{field}: a claim may not pick its volume or copy another's data"
        ))),
        None => Ok(()),
    }
}

/// Refuses `name` (the field `at`) unless it carries the deployment's claim prefix and more;
/// `what` says which claim's name starts with it.
fn check_prefix(owner: &Owner, at: &str, name: &str, what: &str) -> Result<(), WitError> {
    let prefix = owner.claim_prefix();
    if name.len() > prefix.len() && name.starts_with(&prefix) {
        Ok(())
    } else {
        Err(denied(format!(
            "{at} {name:?}: {what} would be named outside this deployment's claims, which \
             start with {prefix:?}"
        )))
    }
}
