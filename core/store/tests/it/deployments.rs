//! Deployments: who sees them, sharing, which clears secret values, and the one read of a
//! deployment with its services and their variables.

use komander_domain::{DeploymentId, UserId, Visibility};
use komander_store::{DeploymentRecord, ServiceRecord, Store, StoreError, StoredValue, UserRecord};

use crate::{
    backends::{TestDb, on_both},
    fixtures::{
        add_dev, audit, create_deployment, create_environment, create_project, create_service,
        create_user, page, put_variable,
    },
};

on_both!(
    private_deployments_are_seen_by_their_owner_only,
    shared_deployments_are_seen_by_every_member,
    sharing_clears_secret_values_only,
    sharing_twice_conflicts,
    the_spec_groups_each_services_variables_in_name_order,
    a_deployment_without_services_has_a_spec_without_services,
    an_unknown_deployment_has_no_spec,
);

/// Ann's project `a` with Bob as a Dev, an environment, Ann's private `anns` and Bob's
/// private `bobs` with a service `web` holding a sealed secret `KEY` and a plain `MODE`.
struct Scene {
    ann: UserRecord,
    anns: DeploymentRecord,
    bobs: DeploymentRecord,
    web: ServiceRecord,
}

async fn scene(store: &dyn Store) -> Scene {
    let ann = create_user(store, "ann").await;
    let bob = create_user(store, "bob").await;
    let project = create_project(store, "a", &ann).await;
    add_dev(store, project, &bob, &ann).await;
    let env = create_environment(store, project, "dev", &ann).await;
    let bobs = create_deployment(store, &env, &bob, "bobs").await;
    let anns = create_deployment(store, &env, &ann, "anns").await;
    let web = create_service(store, &bobs, "web", &bob).await;
    put_variable(
        store,
        &web,
        "KEY",
        true,
        StoredValue::Sealed(vec![1, 2, 3]),
        &bob,
    )
    .await;
    put_variable(
        store,
        &web,
        "MODE",
        false,
        StoredValue::Plain("x".into()),
        &bob,
    )
    .await;
    Scene {
        ann,
        anns,
        bobs,
        web,
    }
}

/// The deployments of `bobs`'s environment that `user` sees.
async fn seen_by(store: &dyn Store, scene: &Scene, user: UserId) -> Vec<DeploymentRecord> {
    store
        .list_deployments(
            scene.bobs.environment_id,
            Visibility { user },
            &page(10, None),
        )
        .await
        .unwrap()
}

async fn share_bobs(store: &dyn Store, scene: &Scene) -> komander_store::Result<u64> {
    store
        .share_deployment(
            scene.bobs.id,
            3,
            &audit(&scene.ann, Some(scene.bobs.project_id), "deployment.share"),
        )
        .await
}

async fn private_deployments_are_seen_by_their_owner_only(db: &TestDb) {
    let store = db.store.as_ref();
    let scene = scene(store).await;
    let seen = seen_by(store, &scene, scene.ann.id).await;
    assert_eq!(seen.len(), 1, "ann sees her own private deployment only");
    assert_eq!(seen[0].owner_handle.as_ref().unwrap().as_str(), "ann");
}

async fn shared_deployments_are_seen_by_every_member(db: &TestDb) {
    let store = db.store.as_ref();
    let scene = scene(store).await;
    share_bobs(store, &scene).await.unwrap();
    assert_eq!(seen_by(store, &scene, scene.ann.id).await.len(), 2);
}

async fn sharing_clears_secret_values_only(db: &TestDb) {
    let store = db.store.as_ref();
    let scene = scene(store).await;
    assert_eq!(share_bobs(store, &scene).await.unwrap(), 1);
    let vars = store
        .list_variables(scene.web.id, &page(10, None))
        .await
        .unwrap();
    assert_eq!(vars[0].value, StoredValue::Empty);
    assert_eq!(vars[1].value, StoredValue::Plain("x".into()));
}

async fn sharing_twice_conflicts(db: &TestDb) {
    let store = db.store.as_ref();
    let scene = scene(store).await;
    share_bobs(store, &scene).await.unwrap();
    assert!(matches!(
        share_bobs(store, &scene).await,
        Err(StoreError::Conflict { .. })
    ));
}

async fn the_spec_groups_each_services_variables_in_name_order(db: &TestDb) {
    let store = db.store.as_ref();
    let scene = scene(store).await;
    let ann = &scene.ann;
    let database = create_service(store, &scene.bobs, "db", ann).await;
    for name in ["USER", "A"] {
        put_variable(
            store,
            &database,
            name,
            false,
            StoredValue::Plain("v".into()),
            ann,
        )
        .await;
    }
    // Another deployment's service and variable stay out.
    let other = create_service(store, &scene.anns, "queue", ann).await;
    put_variable(
        store,
        &other,
        "B",
        false,
        StoredValue::Plain("v".into()),
        ann,
    )
    .await;

    let spec = store
        .deployment_with_services(scene.bobs.id)
        .await
        .unwrap()
        .expect("bobs exists");
    assert_eq!(spec.deployment.id, scene.bobs.id);
    assert_eq!(spec.deployment.owner_handle.unwrap().as_str(), "bob");
    let layout: Vec<(String, Vec<String>)> = spec
        .services
        .iter()
        .map(|s| {
            let names = s.variables.iter().map(|v| v.name.to_string()).collect();
            (s.service.name.to_string(), names)
        })
        .collect();
    assert_eq!(
        layout,
        [
            ("db".to_owned(), vec!["A".to_owned(), "USER".to_owned()]),
            ("web".to_owned(), vec!["KEY".to_owned(), "MODE".to_owned()]),
        ]
    );
    for service in &spec.services {
        assert!(
            service
                .variables
                .iter()
                .all(|v| v.service_id == service.service.id)
        );
    }
    assert_eq!(spec.services[1].service, scene.web);
    assert_eq!(
        spec.services[1].variables[0].value,
        StoredValue::Sealed(vec![1, 2, 3])
    );
}

async fn a_deployment_without_services_has_a_spec_without_services(db: &TestDb) {
    let store = db.store.as_ref();
    let scene = scene(store).await;
    let spec = store
        .deployment_with_services(scene.anns.id)
        .await
        .unwrap()
        .expect("anns exists");
    assert_eq!(spec.deployment.name, scene.anns.name);
    assert!(spec.services.is_empty());
}

async fn an_unknown_deployment_has_no_spec(db: &TestDb) {
    let store = db.store.as_ref();
    assert_eq!(
        store
            .deployment_with_services(DeploymentId::new())
            .await
            .unwrap(),
        None
    );
}
