//! Members: one membership each, the last Admin stays, private deployments go with force, a
//! corrupt role is an error.

use komander_domain::{InvitationId, Role};
use komander_store::{InvitationRecord, PageRequest, StoreError};

use crate::{
    backends::{TestDb, on_both},
    fixtures::{
        add_dev, audit, create_deployment, create_environment, create_project, create_user,
    },
};

on_both!(
    adding_a_member_twice_conflicts,
    the_last_admin_cannot_be_demoted,
    removing_a_member_with_private_deployments_needs_force,
    a_corrupt_role_is_an_error_not_a_non_member,
);

async fn adding_a_member_twice_conflicts(db: &TestDb) {
    let store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    let bob = create_user(store, "bob").await;
    let project = create_project(store, "a", &ann).await;
    add_dev(store, project, &bob, &ann).await;
    assert!(matches!(
        store
            .add_member(
                project,
                bob.id,
                Role::Dev,
                &audit(&ann, Some(project), "member.add")
            )
            .await,
        Err(StoreError::Conflict { .. })
    ));
}

async fn the_last_admin_cannot_be_demoted(db: &TestDb) {
    let store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    let project = create_project(store, "a", &ann).await;
    assert!(matches!(
        store
            .set_member_role(
                project,
                ann.id,
                Role::Dev,
                &audit(&ann, Some(project), "member.role")
            )
            .await,
        Err(StoreError::Conflict { .. })
    ));
}

async fn removing_a_member_with_private_deployments_needs_force(db: &TestDb) {
    let store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    let bob = create_user(store, "bob").await;
    let project = create_project(store, "a", &ann).await;
    add_dev(store, project, &bob, &ann).await;
    let env = create_environment(store, project, "dev", &ann).await;
    create_deployment(store, &env, &bob, "bobs").await;
    let removal = audit(&ann, Some(project), "member.remove");
    assert_eq!(
        store
            .remove_member(project, bob.id, false, &removal)
            .await
            .map_err(|e| e.to_string())
            .unwrap_err(),
        "the member owns 1 private deployment(s) in this project; removing them deletes those: repeat with force=true"
    );
    assert_eq!(
        store
            .remove_member(project, bob.id, true, &removal)
            .await
            .unwrap(),
        1
    );
}

/// A role Komander never writes, planted past the table's CHECK constraint, fails every
/// membership change with an error naming it: it is not read as "not a member".
async fn a_corrupt_role_is_an_error_not_a_non_member(db: &TestDb) {
    let store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    let bob = create_user(store, "bob").await;
    let project = create_project(store, "a", &ann).await;
    add_dev(store, project, &bob, &ann).await;
    let unchecked = match store.backend() {
        "sqlite" => "PRAGMA ignore_check_constraints = ON",
        _ => "ALTER TABLE members DROP CONSTRAINT members_role_check",
    };
    let corrupt = format!(
        "UPDATE members SET role = 'owner' WHERE user_id = '{}'",
        bob.id
    );
    db.raw(&[unchecked, &corrupt]).await;
    let change = audit(&ann, Some(project), "member.role");
    for outcome in [
        store
            .set_member_role(project, bob.id, Role::Admin, &change)
            .await,
        store.add_member(project, bob.id, Role::Dev, &change).await,
    ] {
        match outcome {
            Err(StoreError::Corrupt {
                table: "members",
                detail,
            }) => assert!(detail.contains("\"owner\""), "{detail}"),
            other => panic!("a corrupt role must be an error, got {other:?}"),
        }
    }
}

on_both!(an_invitation_dies_with_its_creators_admin_role);

/// Regression: an invitation outlived its creator's Admin role.
async fn an_invitation_dies_with_its_creators_admin_role(db: &TestDb) {
    let store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    let bob = create_user(store, "bob").await;
    let guest = create_user(store, "guest").await;
    let project = create_project(store, "a", &ann).await;
    add_dev(store, project, &bob, &ann).await;
    let promote = audit(&ann, Some(project), "member.role");
    store
        .set_member_role(project, bob.id, Role::Admin, &promote)
        .await
        .unwrap();
    let invitation = InvitationRecord {
        id: InvitationId::new(),
        project_id: project,
        token_hash: [7; 32],
        role: Role::Admin,
        created_by_handle: None,
        created_by: bob.id,
        created_at: 1,
        expires_at: i64::MAX,
        accepted_by: None,
    };
    let created = audit(&bob, Some(project), "invitation.create");
    store
        .create_invitation(&invitation, &created)
        .await
        .unwrap();
    let demote = audit(&ann, Some(project), "member.role");
    store
        .set_member_role(project, bob.id, Role::DevOps, &demote)
        .await
        .unwrap();
    match store.accept_invitation(&[7; 32], &guest, 2).await {
        Err(StoreError::Conflict { message, .. }) => {
            assert!(message.contains("no longer an Admin"), "{message}");
        }
        other => panic!("a dead invitation must conflict, got {other:?}"),
    }
    assert!(
        store
            .member(project, &guest.handle)
            .await
            .unwrap()
            .is_none()
    );
    let page = PageRequest {
        limit: 10,
        after: None,
    };
    let listed = store.list_invitations(project, &page).await.unwrap();
    assert_eq!(listed[0].accepted_by, None);
}
