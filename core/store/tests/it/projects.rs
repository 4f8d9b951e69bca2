//! Projects: keyset pages, the viewer's role, visibility.

use komander_domain::{Role, Visibility};

use crate::{
    backends::{TestDb, on_both},
    fixtures::{create_project, create_user, page},
};

on_both!(
    the_creator_is_admin,
    lists_are_keyset_pages_in_name_order,
    a_user_lists_only_the_projects_they_belong_to,
    a_non_member_looks_a_project_up_without_a_role,
);

async fn the_creator_is_admin(db: &TestDb) {
    let store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    create_project(store, "a", &ann).await;
    let listed = store
        .list_projects(Visibility { user: ann.id }, &page(10, None))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].1, Role::Admin);
}

async fn lists_are_keyset_pages_in_name_order(db: &TestDb) {
    let store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    for name in ["c", "a", "e", "b", "d"] {
        create_project(store, name, &ann).await;
    }
    let ann_sees = Visibility { user: ann.id };
    let names = |projects: Vec<(komander_store::ProjectRecord, Role)>| -> Vec<String> {
        projects.iter().map(|(p, _)| p.name.to_string()).collect()
    };
    let first = store.list_projects(ann_sees, &page(2, None)).await.unwrap();
    assert_eq!(names(first), ["a", "b"]);
    let rest = store
        .list_projects(ann_sees, &page(10, Some("b")))
        .await
        .unwrap();
    assert_eq!(names(rest), ["c", "d", "e"]);
}

async fn a_user_lists_only_the_projects_they_belong_to(db: &TestDb) {
    let store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    let bob = create_user(store, "bob").await;
    create_project(store, "a", &ann).await;
    assert!(
        store
            .list_projects(Visibility { user: bob.id }, &page(10, None))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_non_member_looks_a_project_up_without_a_role(db: &TestDb) {
    let store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    let bob = create_user(store, "bob").await;
    create_project(store, "a", &ann).await;
    let (_, role) = store
        .project(&"a".parse().unwrap(), bob.id)
        .await
        .unwrap()
        .expect("the project exists");
    assert_eq!(role, None);
}
