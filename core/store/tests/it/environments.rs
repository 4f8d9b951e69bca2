//! Environments: unique names, and deleting one that holds deployments.

use komander_domain::EnvironmentId;
use komander_store::{StoreError, StoredValue};

use crate::{
    backends::{TestDb, on_both},
    fixtures::{
        audit, create_deployment, create_environment, create_project, create_service, create_user,
        put_variable,
    },
};

on_both!(
    a_taken_name_conflicts_on_the_name,
    deleting_one_that_holds_deployments_needs_force,
    deleting_with_force_deletes_its_deployments_services_and_variables,
);

async fn a_taken_name_conflicts_on_the_name(db: &TestDb) {
    let store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    let project = create_project(store, "a", &ann).await;
    let env = create_environment(store, project, "dev", &ann).await;
    let dup = komander_store::EnvironmentRecord {
        id: EnvironmentId::new(),
        ..env
    };
    match store
        .create_environment(&dup, &audit(&ann, Some(project), "environment.create"))
        .await
    {
        Err(StoreError::Conflict { field, .. }) => assert_eq!(field.as_deref(), Some("name")),
        other => panic!("expected a name conflict, got {other:?}"),
    }
}

async fn deleting_one_that_holds_deployments_needs_force(db: &TestDb) {
    let store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    let project = create_project(store, "a", &ann).await;
    let env = create_environment(store, project, "dev", &ann).await;
    create_deployment(store, &env, &ann, "one").await;
    create_deployment(store, &env, &ann, "two").await;
    let deletion = audit(&ann, Some(project), "environment.delete");
    assert!(matches!(
        store.delete_environment(env.id, false, &deletion).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(
        store
            .delete_environment(env.id, true, &deletion)
            .await
            .unwrap(),
        2
    );
}

async fn deleting_with_force_deletes_its_deployments_services_and_variables(db: &TestDb) {
    let store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    let project = create_project(store, "a", &ann).await;
    let env = create_environment(store, project, "dev", &ann).await;
    let deployment = create_deployment(store, &env, &ann, "web").await;
    let service = create_service(store, &deployment, "web", &ann).await;
    put_variable(
        store,
        &service,
        "MODE",
        false,
        StoredValue::Plain("x".into()),
        &ann,
    )
    .await;
    store
        .delete_environment(
            env.id,
            true,
            &audit(&ann, Some(project), "environment.delete"),
        )
        .await
        .unwrap();
    assert!(
        store
            .variable(service.id, &"MODE".parse().unwrap())
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        store
            .delete_deployment(
                deployment.id,
                &audit(&ann, Some(project), "deployment.delete")
            )
            .await,
        Err(StoreError::NotFound(_))
    ));
}
