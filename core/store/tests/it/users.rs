//! Users and their tokens.

use komander_store::StoreError;

use crate::{
    backends::{TestDb, on_both},
    fixtures::{create_user, user},
};

on_both!(a_taken_handle_conflicts_on_the_handle);

async fn a_taken_handle_conflicts_on_the_handle(db: &TestDb) {
    let store = db.store.as_ref();
    create_user(store, "ann").await;
    match store.create_user(&user("ann"), None, None).await {
        Err(StoreError::Conflict { field, .. }) => assert_eq!(field.as_deref(), Some("handle")),
        other => panic!("a taken handle must conflict, got {other:?}"),
    }
}
