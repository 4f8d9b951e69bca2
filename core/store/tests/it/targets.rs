//! Targets: one default at most, grants that environments depend on, sealed TLS columns.

use komander_domain::TargetId;
use komander_store::{EnvironmentRecord, SealedTls, StoreError, StoredEndpoint, TargetRecord};

use crate::{
    backends::{TestDb, on_both},
    fixtures::{audit, create_project, create_user, environment, page},
};

/// A unix-socket target `name`, not the default.
fn target(name: &str) -> TargetRecord {
    TargetRecord {
        id: TargetId::new(),
        name: name.parse().expect("a valid target name"),
        endpoint: StoredEndpoint::Unix("/var/run/docker.sock".into()),
        bind_root: Some("/srv/komander".into()),
        publish_addresses: vec!["127.0.0.1".into(), "10.0.0.5".into()],
        max_memory_bytes: Some(1 << 30),
        max_nano_cpus: Some(2_000_000_000),
        is_default: false,
        created_at: 1,
        updated_at: 1,
    }
}

/// The conflict's message, or a panic naming what came instead.
fn conflict(result: komander_store::Result<()>) -> String {
    match result {
        Err(StoreError::Conflict { message, .. }) => message,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

on_both!(
    a_target_round_trips_with_its_sealed_tls_columns,
    one_target_at_most_is_the_default,
    an_environment_names_only_a_target_granted_to_its_project,
    a_target_in_use_is_neither_deleted_nor_revoked,
);

async fn a_target_round_trips_with_its_sealed_tls_columns(db: &TestDb) {
    let store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    let tls = TargetRecord {
        endpoint: StoredEndpoint::Tcp {
            address: "tcp://10.0.0.2:2376".into(),
            tls: SealedTls {
                ca: vec![1],
                cert: vec![2],
                key: vec![3],
            },
        },
        ..target("edge")
    };
    store
        .create_target(&tls, &audit(&ann, None, "target.create"))
        .await
        .unwrap();
    let unix = target("local");
    store
        .create_target(&unix, &audit(&ann, None, "target.create"))
        .await
        .unwrap();
    assert_eq!(store.target(&tls.name).await.unwrap(), Some(tls.clone()));
    let listed = store.list_targets(&page(10, None)).await.unwrap();
    assert_eq!(listed, vec![tls.clone(), unix.clone()]);
    let after = store.list_targets(&page(10, Some("edge"))).await.unwrap();
    assert_eq!(after, vec![unix.clone()]);
    // A taken name is a conflict on the name.
    let dup = TargetRecord {
        id: TargetId::new(),
        ..target("edge")
    };
    match store
        .create_target(&dup, &audit(&ann, None, "target.create"))
        .await
    {
        Err(StoreError::Conflict { field, .. }) => assert_eq!(field.as_deref(), Some("name")),
        other => panic!("expected a name conflict, got {other:?}"),
    }
    // An update that switches to a socket drops the sealed material.
    let switched = TargetRecord {
        endpoint: StoredEndpoint::Unix("/run/other.sock".into()),
        updated_at: 2,
        ..tls
    };
    store
        .update_target(&switched, &audit(&ann, None, "target.update"))
        .await
        .unwrap();
    assert_eq!(store.target(&switched.name).await.unwrap(), Some(switched));
}

async fn one_target_at_most_is_the_default(db: &TestDb) {
    let store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    assert_eq!(store.default_target().await.unwrap(), None);
    let first = TargetRecord {
        is_default: true,
        ..target("first")
    };
    let second = TargetRecord {
        is_default: true,
        ..target("second")
    };
    for t in [&first, &second] {
        store
            .create_target(t, &audit(&ann, None, "target.create"))
            .await
            .unwrap();
    }
    assert_eq!(store.default_target().await.unwrap(), Some(second.clone()));
    assert!(!store.target(&first.name).await.unwrap().unwrap().is_default);
    // Marking the first again moves the mark back.
    store
        .update_target(&first, &audit(&ann, None, "target.update"))
        .await
        .unwrap();
    assert_eq!(store.default_target().await.unwrap(), Some(first));
    assert!(
        !store
            .target(&second.name)
            .await
            .unwrap()
            .unwrap()
            .is_default
    );
}

/// Creates `target` and grants it to `project`.
async fn granted(
    store: &dyn komander_store::Store,
    target: &TargetRecord,
    project: komander_domain::ProjectId,
    ann: &komander_store::UserRecord,
) {
    store
        .create_target(target, &audit(ann, None, "target.create"))
        .await
        .unwrap();
    store
        .grant_target(target.id, project, 3, &audit(ann, None, "target.grant"))
        .await
        .unwrap();
    // Granting again changes nothing.
    store
        .grant_target(target.id, project, 4, &audit(ann, None, "target.grant"))
        .await
        .unwrap();
}

async fn an_environment_names_only_a_target_granted_to_its_project(db: &TestDb) {
    let store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    let shop = create_project(store, "shop", &ann).await;
    let other = create_project(store, "other", &ann).await;
    let edge = target("edge");
    granted(store, &edge, other, &ann).await;
    let env = EnvironmentRecord {
        target_id: Some(edge.id),
        ..environment(shop, "prod")
    };
    let refused = store
        .create_environment(&env, &audit(&ann, Some(shop), "environment.create"))
        .await;
    match refused {
        Err(StoreError::Conflict { field, .. }) => assert_eq!(field.as_deref(), Some("target")),
        other => panic!("expected a conflict on the target, got {other:?}"),
    }
    assert_eq!(store.environment(shop, &env.name).await.unwrap(), None);
    store
        .grant_target(edge.id, shop, 3, &audit(&ann, None, "target.grant"))
        .await
        .unwrap();
    store
        .create_environment(&env, &audit(&ann, Some(shop), "environment.create"))
        .await
        .unwrap();
    let stored = store.environment(shop, &env.name).await.unwrap().unwrap();
    assert_eq!(stored.target_id, Some(edge.id));
    assert_eq!(stored.target_name, Some(edge.name.clone()));
    let shop_targets = store.project_targets(shop, &page(10, None)).await.unwrap();
    assert_eq!(shop_targets, vec![edge.clone()]);
    let grants = store.target_grants(edge.id).await.unwrap();
    let names: Vec<&str> = grants.iter().map(|p| p.as_str()).collect();
    assert_eq!(names, ["other", "shop"]);
}

async fn a_target_in_use_is_neither_deleted_nor_revoked(db: &TestDb) {
    let store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    let shop = create_project(store, "shop", &ann).await;
    let other = create_project(store, "other", &ann).await;
    let edge = target("edge");
    granted(store, &edge, shop, &ann).await;
    store
        .grant_target(edge.id, other, 3, &audit(&ann, None, "target.grant"))
        .await
        .unwrap();
    let env = EnvironmentRecord {
        target_id: Some(edge.id),
        ..environment(shop, "prod")
    };
    store
        .create_environment(&env, &audit(&ann, Some(shop), "environment.create"))
        .await
        .unwrap();
    let message = conflict(
        store
            .delete_target(edge.id, &audit(&ann, None, "target.delete"))
            .await,
    );
    assert!(message.contains("shop/prod"), "{message}");
    let message = conflict(
        store
            .revoke_target(edge.id, shop, &audit(&ann, None, "target.revoke"))
            .await,
    );
    assert!(message.contains("shop/prod"), "{message}");
    assert!(store.target(&edge.name).await.unwrap().is_some());
    assert_eq!(store.target_grants(edge.id).await.unwrap().len(), 2);
    // Another project's grant goes; a grant that is not there is not found.
    store
        .revoke_target(edge.id, other, &audit(&ann, None, "target.revoke"))
        .await
        .unwrap();
    assert!(matches!(
        store
            .revoke_target(edge.id, other, &audit(&ann, None, "target.revoke"))
            .await,
        Err(StoreError::NotFound("grant"))
    ));
    // Once the environment goes back to the default target, both are allowed.
    let back = EnvironmentRecord {
        target_id: None,
        updated_at: 5,
        ..env
    };
    store
        .update_environment(
            &back,
            back.executor,
            &audit(&ann, Some(shop), "environment.update"),
        )
        .await
        .unwrap();
    store
        .revoke_target(edge.id, shop, &audit(&ann, None, "target.revoke"))
        .await
        .unwrap();
    store
        .delete_target(edge.id, &audit(&ann, None, "target.delete"))
        .await
        .unwrap();
    assert_eq!(store.target(&edge.name).await.unwrap(), None);
}
