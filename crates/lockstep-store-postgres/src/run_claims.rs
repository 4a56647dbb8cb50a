//! The sync states of a Sync Now run: claiming them for the run, and
//! storing a batch of its results with the finishes of those states.
//!
//! A run pushes through the same per-(record, integration) sync states as
//! the debounced write sync, so that a record's state ends as a push would
//! leave it whoever pushed. Its claims are fenced like any other (the
//! `claim` grows), and its results are stored with the very statement that
//! `finish_syncs` runs (claims.rs), in the transaction that adds its log
//! entries. The status counts follow by the triggers of migration 0009, as
//! for any other change of a status.
//!
//! **Locks.** Unlike the scheduler's claim, a run's claim cannot skip a
//! locked row: it owes an answer for every record. So it takes the locks a
//! record write takes, in the same order (records.rs): the records first,
//! `FOR UPDATE`, in `external_id` order (byte order, as a write sorts its
//! keys), then their states, `FOR UPDATE`, in record order. A locking write
//! and a run's claim thus wait for each other rather than interleave: a
//! write that comes first leaves the state as it planned, and the claim
//! takes it as it is then; a write that comes after finds the state
//! `syncing` and owes it the change (`changed_during_sync`), which the
//! run's finish turns into a new grace period. A read-then-write write
//! (optimistic.rs) checks the states it read at its store, and the claim's
//! change of status and claim fails that check, sending it down the locking
//! path. The integration's row is held `FOR KEY SHARE`, so an integration
//! delete (which removes its states) cannot slip between the check and a
//! new state. What remains, a cycle with a finisher or a write on the
//! read-then-write path that locks in another order, PostgreSQL breaks by
//! aborting one side; a claim so aborted wrote nothing and starts over.
//!
//! **The debounce entry.** A locked write may keep a pending state's due
//! time in its record's `debounce` column (migration 0007), trusting that a
//! claim only ever takes a state at or after that time. A run's claim takes
//! states before they are due, so it removes the record's entry for the
//! integration, as a retry does; left behind, it would hold a later re-pend
//! of the state back to the old, later time.

use std::collections::{HashMap, HashSet};

use lockstep_store::{ClaimedSync, Record, RunClaim, StoreResult, SyncFinish, SyncRunResults, SyncState, Timestamp};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::Row;

use crate::claims::apply_finishes;
use crate::records::{is_deadlock, record_from_row, NAMES, RECORD_COLUMNS};
use crate::sync_states::{errors_json, state_from_row, STATE_COLUMNS};
use crate::{corrupt, db_error, ms, signal, write_changes, PgStore};

/// How often a claim starts over after it deadlocked.
const CLAIM_ATTEMPTS: u32 = 3;

/// What one claim transaction locked and claimed, as rows: the records
/// found, and the states claimed. A record found whose state was not
/// claimed is busy.
#[derive(Default)]
struct Claimed {
    records: Vec<PgRow>,
    states: Vec<PgRow>,
}

impl PgStore {
    /// `claim_syncs_for_run`; `now` and `lease_until` at the millisecond.
    pub(crate) async fn claim_for_run(
        &self,
        tenant_id: i64,
        integration_id: i64,
        record_ids: &[i64],
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<Vec<RunClaim>> {
        let mut attempt = 1;
        let claimed = loop {
            match self.try_claim_for_run(tenant_id, integration_id, record_ids, now, lease_until).await {
                Ok(claimed) => break claimed,
                Err(error) if is_deadlock(&error) && attempt < CLAIM_ATTEMPTS => {
                    tracing::debug!(attempt, "a run's claim deadlocked; starting over");
                    attempt += 1;
                }
                Err(error) => return Err(db_error(error)),
            }
        };
        let records: HashMap<i64, Record> = claimed
            .records
            .iter()
            .map(|row| record_from_row(row, &NAMES).map(|r| (r.id, r)))
            .collect::<Result<_, _>>()
            .map_err(corrupt)?;
        let mut states: HashMap<i64, SyncState> = claimed
            .states
            .iter()
            .map(|row| state_from_row(row).map(|s| (s.record_id, s)))
            .collect::<StoreResult<_>>()?;
        // One answer per id given, in order. An id given twice is answered
        // as if claimed twice in a row: the second finds the first's lease.
        let mut answers = Vec::with_capacity(record_ids.len());
        let mut answered = HashSet::with_capacity(record_ids.len());
        for &record_id in record_ids {
            let first = answered.insert(record_id);
            let answer = match (states.remove(&record_id), records.get(&record_id)) {
                (Some(state), Some(record)) if first => {
                    RunClaim::Claimed(ClaimedSync { state, record: record.clone() })
                }
                _ if records.contains_key(&record_id) => RunClaim::Busy { record_id },
                _ => RunClaim::Missing { record_id },
            };
            answers.push(answer);
        }
        Ok(answers)
    }

    /// One claim transaction (see the module docs for its locks).
    async fn try_claim_for_run(
        &self,
        tenant_id: i64,
        integration_id: i64,
        record_ids: &[i64],
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Claimed, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let record_type: Option<String> =
            sqlx::query_scalar("SELECT record_type FROM integrations WHERE tenant_id = $1 AND id = $2 FOR KEY SHARE")
                .bind(tenant_id)
                .bind(integration_id)
                .fetch_optional(&mut *tx)
                .await?;
        // No such integration: every record is missing from it.
        let Some(record_type) = record_type else { return Ok(Claimed::default()) };

        // The tenant's records of the integration's type, locked in key
        // order: the ids are looked up unlocked first (a record's key never
        // changes), sorted, and each locked by its own probe, in that order
        // (a subquery with ORDER BY is not flattened, and the nested loop
        // walks it in order).
        //
        // The tenant and type are tested outside the probe: PostgreSQL does
        // not push a condition into a subquery with OFFSET, so the probe is
        // by id alone, on the primary key. Inside it, for a tenant the
        // statistics have not seen yet (one that was created, or loaded its
        // records, since the last ANALYZE), PostgreSQL estimated one record
        // for the tenant and type and probed by them instead, walking every
        // record of the tenant for each id: 60 ms an id at 100,000 records,
        // most of a 100,000-create Sync Now's time in a shared database.
        let records = sqlx::query(&format!(
            "SELECT r.* FROM (
                 SELECT d.id FROM (SELECT DISTINCT id FROM UNNEST($3::bigint[]) AS u (id)) AS d
                 CROSS JOIN LATERAL (
                     SELECT external_id, tenant_id, record_type FROM records WHERE id = d.id OFFSET 0
                 ) AS e
                 WHERE e.tenant_id = $1 AND e.record_type = $2
                 ORDER BY e.external_id COLLATE \"C\"
             ) AS k
             CROSS JOIN LATERAL (SELECT {RECORD_COLUMNS} FROM records WHERE id = k.id FOR UPDATE) AS r"
        ))
        .bind(tenant_id)
        .bind(&record_type)
        .bind(record_ids)
        .fetch_all(&mut *tx)
        .await?;
        let mut ids = records.iter().map(|row| row.try_get::<i64, _>("id")).collect::<Result<Vec<_>, _>>()?;
        ids.sort_unstable();

        // Their states, locked in record order, each by a probe of the key.
        let held = sqlx::query(
            "SELECT s.record_id, s.status, s.due_at FROM UNNEST($2::bigint[]) AS k (id)
             CROSS JOIN LATERAL (
                 SELECT record_id, status, due_at FROM sync_states
                 WHERE record_id = k.id AND integration_id = $1
                 FOR UPDATE
             ) AS s",
        )
        .bind(integration_id)
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        let mut busy = HashSet::new();
        let mut existing = Vec::with_capacity(held.len());
        for row in &held {
            let record_id: i64 = row.try_get("record_id")?;
            let status: String = row.try_get("status")?;
            let due_at: Option<Timestamp> = row.try_get("due_at")?;
            // A syncing state under a live lease (or waiting for its retry
            // time) belongs to whoever holds it.
            if status == "syncing" && due_at.is_some_and(|due| due > now) {
                busy.insert(record_id);
            } else {
                existing.push(record_id);
            }
        }
        let fresh: Vec<i64> = {
            let held: HashSet<i64> = existing.iter().chain(&busy).copied().collect();
            ids.iter().copied().filter(|id| !held.contains(id)).collect()
        };

        // A new sync of each: attempts start again, the quiet period (if
        // any) is over, a change owed by an abandoned sync stays owed.
        write_changes::plan_joins_as_probes(&mut tx).await?;
        let states = sqlx::query(&format!(
            "WITH claimed AS (
                 UPDATE sync_states AS s
                 SET status = 'syncing', claim = s.claim + 1, attempts = 1,
                     changed_during_sync = (s.status = 'syncing' AND s.changed_during_sync),
                     due_at = $3, wake_at = $3, pending_since = NULL, updated_at = $4
                 FROM UNNEST($1::bigint[]) AS u (record_id)
                 WHERE s.record_id = u.record_id AND s.integration_id = $2
                 RETURNING s.*
             ), created AS (
                 INSERT INTO sync_states
                     (record_id, integration_id, tenant_id, status, due_at, wake_at, claim, attempts, updated_at)
                 SELECT u.record_id, $2, $6, 'syncing', $3, $3, 1, 1, $4 FROM UNNEST($5::bigint[]) AS u (record_id)
                 RETURNING *
             ), cleared AS (
                 UPDATE records AS r SET debounce = r.debounce - ($2::bigint)::text
                 FROM UNNEST($1::bigint[]) AS u (id)
                 WHERE r.id = u.id AND r.debounce ? ($2::bigint)::text
             )
             SELECT {STATE_COLUMNS} FROM claimed
             UNION ALL
             SELECT {STATE_COLUMNS} FROM created"
        ))
        .bind(&existing)
        .bind(integration_id)
        .bind(lease_until)
        .bind(now)
        .bind(&fresh)
        .bind(tenant_id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Claimed { records, states })
    }

    /// `record_sync_run_results`: the counts (which locks the run's row,
    /// see sync_runs.rs), the fenced finishes, the log entries, one
    /// transaction.
    pub(crate) async fn record_run_results(
        &self,
        tenant_id: i64,
        run_id: i64,
        results: SyncRunResults,
    ) -> StoreResult<Vec<bool>> {
        let SyncRunResults { finishes, entries, counts } = results;
        let mut answers = vec![false; finishes.len()];
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let integration_id: Option<i64> = sqlx::query_scalar(
            "UPDATE sync_runs SET created = created + $3, updated = updated + $4, deactivated = deactivated + $5,
                 unchanged = unchanged + $6, failed = failed + $7
             WHERE tenant_id = $1 AND id = $2 AND status = 'running'
             RETURNING integration_id",
        )
        .bind(tenant_id)
        .bind(run_id)
        .bind(counts.created)
        .bind(counts.updated)
        .bind(counts.deactivated)
        .bind(counts.unchanged)
        .bind(counts.failed)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some(integration_id) = integration_id else { return Ok(answers) };

        // A run finishes states of its own integration only (so of its
        // tenant): any other finish is not its to store, and answers false.
        let (positions, ours): (Vec<usize>, Vec<SyncFinish>) =
            finishes.into_iter().enumerate().filter(|(_, f)| f.integration_id == integration_id).unzip();
        let (applied, new_work) = apply_finishes(&mut tx, &ours).await?;
        for (position, applied) in positions.into_iter().zip(applied) {
            answers[position] = applied;
        }

        if !entries.is_empty() {
            // The run's row is locked above, so no other batch of the run
            // draws seqs until this one commits.
            sqlx::query(
                "INSERT INTO sync_run_log (run_id, seq, external_id, action, attributes, outcome, errors, at)
                 SELECT $1, last.seq + u.ord, u.external_id, u.action, u.attributes, u.outcome, u.errors, u.at
                 FROM (SELECT COALESCE(max(seq), 0) AS seq FROM sync_run_log WHERE run_id = $1) AS last,
                      UNNEST($2::text[], $3::text[], $4::jsonb[], $5::text[], $6::jsonb[], $7::timestamptz[])
                          WITH ORDINALITY AS u (external_id, action, attributes, outcome, errors, at, ord)",
            )
            .bind(run_id)
            .bind(entries.iter().map(|e| e.external_id.as_str()).collect::<Vec<&str>>())
            .bind(entries.iter().map(|e| e.action.as_str()).collect::<Vec<&str>>())
            .bind(entries.iter().map(|e| &e.attributes).collect::<Vec<&Value>>())
            .bind(entries.iter().map(|e| e.outcome.as_str()).collect::<Vec<&str>>())
            .bind(entries.iter().map(|e| errors_json(&e.errors)).collect::<StoreResult<Vec<Value>>>()?)
            .bind(entries.iter().map(|e| ms(e.at)).collect::<Vec<Timestamp>>())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }

        // As after finish_syncs: a retry or a re-pend is new due work.
        if new_work {
            signal::notify_on_commit(&mut tx).await.map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        if new_work {
            self.signal.notify_waiters();
        }
        Ok(answers)
    }
}
