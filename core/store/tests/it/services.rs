//! Services and their variables.

use std::sync::atomic::{AtomicUsize, Ordering};

use komander_store::{ServiceRecord, StoreError, StoredValue};
use serde_json::json;

use crate::{
    backends::{TestDb, on_both},
    fixtures::{
        accept_all, audit, create_deployment, create_environment, create_project, create_service,
        create_user, page, put_variable, service, variable,
    },
};

on_both!(
    putting_a_variable_again_replaces_it,
    settings_round_trip_and_old_rows_read_back_empty,
    a_refused_check_writes_nothing,
    services_created_together_are_all_written_or_none,
);

async fn settings_round_trip_and_old_rows_read_back_empty(db: &TestDb) {
    let store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    let project = create_project(store, "a", &ann).await;
    let env = create_environment(store, project, "dev", &ann).await;
    let deployment = create_deployment(store, &env, &ann, "web").await;
    // A row written as before the settings column existed reads back with its default.
    let old = service(&deployment, "old");
    db.raw(&[&format!(
        "INSERT INTO services (id, deployment_id, name, image, ports, volumes, created_at, \
         updated_at) VALUES ('{}', '{}', 'old', 'nginx', '[]', '[]', 1, 1)",
        old.id, deployment.id
    )])
    .await;
    let settings = json!({
        "command": ["serve", "--port", "80"],
        "health_check": {"command": ["true"], "interval_seconds": 5},
        "depends_on": [{"service": "old", "condition": "healthy"}],
        "cpus": 0.5,
        "replicas": 2,
    });
    let mut web = ServiceRecord {
        settings: settings.clone(),
        ..service(&deployment, "web")
    };
    store
        .create_service(&web, &accept_all, &audit(&ann, None, "service.create"))
        .await
        .unwrap();
    let read = store.service(deployment.id, &web.name).await.unwrap();
    assert_eq!(read.as_ref().map(|s| &s.settings), Some(&settings));
    web.settings = json!({"pull": "always"});
    web.updated_at = 2;
    store
        .update_service(&web, &accept_all, &audit(&ann, None, "service.update"))
        .await
        .unwrap();
    let listed = store
        .list_services(deployment.id, &page(10, None))
        .await
        .unwrap();
    let settings: Vec<_> = listed.iter().map(|s| s.settings.clone()).collect();
    assert_eq!(settings, [json!({}), json!({"pull": "always"})]);
}

async fn a_refused_check_writes_nothing(db: &TestDb) {
    let store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    let project = create_project(store, "a", &ann).await;
    let env = create_environment(store, project, "dev", &ann).await;
    let deployment = create_deployment(store, &env, &ann, "web").await;
    let db_service = create_service(store, &deployment, "db", &ann).await;
    let seen = AtomicUsize::new(0);
    let refuse = |services: &[ServiceRecord]| {
        seen.store(services.len(), Ordering::SeqCst);
        Err(StoreError::Invalid {
            field: "depends_on".into(),
            message: "no".into(),
        })
    };
    let web = service(&deployment, "web");
    let created = store
        .create_service(&web, &refuse, &audit(&ann, None, "service.create"))
        .await;
    assert!(
        matches!(created, Err(StoreError::Invalid { .. })),
        "{created:?}"
    );
    assert_eq!(seen.load(Ordering::SeqCst), 2, "the check sees db and web");
    let mut changed = db_service.clone();
    changed.image = "postgres".into();
    let updated = store
        .update_service(&changed, &refuse, &audit(&ann, None, "service.update"))
        .await;
    assert!(matches!(updated, Err(StoreError::Invalid { .. })));
    let deleted = store
        .delete_service(db_service.id, &refuse, &audit(&ann, None, "service.delete"))
        .await;
    assert!(matches!(deleted, Err(StoreError::Invalid { .. })));
    assert_eq!(seen.load(Ordering::SeqCst), 0, "the check sees db gone");
    let listed = store
        .list_services(deployment.id, &page(10, None))
        .await
        .unwrap();
    assert_eq!(listed, [db_service], "nothing changed");
}

async fn putting_a_variable_again_replaces_it(db: &TestDb) {
    let store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    let project = create_project(store, "a", &ann).await;
    let env = create_environment(store, project, "dev", &ann).await;
    let deployment = create_deployment(store, &env, &ann, "web").await;
    let service = create_service(store, &deployment, "web", &ann).await;
    put_variable(
        store,
        &service,
        "KEY",
        true,
        StoredValue::Sealed(vec![1]),
        &ann,
    )
    .await;
    let again = put_variable(
        store,
        &service,
        "KEY",
        true,
        StoredValue::Sealed(vec![2]),
        &ann,
    )
    .await;
    let vars = store
        .list_variables(service.id, &page(10, None))
        .await
        .unwrap();
    assert_eq!(vars, [again], "one variable, with the second value and id");
}

async fn services_created_together_are_all_written_or_none(db: &TestDb) {
    let store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    let project = create_project(store, "a", &ann).await;
    let env = create_environment(store, project, "dev", &ann).await;
    let deployment = create_deployment(store, &env, &ann, "web").await;
    let existing = create_service(store, &deployment, "db", &ann).await;
    let with_variable = |name: &str| {
        let s = service(&deployment, name);
        let v = variable(&s, "GREETING", false, StoredValue::Plain("hi".into()));
        (s, vec![v])
    };
    let audits = [audit(&ann, None, "service.create")];

    // A name already taken: refused naming it, nothing written.
    let clash = [with_variable("web"), with_variable("db")];
    let created = store
        .create_services(deployment.id, &clash, &accept_all, &audits)
        .await;
    match created {
        Err(StoreError::Conflict { message, .. }) => assert!(message.contains("db"), "{message}"),
        other => panic!("{other:?}"),
    }
    // A refused check: nothing written either.
    let refuse = |_: &[ServiceRecord]| {
        Err(StoreError::Invalid {
            field: "depends_on".into(),
            message: "no".into(),
        })
    };
    let fresh = [with_variable("web"), with_variable("cache")];
    let created = store
        .create_services(deployment.id, &fresh, &refuse, &audits)
        .await;
    assert!(
        matches!(created, Err(StoreError::Invalid { .. })),
        "{created:?}"
    );
    let listed = store
        .list_services(deployment.id, &page(10, None))
        .await
        .unwrap();
    assert_eq!(listed, [existing], "nothing was written");

    store
        .create_services(deployment.id, &fresh, &accept_all, &audits)
        .await
        .unwrap();
    let listed = store
        .list_services(deployment.id, &page(10, None))
        .await
        .unwrap();
    let names: Vec<&str> = listed.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["cache", "db", "web"]);
    let variables = store
        .list_variables(fresh[0].0.id, &page(10, None))
        .await
        .unwrap();
    assert_eq!(variables.len(), 1);
}
