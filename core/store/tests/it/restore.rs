//! A rollback's write: a deployment's services and variables brought back to an earlier
//! spec in one transaction, or nothing written when a secret has no value any more.

use komander_domain::Visibility;
use komander_store::{
    DeploymentWithServices, RestoredService, ServiceRecord, Store, StoreError, StoredValue,
    UserRecord,
};
use serde_json::json;

use crate::{
    backends::{TestDb, on_both},
    fixtures::{
        audit, create_deployment, create_environment, create_project, create_service, create_user,
        page, put_variable, service, variable,
    },
};

on_both!(
    a_restore_updates_recreates_and_deletes_services_and_variables,
    a_secret_without_a_value_now_refuses_the_restore_with_nothing_written,
);

/// Ann, her deployment with services `backend` (plain `MODE=two`, secret `TOKEN` sealed, plain
/// `EXTRA`) and `worker`, and what the deployment holds.
async fn scene(store: &dyn Store) -> (UserRecord, DeploymentWithServices) {
    let ann = create_user(store, "ann").await;
    let project = create_project(store, "a", &ann).await;
    let env = create_environment(store, project, "dev", &ann).await;
    let deployment = create_deployment(store, &env, &ann, "app").await;
    let api = create_service(store, &deployment, "backend", &ann).await;
    create_service(store, &deployment, "worker", &ann).await;
    put_variable(
        store,
        &api,
        "MODE",
        false,
        StoredValue::Plain("two".into()),
        &ann,
    )
    .await;
    put_variable(
        store,
        &api,
        "TOKEN",
        true,
        StoredValue::Sealed(vec![1, 2, 3]),
        &ann,
    )
    .await;
    put_variable(
        store,
        &api,
        "EXTRA",
        false,
        StoredValue::Plain("x".into()),
        &ann,
    )
    .await;
    let contents = store
        .deployment_with_services(deployment.id)
        .await
        .unwrap()
        .unwrap();
    (ann, contents)
}

/// `backend` as an earlier spec had it: image `shop/api@sha256:1`, `MODE=one`, `TOKEN` secret.
fn earlier_api(contents: &DeploymentWithServices) -> RestoredService {
    let api = &contents.services[0].service;
    assert_eq!(api.name.as_str(), "backend");
    let restored = ServiceRecord {
        image: "shop/api@sha256:1".into(),
        ports: json!([{"container": 80}]),
        updated_at: 7,
        ..api.clone()
    };
    RestoredService {
        plain: vec![variable(
            &restored,
            "MODE",
            false,
            StoredValue::Plain("one".into()),
        )],
        secrets: vec!["TOKEN".parse().unwrap()],
        service: restored,
    }
}

async fn a_restore_updates_recreates_and_deletes_services_and_variables(db: &TestDb) {
    let store = db.store.as_ref();
    let (ann, contents) = scene(store).await;
    let deployment = contents.deployment.id;
    let sealed_id = contents.services[0]
        .variables
        .iter()
        .find(|v| v.name.as_str() == "TOKEN")
        .unwrap()
        .id;
    // `old` was deleted since the earlier apply: it comes back under its id.
    let old = service(&contents.deployment, "old");
    let restored_old = RestoredService {
        plain: vec![variable(
            &old,
            "LEVEL",
            false,
            StoredValue::Plain("3".into()),
        )],
        secrets: vec![],
        service: old.clone(),
    };
    store
        .restore_services(
            deployment,
            &[earlier_api(&contents), restored_old],
            &audit(
                &ann,
                Some(contents.deployment.project_id),
                "deployment.rollback",
            ),
        )
        .await
        .expect("the restore");
    let after = store
        .deployment_with_services(deployment)
        .await
        .unwrap()
        .unwrap();
    let names: Vec<&str> = after
        .services
        .iter()
        .map(|s| s.service.name.as_str())
        .collect();
    assert_eq!(names, ["backend", "old"], "worker is deleted, old is back");
    let api = &after.services[0];
    assert_eq!(api.service.id, contents.services[0].service.id);
    assert_eq!(api.service.image, "shop/api@sha256:1");
    assert_eq!(api.service.ports, json!([{"container": 80}]));
    let variables: Vec<(&str, bool, &StoredValue)> = api
        .variables
        .iter()
        .map(|v| (v.name.as_str(), v.secret, &v.value))
        .collect();
    assert_eq!(
        variables,
        [
            ("MODE", false, &StoredValue::Plain("one".into())),
            ("TOKEN", true, &StoredValue::Sealed(vec![1, 2, 3])),
        ],
        "EXTRA is deleted, MODE is set back, TOKEN keeps its sealed value"
    );
    assert_eq!(
        api.variables[1].id, sealed_id,
        "the secret keeps the row its ciphertext is sealed for"
    );
    assert_eq!(after.services[1].service.id, old.id);
    assert_eq!(after.services[1].variables[0].name.as_str(), "LEVEL");
    let log = store
        .list_audit(
            contents.deployment.project_id,
            Visibility { user: ann.id },
            &page(10, None),
        )
        .await
        .unwrap();
    assert_eq!(log[0].action, "deployment.rollback");
}

async fn a_secret_without_a_value_now_refuses_the_restore_with_nothing_written(db: &TestDb) {
    let store = db.store.as_ref();
    let (ann, contents) = scene(store).await;
    let deployment = contents.deployment.id;
    let api = &contents.services[0].service;
    // TOKEN lost its value (declared again without one); the worker's KEY never had one.
    put_variable(store, api, "TOKEN", true, StoredValue::Empty, &ann).await;
    let before = store
        .deployment_with_services(deployment)
        .await
        .unwrap()
        .unwrap();
    let worker = RestoredService {
        service: ServiceRecord {
            image: "changed".into(),
            ..before.services[1].service.clone()
        },
        plain: vec![],
        secrets: vec!["KEY".parse().unwrap()],
    };
    let refused = store
        .restore_services(
            deployment,
            &[earlier_api(&contents), worker],
            &audit(&ann, None, "deployment.rollback"),
        )
        .await;
    match refused {
        Err(StoreError::Invalid { field, message }) => {
            assert_eq!(field, "variables");
            assert!(
                message.contains("backend.TOKEN") && message.contains("worker.KEY"),
                "{message}"
            );
        }
        other => panic!("expected a refusal naming the secrets, got {other:?}"),
    }
    let after = store
        .deployment_with_services(deployment)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after, before, "nothing written");
}
