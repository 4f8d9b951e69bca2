//! Environments: unique names, switching the executor to `local` (which clears secret values),
//! and deleting one that holds deployments.

use komander_domain::{EnvironmentId, Executor, ProjectId};
use komander_store::{EnvironmentRecord, Store, StoreError, StoredValue, UserRecord};

use crate::{
    backends::{TestDb, on_both},
    fixtures::{
        audit, create_deployment, create_environment, create_project, create_service, create_user,
        environment, page, put_variable,
    },
};

on_both!(
    a_taken_name_conflicts_on_the_name,
    switching_to_local_clears_the_secret_values_of_its_deployments_only,
    a_switch_made_meanwhile_conflicts,
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

/// Creates environment `name` whose executor is `server`.
async fn server_environment(
    store: &dyn Store,
    project: ProjectId,
    name: &str,
    actor: &UserRecord,
) -> EnvironmentRecord {
    let env = EnvironmentRecord {
        executor: Executor::Server,
        ..environment(project, name)
    };
    let creation = audit(actor, Some(project), "environment.create");
    store.create_environment(&env, &creation).await.unwrap();
    env
}

async fn switching_to_local_clears_the_secret_values_of_its_deployments_only(db: &TestDb) {
    let store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    let project = create_project(store, "a", &ann).await;
    let mut envs = Vec::new();
    for name in ["dev", "prod"] {
        let env = server_environment(store, project, name, &ann).await;
        let deployment = create_deployment(store, &env, &ann, "app").await;
        let web = create_service(store, &deployment, "web", &ann).await;
        put_variable(store, &web, "KEY", true, StoredValue::Sealed(vec![1]), &ann).await;
        put_variable(
            store,
            &web,
            "MODE",
            false,
            StoredValue::Plain("x".into()),
            &ann,
        )
        .await;
        envs.push((env, web));
    }
    let update = || audit(&ann, Some(project), "environment.update");
    let (mut dev, dev_web) = envs.remove(0);
    assert_eq!(dev.executor, Executor::Server);
    // A change that keeps the executor clears nothing.
    dev.display_name = "Development".into();
    let kept = store
        .update_environment(&dev, Executor::Server, &update())
        .await;
    assert_eq!(kept.unwrap(), 0);
    dev.executor = Executor::Local;
    let switched = store
        .update_environment(&dev, Executor::Server, &update())
        .await;
    assert_eq!(switched.unwrap(), 1);
    let values = |service| async move {
        let vars = store
            .list_variables(service, &page(10, None))
            .await
            .unwrap();
        vars.into_iter().map(|v| v.value).collect::<Vec<_>>()
    };
    assert_eq!(
        values(dev_web.id).await,
        [StoredValue::Empty, StoredValue::Plain("x".into())]
    );
    let (_, prod_web) = &envs[0];
    assert_eq!(
        values(prod_web.id).await,
        [StoredValue::Sealed(vec![1]), StoredValue::Plain("x".into())],
        "another environment's values stay"
    );
    // Back to the server and to local again: nothing was entered since, nothing to clear.
    dev.executor = Executor::Server;
    let back = store
        .update_environment(&dev, Executor::Local, &update())
        .await;
    assert_eq!(back.unwrap(), 0);
}

async fn a_switch_made_meanwhile_conflicts(db: &TestDb) {
    let store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    let project = create_project(store, "a", &ann).await;
    let env = server_environment(store, project, "dev", &ann).await;
    let update = audit(&ann, Some(project), "environment.update");
    // The caller read `local`, but the environment is (still) `server`.
    let stale = store.update_environment(&env, Executor::Local, &update);
    assert!(matches!(stale.await, Err(StoreError::Conflict { .. })));
    let stored = store
        .environment(project, &env.name)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.executor, Executor::Server);
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
