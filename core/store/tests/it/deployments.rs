//! Deployments: who sees them, and sharing, which clears secret values.

use komander_domain::{Role, UserId, Visibility};
use komander_store::{DeploymentRecord, ServiceRecord, Store, StoreError, StoredValue, UserRecord};

use crate::{
    backends::{TestDb, on_both},
    fixtures::{
        audit, create_deployment, create_environment, create_project, create_service, create_user,
        page, put_variable,
    },
};

on_both!(
    private_deployments_are_seen_by_their_owner_only,
    shared_deployments_are_seen_by_every_member,
    sharing_clears_secret_values_only,
    sharing_twice_conflicts,
);

/// Ann's project `a` with Bob as a Dev, an environment, Ann's private `anns` and Bob's
/// private `bobs` with a service `web` holding a sealed secret `KEY` and a plain `MODE`.
struct Scene {
    ann: UserRecord,
    bobs: DeploymentRecord,
    web: ServiceRecord,
}

async fn scene(store: &dyn Store) -> Scene {
    let ann = create_user(store, "ann").await;
    let bob = create_user(store, "bob").await;
    let project = create_project(store, "a", &ann).await;
    store
        .add_member(
            project,
            bob.id,
            Role::Dev,
            &audit(&ann, Some(project), "member.add"),
        )
        .await
        .unwrap();
    let env = create_environment(store, project, "dev", &ann).await;
    let bobs = create_deployment(store, &env, &bob, "bobs").await;
    create_deployment(store, &env, &ann, "anns").await;
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
    Scene { ann, bobs, web }
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
