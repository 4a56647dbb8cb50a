//! The sync states of a Sync Now run: claiming them for the run, and
//! storing a batch of its results with the finishes of those states.
//!
//! A run pushes through the same per-(record, integration) sync states as
//! the debounced write sync, so that a record's state ends as a push would
//! leave it whoever pushed: the run claims states (a new sync, under a
//! lease, fenced by the claim like any other), and its results are stored
//! with the very finishes `finish_syncs` applies (sync_queue.rs), together
//! with its log entries and counts. The status counts follow by the
//! triggers of migration 0005, as for any other change of a status. Both
//! run under the write lock, which orders them with every record write: a
//! write after a claim finds the state `syncing` and owes it the change.

use lockstep_store::{ClaimedSync, RunClaim, StoreError, StoreResult, SyncFinish, SyncRunResults, Timestamp};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::codec::{ms, record, sync_state, RECORD_COLUMNS, STATE_COLUMNS};
use crate::db_error;
use crate::sync_queue::apply_finishes;

/// Claims each record's state for a run, in order, under the write lock:
/// what each answer says is what is committed.
pub(crate) fn claim(
    conn: &mut Connection,
    tenant_id: i64,
    integration_id: i64,
    record_ids: &[i64],
    now: Timestamp,
    lease_until: Timestamp,
) -> StoreResult<Vec<RunClaim>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_error)?;
    // The integration decides which records it syncs: its tenant's, of its type.
    let record_type: Option<String> = tx
        .prepare_cached("SELECT record_type FROM integrations WHERE tenant_id = ?1 AND id = ?2")
        .and_then(|mut stmt| stmt.query_row(params![tenant_id, integration_id], |r| r.get(0)).optional())
        .map_err(db_error)?;
    let mut answers = Vec::with_capacity(record_ids.len());
    for &record_id in record_ids {
        let found = match &record_type {
            Some(record_type) => tx
                .prepare_cached(&format!(
                    "SELECT {RECORD_COLUMNS} FROM records WHERE id = ?1 AND tenant_id = ?2 AND record_type = ?3"
                ))
                .and_then(|mut stmt| stmt.query_row(params![record_id, tenant_id, record_type], record).optional())
                .map_err(db_error)?,
            None => None,
        };
        let Some(found) = found else {
            answers.push(RunClaim::Missing { record_id });
            continue;
        };
        let held: Option<(String, Option<i64>)> = tx
            .prepare_cached("SELECT status, due_at FROM sync_states WHERE record_id = ?1 AND integration_id = ?2")
            .and_then(|mut stmt| {
                stmt.query_row(params![record_id, integration_id], |r| Ok((r.get(0)?, r.get(1)?))).optional()
            })
            .map_err(db_error)?;
        let claimed = match held {
            Some((status, Some(due_at))) if status == "syncing" && due_at > ms(now) => {
                answers.push(RunClaim::Busy { record_id });
                continue;
            }
            // A new sync: attempts start again, the quiet period (if any) is
            // over, and a change owed by an abandoned sync stays owed.
            Some(_) => tx.prepare_cached(&format!(
                "UPDATE sync_states SET
                    status = 'syncing', claim = claim + 1, attempts = 1,
                    changed_during_sync = CASE WHEN status = 'syncing' THEN changed_during_sync ELSE 0 END,
                    due_at = ?3, wake_at = ?3, pending_since = NULL, updated_at = ?4
                 WHERE record_id = ?1 AND integration_id = ?2 AND tenant_id = ?5
                 RETURNING {STATE_COLUMNS}"
            )),
            None => tx.prepare_cached(&format!(
                "INSERT INTO sync_states (record_id, integration_id, tenant_id, status, due_at, wake_at, claim, attempts, updated_at)
                 VALUES (?1, ?2, ?5, 'syncing', ?3, ?3, 1, 1, ?4)
                 RETURNING {STATE_COLUMNS}"
            )),
        }
        .and_then(|mut stmt| {
            stmt.query_row(params![record_id, integration_id, ms(lease_until), ms(now), tenant_id], sync_state)
        })
        .map_err(db_error)?;
        answers.push(RunClaim::Claimed(ClaimedSync { state: claimed, record: found }));
    }
    tx.commit().map_err(db_error)?;
    Ok(answers)
}

/// Stores a batch of a run's results; returns, per finish, whether it
/// applied, and whether any did (new due work: a retry or a re-pend).
pub(crate) fn record_results(
    conn: &mut Connection,
    tenant_id: i64,
    run_id: i64,
    results: SyncRunResults,
) -> StoreResult<(Vec<bool>, bool)> {
    let SyncRunResults { finishes, entries, counts } = results;
    let mut answers = vec![false; finishes.len()];
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_error)?;
    let integration_id: Option<i64> = tx
        .prepare_cached(
            "UPDATE sync_runs SET created = created + ?3, updated = updated + ?4, deactivated = deactivated + ?5,
                 unchanged = unchanged + ?6, failed = failed + ?7
             WHERE tenant_id = ?1 AND id = ?2 AND status = 'running'
             RETURNING integration_id",
        )
        .and_then(|mut stmt| {
            stmt.query_row(
                params![
                    tenant_id,
                    run_id,
                    counts.created,
                    counts.updated,
                    counts.deactivated,
                    counts.unchanged,
                    counts.failed
                ],
                |r| r.get(0),
            )
            .optional()
        })
        .map_err(db_error)?;
    let Some(integration_id) = integration_id else { return Ok((answers, false)) };

    // A run finishes states of its own integration only (so of its tenant):
    // any other finish is not its to store, and answers false.
    let (positions, ours): (Vec<usize>, Vec<SyncFinish>) =
        finishes.into_iter().enumerate().filter(|(_, f)| f.integration_id == integration_id).unzip();
    let applied = apply_finishes(&tx, &ours)?;
    for (position, applied) in positions.into_iter().zip(&applied) {
        answers[position] = *applied;
    }

    let last: i64 = tx
        .prepare_cached("SELECT COALESCE(max(seq), 0) FROM sync_run_log WHERE run_id = ?1")
        .and_then(|mut stmt| stmt.query_row([run_id], |r| r.get(0)))
        .map_err(db_error)?;
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO sync_run_log (run_id, seq, external_id, action, attributes, outcome, errors, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .map_err(db_error)?;
        for (seq, entry) in (last + 1..).zip(&entries) {
            let errors = serde_json::to_string(&entry.errors).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            stmt.execute(params![
                run_id,
                seq,
                entry.external_id,
                entry.action.as_str(),
                entry.attributes.to_string(),
                entry.outcome.as_str(),
                errors,
                ms(entry.at)
            ])
            .map_err(db_error)?;
        }
    }
    tx.commit().map_err(db_error)?;
    let any_applied = applied.iter().any(|a| *a);
    Ok((answers, any_applied))
}
