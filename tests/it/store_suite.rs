//! One store test body, run on SQLite and on PostgreSQL.

use komander_domain::{
    AuditId, DeploymentId, EnvironmentId, Executor, ProjectId, Role, RuntimeKind, ServiceId,
    UserId, VariableId, Visibility,
    api::{PluginStatus, UserKind},
};
use komander_e2e::{Backend, TestStore};
use komander_store::{
    AuditRecord, DeploymentRecord, EnvironmentRecord, KvQuota, PageRequest, PluginRecord,
    ProjectRecord, ServiceRecord, Store, StoreError, StoredValue, UserRecord, VariableRecord,
};

fn user(handle: &str) -> UserRecord {
    UserRecord {
        id: UserId::new(),
        handle: handle.parse().unwrap(),
        display_name: handle.into(),
        kind: UserKind::Human,
        instance_admin: false,
        created_at: 1,
    }
}

fn audit(actor: &UserRecord, project: Option<ProjectId>, action: &str) -> AuditRecord {
    AuditRecord {
        id: AuditId::new(),
        project_id: project,
        actor_id: actor.id,
        actor_handle: actor.handle.to_string(),
        action: action.into(),
        target: "t".into(),
        fields: vec!["name".into()],
        at: 2,
    }
}

fn page(limit: u32, after: Option<&str>) -> PageRequest {
    PageRequest {
        limit,
        after: after.map(str::to_owned),
    }
}

async fn suite(store: &dyn Store) {
    let ann = user("ann");
    let bob = user("bob");
    store.create_user(&ann, None, None).await.unwrap();
    store.create_user(&bob, None, None).await.unwrap();
    match store.create_user(&user("ann"), None, None).await {
        Err(StoreError::Conflict { field, .. }) => assert_eq!(field.as_deref(), Some("handle")),
        other => panic!("a taken handle must conflict, got {other:?}"),
    }
    // Projects, keyset pages, visibility.
    let mut ids = Vec::new();
    for name in ["c", "a", "e", "b", "d"] {
        let p = ProjectRecord {
            id: ProjectId::new(),
            name: name.parse().unwrap(),
            display_name: name.into(),
            description: String::new(),
            created_by: ann.id,
            created_at: 1,
            updated_at: 1,
        };
        store
            .create_project(&p, &audit(&ann, Some(p.id), "project.create"))
            .await
            .unwrap();
        ids.push(p.id);
    }
    let ann_sees = Visibility { user: ann.id };
    let first = store.list_projects(ann_sees, &page(2, None)).await.unwrap();
    let names: Vec<_> = first.iter().map(|(p, _)| p.name.to_string()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(first[0].1, Role::Admin);
    let rest = store
        .list_projects(ann_sees, &page(10, Some("b")))
        .await
        .unwrap();
    assert_eq!(rest.len(), 3);
    assert!(
        store
            .list_projects(Visibility { user: bob.id }, &page(10, None))
            .await
            .unwrap()
            .is_empty()
    );
    let project = ids[1];
    let (_, role) = store
        .project(&"a".parse().unwrap(), bob.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(role, None);
    // Members: the last Admin stays.
    store
        .add_member(
            project,
            bob.id,
            Role::Dev,
            &audit(&ann, Some(project), "member.add"),
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .add_member(project, bob.id, Role::Dev, &audit(&ann, Some(project), "x"))
            .await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        store
            .set_member_role(project, ann.id, Role::Dev, &audit(&ann, Some(project), "x"))
            .await,
        Err(StoreError::Conflict { .. })
    ));
    // Environments and deployments: visibility, share clears secrets, cascade.
    let env = EnvironmentRecord {
        id: EnvironmentId::new(),
        project_id: project,
        name: "dev".parse().unwrap(),
        display_name: "Dev".into(),
        runtime: RuntimeKind::Compose,
        executor: Executor::Local,
        settings: serde_json::Map::new(),
        created_at: 1,
        updated_at: 1,
    };
    store
        .create_environment(&env, &audit(&ann, Some(project), "e"))
        .await
        .unwrap();
    let mut dup = env.clone();
    dup.id = EnvironmentId::new();
    match store
        .create_environment(&dup, &audit(&ann, Some(project), "e"))
        .await
    {
        Err(StoreError::Conflict { field, .. }) => assert_eq!(field.as_deref(), Some("name")),
        other => panic!("expected a name conflict, got {other:?}"),
    }
    let deployment = |owner: &UserRecord, name: &str| DeploymentRecord {
        id: DeploymentId::new(),
        project_id: project,
        environment_id: env.id,
        name: name.parse().unwrap(),
        display_name: name.into(),
        owner_id: owner.id,
        owner_handle: None,
        shared: false,
        created_at: 1,
        updated_at: 1,
    };
    let bobs = deployment(&bob, "bobs");
    store
        .create_deployment(&bobs, &audit(&bob, Some(project), "d"))
        .await
        .unwrap();
    store
        .create_deployment(&deployment(&ann, "anns"), &audit(&ann, Some(project), "d"))
        .await
        .unwrap();
    let seen = store
        .list_deployments(env.id, ann_sees, &page(10, None))
        .await
        .unwrap();
    assert_eq!(seen.len(), 1, "ann sees her own private deployment only");
    assert_eq!(seen[0].owner_handle.as_ref().unwrap().as_str(), "ann");
    let service = ServiceRecord {
        id: ServiceId::new(),
        deployment_id: bobs.id,
        name: "web".parse().unwrap(),
        image: "nginx".into(),
        ports: serde_json::json!([]),
        volumes: serde_json::json!([]),
        created_at: 1,
        updated_at: 1,
    };
    store
        .create_service(&service, &audit(&bob, Some(project), "s"))
        .await
        .unwrap();
    for (name, secret, value) in [
        ("KEY", true, StoredValue::Sealed(vec![1, 2, 3])),
        ("MODE", false, StoredValue::Plain("x".into())),
    ] {
        let v = VariableRecord {
            id: VariableId::new(),
            service_id: service.id,
            name: name.parse().unwrap(),
            secret,
            value,
            updated_at: 1,
        };
        store
            .put_variable(&v, &audit(&bob, Some(project), "v"))
            .await
            .unwrap();
        store
            .put_variable(&v, &audit(&bob, Some(project), "v"))
            .await
            .unwrap();
    }
    assert_eq!(
        store
            .remove_member(project, bob.id, false, &audit(&ann, Some(project), "x"))
            .await
            .map_err(|e| e.to_string())
            .unwrap_err(),
        "the member owns 1 private deployment(s) in this project; removing them deletes those: repeat with force=true"
    );
    let cleared = store
        .share_deployment(bobs.id, 3, &audit(&bob, Some(project), "share"))
        .await
        .unwrap();
    assert_eq!(cleared, 1);
    assert!(matches!(
        store
            .share_deployment(bobs.id, 3, &audit(&bob, Some(project), "share"))
            .await,
        Err(StoreError::Conflict { .. })
    ));
    let vars = store
        .list_variables(service.id, &page(10, None))
        .await
        .unwrap();
    assert_eq!(vars[0].value, StoredValue::Empty);
    assert_eq!(vars[1].value, StoredValue::Plain("x".into()));
    assert_eq!(
        store
            .list_deployments(env.id, ann_sees, &page(10, None))
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(matches!(
        store
            .delete_environment(env.id, false, &audit(&ann, Some(project), "x"))
            .await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(
        store
            .delete_environment(env.id, true, &audit(&ann, Some(project), "x"))
            .await
            .unwrap(),
        2
    );
    assert!(
        store
            .variable(service.id, &"MODE".parse().unwrap())
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        store
            .delete_deployment(bobs.id, &audit(&ann, Some(project), "x"))
            .await,
        Err(StoreError::NotFound(_))
    ));
    // Plugin kv: scoped, with its quota, deleted with the plugin.
    let plugin = PluginRecord {
        id: "acme.thing".into(),
        version: "1.0.0".into(),
        kind: "runtime".into(),
        world: Some("remote".into()),
        digest: "d".repeat(64),
        manifest: String::new(),
        requested: vec!["kv".into()],
        granted: vec!["kv".into()],
        status: PluginStatus::Enabled,
        installed_by: ann.id,
        installed_at: 1,
        updated_at: 1,
        config: "{}".into(),
    };
    store
        .create_plugin(&plugin, &audit(&ann, None, "plugin.install"))
        .await
        .unwrap();
    // Settings round-trip through an update.
    let configured = PluginRecord {
        config: r#"{"region":"eu"}"#.into(),
        ..plugin.clone()
    };
    store
        .update_plugin(&configured, &audit(&ann, None, "plugin.config"))
        .await
        .unwrap();
    assert_eq!(
        store.plugin("acme.thing").await.unwrap().unwrap().config,
        configured.config
    );
    let quota = KvQuota {
        keys: 2,
        bytes: 100,
    };
    store
        .kv_set("acme.thing", "p1", "a", b"1", quota)
        .await
        .unwrap();
    store
        .kv_set("acme.thing", "p1", "a", b"22", quota)
        .await
        .unwrap();
    store
        .kv_set("acme.thing", "p1", "ab", b"3", quota)
        .await
        .unwrap();
    assert!(
        matches!(
            store.kv_set("acme.thing", "p1", "c", b"4", quota).await,
            Err(StoreError::Conflict { .. })
        ),
        "a third key is over the quota"
    );
    assert!(
        matches!(
            store.kv_set("acme.thing", "p1", "a", &[0; 99], quota).await,
            Err(StoreError::Conflict { .. })
        ),
        "too many bytes"
    );
    assert!(matches!(
        store.kv_set("nobody", "p1", "a", b"1", quota).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.kv_get("acme.thing", "p1", "a").await.unwrap(),
        Some(b"22".to_vec())
    );
    assert_eq!(
        store.kv_get("acme.thing", "p2", "a").await.unwrap(),
        None,
        "projects are apart"
    );
    assert_eq!(
        store.kv_keys("acme.thing", "p1", "a", 10).await.unwrap(),
        ["a", "ab"]
    );
    assert_eq!(
        store.kv_keys("acme.thing", "p1", "ab", 10).await.unwrap(),
        ["ab"]
    );
    assert!(store.kv_delete("acme.thing", "p1", "ab").await.unwrap());
    assert!(!store.kv_delete("acme.thing", "p1", "ab").await.unwrap());
    store
        .delete_plugin("acme.thing", &audit(&ann, None, "plugin.uninstall"))
        .await
        .unwrap();
    assert_eq!(
        store.kv_get("acme.thing", "p1", "a").await.unwrap(),
        None,
        "uninstall clears kv"
    );
    // Audit: newest first, failed writes left nothing.
    let entries = store.list_audit(project, &page(100, None)).await.unwrap();
    assert_eq!(entries.first().unwrap().action, "x");
    assert_eq!(entries.last().unwrap().action, "project.create");
    assert!(entries.windows(2).all(|w| w[0].id > w[1].id));
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "x").count(),
        1,
        "{actions:?}"
    );
}

#[tokio::test]
async fn store_suite_on_sqlite() {
    let store = TestStore::new(Backend::Sqlite).await.unwrap();
    suite(store.store.as_ref()).await;
}

#[tokio::test]
async fn store_suite_on_postgres() {
    if let Some(store) = TestStore::new(Backend::Postgres).await {
        suite(store.store.as_ref()).await;
    }
}
