//! A batch of Docker operations: its shape is checked and every request converted and
//! validated before anything runs; then independent operations run concurrently, each after
//! the operations it depends on succeeded, and the dependents of a failure are skipped.

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
    time::{Duration, Instant},
};

use futures_util::{StreamExt, stream::FuturesUnordered};

use super::{DockerScope, ops, prefixed};
use crate::bindings::{
    docker_types::{OpOutput, Operation, OperationEntry, OperationResult, Outcome},
    types::Error as WitError,
};

/// Operations one batch may hold.
pub const MAX_OPERATIONS: usize = 256;

/// Bytes of an operation's id.
const ID_BYTES: usize = 64;

/// Operations of one batch the host runs at the same time.
pub const CONCURRENCY: usize = 16;

/// Checks, converts and runs a batch; one result per entry, in the batch's order.
pub(super) async fn run(
    scope: &Arc<DockerScope>,
    entries: Vec<OperationEntry>,
) -> Result<Vec<OperationResult>, WitError> {
    let dependencies = check_shape(&entries)?;
    // Docker's API 1.41 lets two networks share a name, after which every lookup by that
    // name fails: one batch creates a name once.
    let mut networks = std::collections::HashSet::new();
    for entry in &entries {
        if let Operation::CreateNetwork(spec) = &entry.op
            && !networks.insert(spec.name.as_str())
        {
            return Err(WitError::InvalidInput(format!(
                "operation {:?}: network {:?} is created twice in this batch",
                entry.id, spec.name
            )));
        }
    }
    let prepared = entries
        .iter()
        .map(|entry| {
            ops::prepare(scope, &entry.op)
                .map_err(|e| prefixed(&format!("operation {:?}", entry.id), e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let outcomes = schedule(prepared, &dependencies, CONCURRENCY, |op| {
        ops::execute(scope.clone(), op)
    })
    .await;
    Ok(entries
        .into_iter()
        .zip(outcomes)
        .map(|(entry, (outcome, duration))| OperationResult {
            id: entry.id,
            outcome,
            duration_ms: duration.as_millis() as u64,
        })
        .collect())
}

/// Checks a batch's shape: at most [`MAX_OPERATIONS`] entries, ids of 1 to 64 bytes and
/// unique, `depends-on` naming other entries of the batch, no cycles. Returns each entry's
/// dependencies as indices.
fn check_shape(entries: &[OperationEntry]) -> Result<Vec<Vec<usize>>, WitError> {
    let invalid = |message: String| Err(WitError::InvalidInput(message));
    if entries.len() > MAX_OPERATIONS {
        return invalid(format!(
            "a batch holds at most {MAX_OPERATIONS} operations, not {}",
            entries.len()
        ));
    }
    let mut index = HashMap::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        if entry.id.is_empty() || entry.id.len() > ID_BYTES {
            return invalid(format!(
                "operation id {:?} must be 1 to {ID_BYTES} bytes",
                entry.id
            ));
        }
        if index.insert(entry.id.as_str(), i).is_some() {
            return invalid(format!("operation id {:?} is used twice", entry.id));
        }
    }
    let mut dependencies = Vec::with_capacity(entries.len());
    for entry in entries {
        let mut on = Vec::with_capacity(entry.depends_on.len());
        for id in &entry.depends_on {
            match index.get(id.as_str()) {
                Some(&j) if id != &entry.id => on.push(j),
                Some(_) => return invalid(format!("operation {:?} depends on itself", entry.id)),
                None => {
                    return invalid(format!(
                        "operation {:?} depends on {id:?}, which is not in the batch",
                        entry.id
                    ));
                }
            }
        }
        on.sort_unstable();
        on.dedup();
        dependencies.push(on);
    }
    // Kahn's algorithm: whatever is never freed lies on a cycle.
    let mut waiting: Vec<usize> = dependencies.iter().map(Vec::len).collect();
    let dependents = dependents(&dependencies);
    let mut ready: VecDeque<usize> = (0..entries.len()).filter(|&i| waiting[i] == 0).collect();
    let mut freed = 0;
    while let Some(i) = ready.pop_front() {
        freed += 1;
        for &d in &dependents[i] {
            waiting[d] -= 1;
            if waiting[d] == 0 {
                ready.push_back(d);
            }
        }
    }
    if freed < entries.len() {
        let on_cycle: Vec<&str> = (0..entries.len())
            .filter(|&i| waiting[i] > 0)
            .map(|i| entries[i].id.as_str())
            .collect();
        return invalid(format!(
            "the depends-on of these operations form a cycle or wait on one: {}",
            on_cycle.join(", ")
        ));
    }
    Ok(dependencies)
}

/// For each entry, the entries that depend on it.
fn dependents(dependencies: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut dependents = vec![Vec::new(); dependencies.len()];
    for (i, on) in dependencies.iter().enumerate() {
        for &j in on {
            dependents[j].push(i);
        }
    }
    dependents
}

/// Runs `ops` (whose dependency graph is acyclic) with at most `limit` at a time, each after
/// its dependencies succeeded. The dependents of a failed or skipped operation are skipped.
/// Returns each operation's outcome and how long it ran.
async fn schedule<P, F, Fut>(
    ops: Vec<P>,
    dependencies: &[Vec<usize>],
    limit: usize,
    run: F,
) -> Vec<(Outcome, Duration)>
where
    F: Fn(P) -> Fut,
    Fut: Future<Output = Result<OpOutput, WitError>>,
{
    let count = ops.len();
    let dependents = dependents(dependencies);
    let mut waiting: Vec<usize> = dependencies.iter().map(Vec::len).collect();
    let mut ops: Vec<Option<P>> = ops.into_iter().map(Some).collect();
    let mut outcomes: Vec<Option<(Outcome, Duration)>> = (0..count).map(|_| None).collect();
    let mut ready: VecDeque<usize> = (0..count).filter(|&i| waiting[i] == 0).collect();
    let mut running = FuturesUnordered::new();
    loop {
        while running.len() < limit.max(1) {
            let Some(i) = ready.pop_front() else { break };
            let op = ops[i].take().expect("each operation starts once");
            let started = Instant::now();
            let future = run(op);
            running.push(async move { (i, future.await, started.elapsed()) });
        }
        let Some((i, result, took)) = running.next().await else {
            break;
        };
        let succeeded = result.is_ok();
        outcomes[i] = Some((
            match result {
                Ok(output) => Outcome::Ok(output),
                Err(error) => Outcome::Failed(error),
            },
            took,
        ));
        if succeeded {
            for &d in &dependents[i] {
                waiting[d] -= 1;
                if waiting[d] == 0 && outcomes[d].is_none() {
                    ready.push_back(d);
                }
            }
        } else {
            skip_dependents(i, &dependents, &mut outcomes);
        }
    }
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or((Outcome::Skipped, Duration::ZERO)))
        .collect()
}

/// Marks everything downstream of `failed` as skipped.
fn skip_dependents(
    failed: usize,
    dependents: &[Vec<usize>],
    outcomes: &mut [Option<(Outcome, Duration)>],
) {
    let mut stack = dependents[failed].clone();
    while let Some(d) = stack.pop() {
        if outcomes[d].is_none() {
            outcomes[d] = Some((Outcome::Skipped, Duration::ZERO));
            stack.extend_from_slice(&dependents[d]);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn entry(id: &str, depends_on: &[&str]) -> OperationEntry {
        OperationEntry {
            id: id.into(),
            depends_on: depends_on.iter().map(|s| s.to_string()).collect(),
            op: Operation::StartContainer(id.into()),
        }
    }

    fn invalid(entries: &[OperationEntry]) -> String {
        match check_shape(entries) {
            Err(WitError::InvalidInput(message)) => message,
            other => panic!("expected invalid-input, got {other:?}"),
        }
    }

    #[test]
    fn shapes_that_cannot_run_are_refused_with_the_reason() {
        assert!(invalid(&[entry("a", &[]), entry("a", &[])]).contains("used twice"));
        assert!(invalid(&[entry("", &[])]).contains("1 to 64 bytes"));
        assert!(invalid(&[entry(&"x".repeat(65), &[])]).contains("1 to 64 bytes"));
        assert!(invalid(&[entry("a", &["zz"])]).contains("not in the batch"));
        assert!(invalid(&[entry("a", &["a"])]).contains("itself"));
        let cycle = invalid(&[
            entry("a", &["c"]),
            entry("b", &["a"]),
            entry("c", &["b"]),
            entry("d", &[]),
        ]);
        assert!(
            cycle.contains("cycle") && cycle.ends_with(": a, b, c"),
            "{cycle}"
        );
        let many: Vec<_> = (0..=MAX_OPERATIONS)
            .map(|i| entry(&i.to_string(), &[]))
            .collect();
        assert!(invalid(&many).contains("at most 256"));
        assert_eq!(
            check_shape(&[entry("a", &[]), entry("b", &["a", "a"])]).unwrap(),
            vec![vec![], vec![0]]
        );
    }

    fn run_graph(
        dependencies: &[Vec<usize>],
        fail: &[usize],
        limit: usize,
    ) -> (Vec<Outcome>, Vec<usize>, usize) {
        let order = std::sync::Mutex::new(Vec::new());
        let (live, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let outcomes = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(schedule(
                (0..dependencies.len()).collect(),
                dependencies,
                limit,
                |i: usize| {
                    let (order, live, peak) = (&order, &live, &peak);
                    async move {
                        let now = live.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        live.fetch_sub(1, Ordering::SeqCst);
                        order.lock().unwrap().push(i);
                        if fail.contains(&i) {
                            Err(WitError::Internal(format!("op {i} fails")))
                        } else {
                            Ok(OpOutput::Done)
                        }
                    }
                },
            ));
        let outcomes = outcomes.into_iter().map(|(o, _)| o).collect();
        (
            outcomes,
            order.into_inner().unwrap(),
            peak.load(Ordering::SeqCst),
        )
    }

    #[test]
    fn independent_operations_run_together_and_dependents_wait() {
        // 0..4 independent; 4 needs 0 and 1; 5 needs 4.
        let deps = vec![vec![], vec![], vec![], vec![], vec![0, 1], vec![4]];
        let (outcomes, order, peak) = run_graph(&deps, &[], 16);
        assert_eq!(peak, 4, "the four independent operations ran at once");
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, Outcome::Ok(OpOutput::Done)))
        );
        let at = |i| order.iter().position(|&x| x == i).unwrap();
        assert!(at(4) > at(0) && at(4) > at(1) && at(5) > at(4));
    }

    #[test]
    fn the_limit_caps_concurrency() {
        let deps = vec![vec![]; 10];
        let (_, _, peak) = run_graph(&deps, &[], 3);
        assert_eq!(peak, 3);
    }

    #[test]
    fn dependents_of_a_failure_are_skipped_and_others_go_on() {
        // 1 fails; 2 needs 1; 3 needs 2; 4 needs 0; 5 needs 0 and 3.
        let deps = vec![vec![], vec![], vec![1], vec![2], vec![0], vec![0, 3]];
        let (outcomes, order, _) = run_graph(&deps, &[1], 16);
        assert!(matches!(outcomes[0], Outcome::Ok(_)));
        assert!(
            matches!(&outcomes[1], Outcome::Failed(WitError::Internal(m)) if m == "op 1 fails")
        );
        for skipped in [2, 3, 5] {
            assert!(
                matches!(outcomes[skipped], Outcome::Skipped),
                "{skipped} skipped"
            );
            assert!(!order.contains(&skipped), "{skipped} never ran");
        }
        assert!(matches!(outcomes[4], Outcome::Ok(_)));
    }
}
