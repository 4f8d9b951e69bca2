//! Users and their tokens.

use komander_domain::{TokenId, UserId, api::UserKind};
use komander_store::{StoreError, TokenRecord, UserRecord};

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

on_both!(the_bootstrap_token_promotes_nobody);

/// Regression: start-up made any user holding the bootstrap handle an instance admin.
async fn the_bootstrap_token_promotes_nobody(db: &TestDb) {
    let store = db.store.as_ref();
    let planted = create_user(store, "bootstrap").await;
    let bootstrap = UserRecord {
        kind: UserKind::Service,
        instance_admin: true,
        ..user("bootstrap")
    };
    let refused = token(bootstrap.id, 1);
    match store.ensure_user_token(&bootstrap, &refused).await {
        Err(StoreError::Conflict { field, message }) => {
            assert_eq!(field.as_deref(), Some("handle"));
            assert!(message.contains("\"bootstrap\""), "{message}");
        }
        other => panic!("promoting a user must conflict, got {other:?}"),
    }
    let found = store.user_by_handle(&bootstrap.handle).await.unwrap();
    assert_eq!(found, Some(planted), "nothing changed");
    assert!(
        store
            .user_by_token(&refused.token_hash)
            .await
            .unwrap()
            .is_none()
    );

    // An instance-admin service user it made itself gets the next token.
    let made = UserRecord {
        handle: "automation".parse().unwrap(),
        ..bootstrap.clone()
    };
    store
        .ensure_user_token(&made, &token(made.id, 2))
        .await
        .unwrap();
    let next = token(UserId::new(), 3);
    let again = UserRecord {
        id: UserId::new(),
        ..made.clone()
    };
    store.ensure_user_token(&again, &next).await.unwrap();
    let holder = store.user_by_token(&next.token_hash).await.unwrap();
    assert_eq!(holder.map(|u| u.id), Some(made.id));
}

/// A token record for `user` whose hash is `n` repeated.
fn token(user: UserId, n: u8) -> TokenRecord {
    TokenRecord {
        id: TokenId::new(),
        user_id: user,
        name: "bootstrap".into(),
        token_hash: [n; 32],
        created_at: 1,
    }
}
