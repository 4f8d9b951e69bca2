//! The audit log: newest first, and nothing from a write that failed.

use komander_domain::{ProjectId, Role, UserId, Visibility};
use komander_store::{AuditRecord, Store, StoreError, UserRecord};

use crate::{
    backends::{TestDb, on_both},
    fixtures::{
        add_dev, audit, create_deployment, create_environment, create_project, create_user, page,
    },
};

on_both!(
    the_log_is_newest_first,
    a_failed_write_leaves_no_entry,
    private_entries_show_to_their_owner_alone_in_full_pages,
);

/// The whole log as `viewer` sees it.
async fn log_for(store: &dyn Store, project: ProjectId, viewer: UserId) -> Vec<AuditRecord> {
    let visibility = Visibility { user: viewer };
    store
        .list_audit(project, visibility, &page(100, None))
        .await
        .unwrap()
}

async fn log(store: &dyn Store, project: ProjectId) -> Vec<AuditRecord> {
    let ann = store.user_by_handle(&"ann".parse().unwrap()).await.unwrap();
    log_for(store, project, ann.unwrap().id).await
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

/// Regression: the audit log named every member's private deployments, services and
/// variables to the project's Admins. An entry marked private to its deployment's owner is
/// listed to them alone, and filtering happens in SQL: every page but the last is full.
async fn private_entries_show_to_their_owner_alone_in_full_pages(db: &TestDb) {
    let store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    let bob = create_user(store, "bob").await;
    let project = create_project(store, "a", &ann).await;
    add_dev(store, project, &bob, &ann).await;
    let private = |who: &UserRecord, action: &str| AuditRecord {
        private_to: Some(who.id),
        ..audit(who, Some(project), action)
    };
    for entry in [
        private(&bob, "bob.1"),
        private(&bob, "bob.2"),
        audit(&ann, Some(project), "shared.1"),
        private(&ann, "ann.1"),
        private(&bob, "bob.3"),
    ] {
        store.record_audit(&entry).await.unwrap();
    }
    assert_eq!(
        pages(store, project, ann.id).await,
        [
            vec!["ann.1", "shared.1"],
            vec!["member.add", "project.create"],
            vec![]
        ]
    );
    assert_eq!(
        pages(store, project, bob.id).await,
        [
            vec!["bob.3", "shared.1"],
            vec!["bob.2", "bob.1"],
            vec!["member.add", "project.create"],
            vec![]
        ]
    );
    let stored = log_for(store, project, bob.id).await;
    assert_eq!(stored[0].private_to, Some(bob.id));
}

/// The actions of the log as `viewer` sees it, page by page (two entries a page), up to the
/// first page that is not full.
async fn pages(store: &dyn Store, project: ProjectId, viewer: UserId) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let rows = store
            .list_audit(
                project,
                Visibility { user: viewer },
                &page(2, after.as_deref()),
            )
            .await
            .unwrap();
        after = rows.last().map(|e| e.id.to_string());
        let full = rows.len() == 2;
        pages.push(rows.into_iter().map(|e| e.action).collect());
        if !full {
            return pages;
        }
    }
}
