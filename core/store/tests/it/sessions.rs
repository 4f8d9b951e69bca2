//! Browser sessions and one-time sign-in links.

use komander_store::{SessionRecord, SignInLinkRecord, Store};

use crate::{
    backends::{TestDb, on_both},
    fixtures::{audit, create_user},
};

/// A session of `user` whose id hash is `n` repeated, signed in and last seen at `at`.
fn session(user: &komander_store::UserRecord, n: u8, at: i64) -> SessionRecord {
    SessionRecord {
        id_hash: [n; 32],
        user_id: user.id,
        csrf_token: format!("csrf-{n}"),
        created_at: at,
        last_seen_at: at,
    }
}

/// A link for `user` whose token hash is `n` repeated, expiring at `expires_at`.
fn link(user: &komander_store::UserRecord, n: u8, expires_at: i64) -> SignInLinkRecord {
    SignInLinkRecord {
        token_hash: [n; 32],
        user_id: user.id,
        created_at: 1,
        expires_at,
    }
}

/// How many rows `table` holds, read behind the store's back.
async fn rows(db: &TestDb, table: &str) -> i64 {
    db.count(&format!("SELECT COUNT(*) FROM {table}")).await
}

on_both!(a_session_is_found_by_its_hash_with_its_user);

async fn a_session_is_found_by_its_hash_with_its_user(db: &TestDb) {
    let store: &dyn Store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    let bob = create_user(store, "bob").await;
    let mine = session(&ann, 1, 10);
    store
        .create_session(&mine, &audit(&ann, None, "session.sign_in"))
        .await
        .unwrap();
    store
        .create_session(&session(&bob, 2, 10), &audit(&bob, None, "session.sign_in"))
        .await
        .unwrap();
    let (found, user) = store.session_by_hash(&[1; 32]).await.unwrap().unwrap();
    assert_eq!(found, mine);
    assert_eq!(user, ann);
    assert!(store.session_by_hash(&[3; 32]).await.unwrap().is_none());

    assert!(store.touch_session(&[1; 32], 99).await.unwrap());
    let (found, _) = store.session_by_hash(&[1; 32]).await.unwrap().unwrap();
    assert_eq!((found.created_at, found.last_seen_at), (10, 99));
    assert!(!store.touch_session(&[3; 32], 99).await.unwrap());

    assert!(store.delete_session(&[1; 32], None).await.unwrap());
    assert!(!store.delete_session(&[1; 32], None).await.unwrap());
    assert!(store.session_by_hash(&[1; 32]).await.unwrap().is_none());
    assert!(store.session_by_hash(&[2; 32]).await.unwrap().is_some());
}

on_both!(a_sign_out_is_audited_only_when_a_session_went);

async fn a_sign_out_is_audited_only_when_a_session_went(db: &TestDb) {
    let store: &dyn Store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    store
        .create_session(&session(&ann, 1, 10), &audit(&ann, None, "session.sign_in"))
        .await
        .unwrap();
    let sign_out = audit(&ann, None, "session.sign_out");
    assert!(
        store
            .delete_session(&[1; 32], Some(&sign_out))
            .await
            .unwrap()
    );
    let again = audit(&ann, None, "session.sign_out");
    assert!(!store.delete_session(&[1; 32], Some(&again)).await.unwrap());
    let count = "SELECT COUNT(*) FROM audit_log WHERE action = 'session.sign_out'";
    assert_eq!(db.count(count).await, 1);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM audit_log WHERE action = 'session.sign_in'")
            .await,
        1
    );
}

on_both!(a_link_redeems_once_and_never_after_it_expires);

async fn a_link_redeems_once_and_never_after_it_expires(db: &TestDb) {
    let store: &dyn Store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    store
        .create_sign_in_link(&link(&ann, 1, 100))
        .await
        .unwrap();
    store
        .create_sign_in_link(&link(&ann, 2, 100))
        .await
        .unwrap();

    let user = store.redeem_sign_in_link(&[1; 32], 50).await.unwrap();
    assert_eq!(user, Some(ann.clone()));
    assert_eq!(
        store.redeem_sign_in_link(&[1; 32], 51).await.unwrap(),
        None,
        "a used link"
    );
    assert_eq!(
        store.redeem_sign_in_link(&[2; 32], 100).await.unwrap(),
        None,
        "a link at its expiry"
    );
    assert_eq!(
        store.redeem_sign_in_link(&[3; 32], 50).await.unwrap(),
        None,
        "an unknown link"
    );
    // The expired link was not burnt by the refusal: still unused.
    let unused = "SELECT COUNT(*) FROM sign_in_links WHERE used_at IS NULL";
    assert_eq!(db.count(unused).await, 1);
}

on_both!(two_redeems_at_once_sign_in_once);

async fn two_redeems_at_once_sign_in_once(db: &TestDb) {
    let ann = create_user(db.store.as_ref(), "ann").await;
    db.store
        .create_sign_in_link(&link(&ann, 1, 100))
        .await
        .unwrap();
    let redeems: Vec<_> = (0..8)
        .map(|_| {
            let store = db.store.clone();
            tokio::spawn(async move { store.redeem_sign_in_link(&[1; 32], 50).await })
        })
        .collect();
    let mut signed_in = 0;
    for redeem in redeems {
        if redeem.await.unwrap().unwrap().is_some() {
            signed_in += 1;
        }
    }
    assert_eq!(signed_in, 1);
}

on_both!(a_purge_leaves_only_what_can_still_sign_in);

async fn a_purge_leaves_only_what_can_still_sign_in(db: &TestDb) {
    let store: &dyn Store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    let idle = SessionRecord {
        last_seen_at: 40,
        ..session(&ann, 1, 40)
    };
    let old = SessionRecord {
        last_seen_at: 90,
        ..session(&ann, 2, 10)
    };
    let live = session(&ann, 3, 60);
    for s in [&idle, &old, &live] {
        let sign_in = audit(&ann, None, "session.sign_in");
        store.create_session(s, &sign_in).await.unwrap();
    }
    store
        .create_sign_in_link(&link(&ann, 1, 100))
        .await
        .unwrap();
    store
        .create_sign_in_link(&link(&ann, 2, 200))
        .await
        .unwrap();
    store
        .create_sign_in_link(&link(&ann, 3, 200))
        .await
        .unwrap();
    store.redeem_sign_in_link(&[3; 32], 100).await.unwrap();

    // Idle since before 50, or signed in before 20; links expired at 100, or used.
    assert_eq!(store.purge_sessions(50, 20, 100).await.unwrap(), 4);
    assert!(store.session_by_hash(&[3; 32]).await.unwrap().is_some());
    assert_eq!(rows(db, "web_sessions").await, 1);
    assert_eq!(rows(db, "sign_in_links").await, 1);
    assert!(
        store
            .redeem_sign_in_link(&[2; 32], 100)
            .await
            .unwrap()
            .is_some()
    );
}

on_both!(deleting_a_user_deletes_their_sessions_and_links);

async fn deleting_a_user_deletes_their_sessions_and_links(db: &TestDb) {
    let store: &dyn Store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    let bob = create_user(store, "bob").await;
    store
        .create_session(&session(&ann, 1, 10), &audit(&ann, None, "session.sign_in"))
        .await
        .unwrap();
    store
        .create_session(&session(&bob, 2, 10), &audit(&bob, None, "session.sign_in"))
        .await
        .unwrap();
    store
        .create_sign_in_link(&link(&ann, 1, 100))
        .await
        .unwrap();
    db.raw(&[&format!("DELETE FROM users WHERE id = '{}'", ann.id)])
        .await;
    assert!(store.session_by_hash(&[1; 32]).await.unwrap().is_none());
    assert!(store.session_by_hash(&[2; 32]).await.unwrap().is_some());
    assert_eq!(rows(db, "web_sessions").await, 1);
    assert_eq!(rows(db, "sign_in_links").await, 0);
}
