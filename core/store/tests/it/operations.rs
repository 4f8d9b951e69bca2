//! Operations: one running per deployment, leases that only their holder renews, steps whose
//! lines are numbered without gap, and takeover of expired leases by compare-and-set.

use std::sync::Arc;

use komander_domain::{
    DeploymentId, Executor, OperationId,
    api::{OperationKind, OperationState},
};
use komander_store::{LEASE_TTL_MS, OperationRecord, StepRecord, Store, StoreError, UserRecord};

use crate::{
    backends::{TestDb, on_both},
    fixtures::{audit, create_deployment, create_environment, create_project, create_user, page},
};

on_both!(
    a_deployment_runs_one_operation_at_a_time,
    only_the_holder_of_an_unexpired_lease_renews_it,
    steps_number_their_lines_without_gap,
    an_expired_lease_is_taken_over_once,
    racing_starts_let_exactly_one_win,
    a_cancel_request_reaches_the_holder_and_ended_operations_refuse_it,
    operations_are_listed_newest_first,
    what_an_operation_runs_is_kept_and_only_its_holder_changes_it,
    a_restarted_holder_reclaims_its_operations_counting_a_resume,
);

/// When the tests' operations start (ms).
const T0: i64 = 1_000_000;

/// Ann and a deployment of hers.
async fn scene(store: &dyn Store) -> (UserRecord, DeploymentId) {
    let ann = create_user(store, "ann").await;
    let project = create_project(store, "a", &ann).await;
    let env = create_environment(store, project, "dev", &ann).await;
    let deployment = create_deployment(store, &env, &ann, "app").await;
    (ann, deployment.id)
}

/// A running apply of `deployment` by `by`, held by `holder` from `T0`.
fn operation(deployment: DeploymentId, by: &UserRecord, holder: &str) -> OperationRecord {
    OperationRecord {
        id: OperationId::new(),
        deployment_id: deployment,
        kind: OperationKind::Apply,
        executor: Executor::Local,
        started_by: by.id,
        started_by_handle: None,
        started_at: T0,
        finished_at: None,
        state: OperationState::Running,
        message: None,
        holder: Some(holder.into()),
        lease_expires_at: Some(T0 + LEASE_TTL_MS),
        continuation: None,
        resumes: 0,
        cancel_requested: false,
        lines: 0,
        spec: None,
        target_id: None,
        target_name: None,
        remove_volumes: false,
        rollback_of: None,
    }
}

/// Starts `op`, which must succeed.
async fn start(store: &dyn Store, op: &OperationRecord, by: &UserRecord) {
    store
        .start_operation(op, &audit(by, None, "operation.start"))
        .await
        .expect("starting an operation");
}

/// A step named `name` printing `lines`.
fn step(name: &str, lines: &[&str], continuation: Option<&str>) -> StepRecord {
    StepRecord {
        name: name.into(),
        started_at: T0 + 1,
        finished_at: T0 + 2,
        continuation: continuation.map(str::to_owned),
        lines: lines.iter().map(|l| (*l).to_owned()).collect(),
    }
}

/// Asserts a refusal on the lease whose message contains `says`.
fn assert_lease_refused<T: std::fmt::Debug>(result: komander_store::Result<T>, says: &str) {
    match result {
        Err(StoreError::Conflict {
            field: Some(field),
            message,
        }) if field == "lease" => assert!(message.contains(says), "{message}"),
        other => panic!("expected a lease refusal saying {says:?}, got {other:?}"),
    }
}

async fn a_deployment_runs_one_operation_at_a_time(db: &TestDb) {
    let store = db.store.as_ref();
    let (ann, deployment) = scene(store).await;
    let first = operation(deployment, &ann, "a");
    start(store, &first, &ann).await;
    let second = operation(deployment, &ann, "b");
    let busy = store
        .start_operation(&second, &audit(&ann, None, "operation.start"))
        .await;
    assert!(
        matches!(busy, Err(StoreError::Busy { operation }) if operation == first.id),
        "{busy:?}"
    );
    assert!(
        store
            .operation(deployment, second.id)
            .await
            .unwrap()
            .is_none(),
        "nothing written"
    );
    store
        .finish_operation(
            first.id,
            "a",
            T0 + 5,
            OperationState::Done,
            None,
            &audit(&ann, None, "operation.finish"),
        )
        .await
        .unwrap();
    let done = store
        .operation(deployment, first.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.state, OperationState::Done);
    assert_eq!(done.finished_at, Some(T0 + 5));
    assert_eq!((done.holder, done.lease_expires_at), (None, None));
    start(store, &second, &ann).await;
}

async fn only_the_holder_of_an_unexpired_lease_renews_it(db: &TestDb) {
    let store = db.store.as_ref();
    let (ann, deployment) = scene(store).await;
    let op = operation(deployment, &ann, "a");
    start(store, &op, &ann).await;
    let lease = store.renew_lease(op.id, "a", T0 + 10_000).await.unwrap();
    assert_eq!(lease.expires_at, T0 + 10_000 + LEASE_TTL_MS);
    assert!(!lease.cancel_requested);
    assert_lease_refused(
        store.renew_lease(op.id, "b", T0 + 10_001).await,
        "not held by this holder",
    );
    let expiry = lease.expires_at;
    assert_lease_refused(
        store.renew_lease(op.id, "a", expiry).await,
        "not held by this holder",
    );
    assert_lease_refused(
        store
            .record_step(op.id, "a", expiry, &step("pull", &["x"], None))
            .await,
        "not held by this holder",
    );
    let unchanged = store.operation(deployment, op.id).await.unwrap().unwrap();
    assert_eq!(unchanged.lease_expires_at, Some(expiry));
    assert_eq!(unchanged.lines, 0);
    assert!(matches!(
        store.renew_lease(OperationId::new(), "a", T0).await,
        Err(StoreError::NotFound("operation"))
    ));
}

async fn steps_number_their_lines_without_gap(db: &TestDb) {
    let store = db.store.as_ref();
    let (ann, deployment) = scene(store).await;
    let op = operation(deployment, &ann, "a");
    start(store, &op, &ann).await;
    let first = store
        .record_step(op.id, "a", T0 + 1, &step("pull", &["l1", "l2"], Some("c1")))
        .await
        .unwrap();
    assert_eq!(first.last_sequence, 2);
    let second = store
        .record_step(
            op.id,
            "a",
            T0 + 2,
            &step("create", &["l3", "l4", "l5"], None),
        )
        .await
        .unwrap();
    assert_eq!(second.last_sequence, 5);
    let all = store.progress(op.id, 0, 100).await.unwrap();
    let seen: Vec<(u64, &str)> = all.iter().map(|l| (l.sequence, l.text.as_str())).collect();
    assert_eq!(
        seen,
        [(1, "l1"), (2, "l2"), (3, "l3"), (4, "l4"), (5, "l5")]
    );
    let page: Vec<u64> = store
        .progress(op.id, 2, 2)
        .await
        .unwrap()
        .iter()
        .map(|l| l.sequence)
        .collect();
    assert_eq!(page, [3, 4]);
    let steps: Vec<String> = store
        .operation_steps(op.id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(steps, ["pull", "create"]);
    let read = store.operation(deployment, op.id).await.unwrap().unwrap();
    assert_eq!(
        read.continuation.as_deref(),
        Some("c1"),
        "a step without one keeps it"
    );
}

async fn an_expired_lease_is_taken_over_once(db: &TestDb) {
    let store = db.store.as_ref();
    let (ann, deployment) = scene(store).await;
    let op = operation(deployment, &ann, "a");
    start(store, &op, &ann).await;
    let expiry = T0 + LEASE_TTL_MS;
    assert!(
        store
            .take_over_expired(expiry - 1, "server-b", 10)
            .await
            .unwrap()
            .is_empty(),
        "a live lease stays"
    );
    let taken = store
        .take_over_expired(expiry, "server-b", 10)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].id, op.id);
    assert_eq!(taken[0].holder.as_deref(), Some("server-b"));
    assert_eq!(taken[0].resumes, 1);
    assert_eq!(taken[0].lease_expires_at, Some(expiry + LEASE_TTL_MS));
    assert!(
        store
            .take_over_expired(expiry, "server-c", 10)
            .await
            .unwrap()
            .is_empty(),
        "taken once"
    );
    assert_lease_refused(
        store.renew_lease(op.id, "a", expiry + 1).await,
        "another holder",
    );
    assert_lease_refused(
        store
            .record_step(op.id, "a", expiry + 1, &step("late", &["x"], None))
            .await,
        "another holder",
    );
    store
        .renew_lease(op.id, "server-b", expiry + 1)
        .await
        .expect("the new holder renews");
}

async fn racing_starts_let_exactly_one_win(db: &TestDb) {
    let (ann, deployment) = scene(db.store.as_ref()).await;
    let mut tasks = Vec::new();
    for n in 0..6 {
        let store: Arc<dyn Store> = db.store.clone();
        let op = operation(deployment, &ann, &format!("h{n}"));
        let audit = audit(&ann, None, "operation.start");
        tasks.push(tokio::spawn(async move {
            store.start_operation(&op, &audit).await
        }));
    }
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => won += 1,
            Err(StoreError::Busy { .. }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(won, 1);
    let listed = db
        .store
        .list_operations(deployment, &page(10, None))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
}

async fn a_cancel_request_reaches_the_holder_and_ended_operations_refuse_it(db: &TestDb) {
    let store = db.store.as_ref();
    let (ann, deployment) = scene(store).await;
    let op = operation(deployment, &ann, "a");
    start(store, &op, &ann).await;
    store
        .request_cancel(op.id, &audit(&ann, None, "operation.cancel"))
        .await
        .unwrap();
    assert!(
        store
            .renew_lease(op.id, "a", T0 + 1)
            .await
            .unwrap()
            .cancel_requested
    );
    store
        .finish_operation(
            op.id,
            "a",
            T0 + 2,
            OperationState::Cancelled,
            Some("stopped after pull"),
            &audit(&ann, None, "operation.finish"),
        )
        .await
        .unwrap();
    assert_lease_refused(
        store
            .request_cancel(op.id, &audit(&ann, None, "operation.cancel"))
            .await,
        "already ended (cancelled)",
    );
    assert_lease_refused(
        store
            .finish_operation(
                op.id,
                "a",
                T0 + 3,
                OperationState::Done,
                None,
                &audit(&ann, None, "operation.finish"),
            )
            .await,
        "already ended",
    );
}

async fn operations_are_listed_newest_first(db: &TestDb) {
    let store = db.store.as_ref();
    let (ann, deployment) = scene(store).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let op = operation(deployment, &ann, "a");
        start(store, &op, &ann).await;
        store
            .finish_operation(
                op.id,
                "a",
                T0 + n,
                OperationState::Failed,
                Some("boom"),
                &audit(&ann, None, "operation.finish"),
            )
            .await
            .unwrap();
        ids.push(op.id);
    }
    ids.reverse();
    let first = store
        .list_operations(deployment, &page(2, None))
        .await
        .unwrap();
    assert_eq!(first.iter().map(|o| o.id).collect::<Vec<_>>(), ids[..2]);
    assert_eq!(first[0].started_by_handle.as_ref().unwrap().as_str(), "ann");
    let cursor = first[1].id.to_string();
    let rest = store
        .list_operations(deployment, &page(2, Some(&cursor)))
        .await
        .unwrap();
    assert_eq!(rest.iter().map(|o| o.id).collect::<Vec<_>>(), ids[2..]);
}

async fn what_an_operation_runs_is_kept_and_only_its_holder_changes_it(db: &TestDb) {
    let store = db.store.as_ref();
    let (ann, deployment) = scene(store).await;
    let first = OperationRecord {
        spec: Some(r#"{"services":[]}"#.into()),
        remove_volumes: true,
        kind: OperationKind::Destroy,
        ..operation(deployment, &ann, "a")
    };
    start(store, &first, &ann).await;
    let read = store
        .operation(deployment, first.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.spec.as_deref(), Some(r#"{"services":[]}"#));
    assert!(read.remove_volumes);
    assert_eq!(read.rollback_of, None);
    store
        .set_operation_spec(first.id, "a", T0 + 1, r#"{"pinned":true}"#)
        .await
        .expect("the holder pins");
    assert_lease_refused(
        store.set_operation_spec(first.id, "b", T0 + 1, "{}").await,
        "another holder",
    );
    let read = store
        .operation(deployment, first.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.spec.as_deref(), Some(r#"{"pinned":true}"#));
    store
        .finish_operation(
            first.id,
            "a",
            T0 + 2,
            OperationState::Done,
            None,
            &audit(&ann, None, "operation.finish"),
        )
        .await
        .unwrap();
    let rollback = OperationRecord {
        kind: OperationKind::Rollback,
        rollback_of: Some(first.id),
        ..operation(deployment, &ann, "a")
    };
    start(store, &rollback, &ann).await;
    let read = store
        .operation(deployment, rollback.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.rollback_of, Some(first.id));
}

async fn a_restarted_holder_reclaims_its_operations_counting_a_resume(db: &TestDb) {
    let store = db.store.as_ref();
    let (ann, deployment) = scene(store).await;
    let op = operation(deployment, &ann, "server-a");
    start(store, &op, &ann).await;
    assert!(
        store
            .reclaim_operations("server-b", T0 + 5)
            .await
            .unwrap()
            .is_empty(),
        "another holder's operations stay where they are"
    );
    let reclaimed = store.reclaim_operations("server-a", T0 + 5).await.unwrap();
    assert_eq!(reclaimed.len(), 1);
    assert_eq!(reclaimed[0].id, op.id);
    assert_eq!(reclaimed[0].resumes, 1);
    assert_eq!(reclaimed[0].lease_expires_at, Some(T0 + 5 + LEASE_TTL_MS));
}
