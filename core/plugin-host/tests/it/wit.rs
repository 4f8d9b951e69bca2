//! The WIT packages are the plugin authors' manual: they parse, hold the worlds the host
//! supports, and document every interface, type, case and function.

use std::path::Path;

use wit_parser::{Resolve, TypeDefKind};

fn resolve() -> Resolve {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit");
    let mut resolve = Resolve::default();
    for package in ["host", "docker", "kubernetes", "git-provider", "runtime"] {
        resolve
            .push_dir(root.join(package))
            .unwrap_or_else(|e| panic!("wit/{package}: {e:#}"));
    }
    resolve
}

#[test]
fn packages_and_worlds_are_there_at_their_versions() {
    let resolve = resolve();
    let mut packages: Vec<String> = resolve
        .packages
        .iter()
        .map(|(_, p)| p.name.to_string())
        .collect();
    packages.sort();
    assert_eq!(
        packages,
        [
            "komander:docker@0.1.0",
            "komander:git-provider@0.1.0",
            "komander:host@0.1.0",
            "komander:kubernetes@0.1.0",
            "komander:runtime@0.2.0"
        ]
    );
    let mut worlds: Vec<&str> = resolve
        .worlds
        .iter()
        .map(|(_, w)| w.name.as_str())
        .collect();
    worlds.sort();
    assert_eq!(
        worlds,
        [
            "docker-runtime",
            "git-provider",
            "kubernetes-runtime",
            "remote-runtime"
        ]
    );
}

#[test]
fn every_item_of_the_contract_is_documented() {
    let resolve = resolve();
    let mut missing = Vec::new();
    for (_, interface) in &resolve.interfaces {
        let name = interface.name.clone().unwrap_or_default();
        if interface.docs.contents.is_none() {
            missing.push(format!("interface {name}"));
        }
        for (fname, f) in &interface.functions {
            if f.docs.contents.is_none() {
                missing.push(format!("{name}.{fname}"));
            }
        }
    }
    for (_, ty) in &resolve.types {
        let Some(tname) = &ty.name else { continue };
        // `use iface.{name}` makes an undocumented alias of a documented type.
        let used_from_elsewhere = matches!(ty.kind, TypeDefKind::Type(wit_parser::Type::Id(_)));
        if ty.docs.contents.is_none() && !used_from_elsewhere {
            missing.push(format!("type {tname}"));
        }
        match &ty.kind {
            TypeDefKind::Record(r) => missing.extend(
                r.fields
                    .iter()
                    .filter(|f| f.docs.contents.is_none())
                    .map(|f| format!("{tname}.{}", f.name)),
            ),
            TypeDefKind::Variant(v) => missing.extend(
                v.cases
                    .iter()
                    .filter(|c| c.docs.contents.is_none())
                    .map(|c| format!("{tname}.{}", c.name)),
            ),
            TypeDefKind::Enum(e) => missing.extend(
                e.cases
                    .iter()
                    .filter(|c| c.docs.contents.is_none())
                    .map(|c| format!("{tname}.{}", c.name)),
            ),
            _ => {}
        }
    }
    for (_, world) in &resolve.worlds {
        if world.docs.contents.is_none() {
            missing.push(format!("world {}", world.name));
        }
    }
    assert!(missing.is_empty(), "undocumented: {missing:?}");
}
