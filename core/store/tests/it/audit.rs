//! The audit log: newest first, and nothing from a write that failed.

use komander_domain::{ProjectId, Role};
use komander_store::{AuditRecord, Store, StoreError, UserRecord};

use crate::{
    backends::{TestDb, on_both},
    fixtures::{
        add_dev, audit, create_deployment, create_environment, create_project, create_user, page,
    },
};

on_both!(the_log_is_newest_first, a_failed_write_leaves_no_entry);

async fn log(store: &dyn Store, project: ProjectId) -> Vec<AuditRecord> {
    store.list_audit(project, &page(100, None)).await.unwrap()
}

async fn the_log_is_newest_first(db: &TestDb) {
    let store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    let bob = create_user(store, "bob").await;
    let project = create_project(store, "a", &ann).await;
    create_environment(store, project, "dev", &ann).await;
    add_dev(store, project, &bob, &ann).await;
    let entries = log(store, project).await;
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["member.add", "environment.create", "project.create"]
    );
    assert!(entries.windows(2).all(|w| w[0].id > w[1].id));
}

/// Tries `x` writes that fail (a member twice, demoting the last Admin, removing a member who
/// owns private deployments, deleting an environment that holds some, deleting a deployment
/// that is gone) and one that succeeds: only that one is in the log.
async fn a_failed_write_leaves_no_entry(db: &TestDb) {
    let store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    let bob = create_user(store, "bob").await;
    let project = create_project(store, "a", &ann).await;
    let x = |who: &UserRecord| audit(who, Some(project), "x");
    add_dev(store, project, &bob, &ann).await;
    let env = create_environment(store, project, "dev", &ann).await;
    let bobs = create_deployment(store, &env, &bob, "bobs").await;
    let failures = [
        store.add_member(project, bob.id, Role::Dev, &x(&ann)).await,
        store
            .set_member_role(project, ann.id, Role::Dev, &x(&ann))
            .await,
        store
            .remove_member(project, bob.id, false, &x(&ann))
            .await
            .map(drop),
        store
            .delete_environment(env.id, false, &x(&ann))
            .await
            .map(drop),
    ];
    for failure in failures {
        assert!(
            matches!(failure, Err(StoreError::Conflict { .. })),
            "{failure:?}"
        );
    }
    store
        .delete_environment(env.id, true, &x(&ann))
        .await
        .unwrap();
    assert!(matches!(
        store.delete_deployment(bobs.id, &x(&ann)).await,
        Err(StoreError::NotFound(_))
    ));
    let entries = log(store, project).await;
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "x").count(),
        1,
        "{actions:?}"
    );
    assert_eq!(actions.first(), Some(&"x"), "{actions:?}");
}
