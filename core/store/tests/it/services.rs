//! Services and their variables.

use komander_store::StoredValue;

use crate::{
    backends::{TestDb, on_both},
    fixtures::{
        create_deployment, create_environment, create_project, create_service, create_user, page,
        put_variable,
    },
};

on_both!(putting_a_variable_again_replaces_it);

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
