//! Claiming due syncs and finishing them: the scheduler's lease protocol.
//!
//! A claim moves due states to `syncing`, bumps their `claim` (the fencing
//! token) and sets `due_at` (and the wake-up time) to the end of the lease. A worker that dies
//! leaves its states `syncing` with a passed `due_at`, and the next claim
//! takes them again with a higher token; the dead worker's late finish then
//! names a stale token and is refused. That is the whole of the protocol:
//! no heartbeats, no in-memory timers.

use lockstep_store::finish_rules::finished_state;
use lockstep_store::{ClaimedSync, StoreResult, SyncFinish, Timestamp};

use crate::records::{record_from_row, NAMES_R, RECORD_COLUMNS_R};
use crate::sync_states::{errors_json, state_from_row};
use sqlx::Row;

use crate::{corrupt, db_error, ms, signal, PgStore};

impl PgStore {
    /// Claims due states. Returns nothing only when nothing is due: a
    /// statement whose woken states were all deferred (debounced after they
    /// were queued) is followed by another, and a deferred state is not
    /// woken twice by one claim, since its wake-up time moves past `now`.
    pub(crate) async fn claim(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedSync>> {
        loop {
            let (claimed, deferred) = self.claim_step(now, lease_until, limit).await?;
            if !claimed.is_empty() || deferred == 0 {
                return Ok(claimed);
            }
        }
    }

    /// One statement over the states whose wake-up time has passed
    /// (migration 0003): those whose due time has passed too are claimed;
    /// the others, debounced since they were queued, are deferred (their
    /// wake-up time moves to their due time). Returns the claims and the
    /// number deferred.
    ///
    /// `FOR UPDATE SKIP LOCKED` makes concurrent claimers partition the
    /// woken rows instead of queueing on each other; a row whose claim
    /// committed just before ours locked it is re-checked by PostgreSQL
    /// against `wake_at <= now` and dropped, since its new lease lies in the
    /// future. `MATERIALIZED` keeps the locking subquery from being inlined
    /// (and run more than once). The outer `LEFT JOIN` returns one row even
    /// when nothing is claimed, to carry the deferred count.
    ///
    /// The record is locked too (`FOR SHARE`), because a locked batch
    /// debounces by writing only the record row (migration 0007, slots.rs):
    /// a locked row is read as last committed, so a debounce that committed
    /// after this statement began still defers the state, and a batch that
    /// comes later waits for this claim and then finds the state `syncing`
    /// (and owes it the change). `SKIP LOCKED` on both: a claim never waits,
    /// so it never waits in a cycle with a batch (records, then states). The
    /// claimed record is the one locked here, as last committed.
    async fn claim_step(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<(Vec<ClaimedSync>, i64)> {
        let rows = sqlx::query(&format!(
            "WITH woken AS MATERIALIZED (
                 SELECT s.record_id AS w_record_id, s.integration_id AS w_integration_id,
                     lockstep_due_at(s.status, s.due_at, r.debounce, s.integration_id) AS w_due_at,
                     {RECORD_COLUMNS_R}
                 FROM sync_states AS s
                 JOIN records AS r ON r.id = s.record_id
                 WHERE s.status IN ('sync_pending', 'syncing') AND s.wake_at <= $1
                 ORDER BY s.wake_at
                 LIMIT $3
                 FOR UPDATE OF s SKIP LOCKED
                 FOR SHARE OF r SKIP LOCKED
             ), deferred AS (
                 -- Debounced since queued: due later, and wakes then.
                 UPDATE sync_states AS s SET due_at = w.w_due_at, wake_at = w.w_due_at
                 FROM woken AS w
                 WHERE w.w_due_at > $1
                   AND s.record_id = w.w_record_id AND s.integration_id = w.w_integration_id
                 RETURNING 1
             ), claimed AS (
                 UPDATE sync_states AS s
                 SET status = 'syncing', claim = s.claim + 1, attempts = s.attempts + 1,
                     due_at = $2, wake_at = $2, pending_since = NULL, updated_at = $1,
                     -- From pending the sync starts fresh; a reclaimed sync
                     -- still owes the change that arrived during it.
                     changed_during_sync = (s.status = 'syncing' AND s.changed_during_sync)
                 FROM woken AS w
                 WHERE w.w_due_at <= $1
                   AND s.record_id = w.w_record_id AND s.integration_id = w.w_integration_id
                 RETURNING s.*, w.*
             )
             SELECT d.deferred, c.*
             FROM (SELECT count(*) AS deferred FROM deferred) AS d
             LEFT JOIN claimed AS c ON TRUE"
        ))
        .bind(ms(now))
        .bind(ms(lease_until))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        let deferred = match rows.first() {
            Some(row) => row.try_get("deferred").map_err(corrupt)?,
            None => 0,
        };
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            // The row that only carries the count has no claim.
            if row.try_get::<Option<i64>, _>("record_id").map_err(corrupt)?.is_none() {
                continue;
            }
            claimed.push(ClaimedSync {
                state: state_from_row(row)?,
                record: record_from_row(row, &NAMES_R).map_err(corrupt)?,
            });
        }
        Ok((claimed, deferred))
    }

    /// One fenced `UPDATE … FROM UNNEST` for the whole batch: a finish
    /// applies only to a state still `syncing` under the same claim. What a
    /// finish writes depends on `changed_during_sync` as stored at that
    /// moment (a record write may set it after the claim), so each finish
    /// sends both of [`finished_state`]'s answers and the statement takes
    /// the one the stored flag names; the rule itself lives in
    /// `lockstep_store::finish_rules`, not here.
    pub(crate) async fn finish(&self, finishes: Vec<SyncFinish>) -> StoreResult<Vec<bool>> {
        if finishes.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let (done, new_work) = apply_finishes(&mut tx, &finishes).await?;
        if new_work {
            signal::notify_on_commit(&mut tx).await.map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        if new_work {
            self.signal.notify_waiters();
        }
        Ok(done)
    }
}

/// The statement of [`PgStore::finish`], on the caller's transaction (a
/// Sync Now run stores its finishes with its log entries). Returns, per
/// finish, whether it applied, and whether any made new due work (a retry,
/// or a sync gone back to pending): the caller then signals the workers on
/// commit.
pub(crate) async fn apply_finishes(
    tx: &mut sqlx::PgConnection,
    finishes: &[SyncFinish],
) -> StoreResult<(Vec<bool>, bool)> {
    if finishes.is_empty() {
        return Ok((Vec::new(), false));
    }
    let n = finishes.len();
    let mut record_ids = Vec::with_capacity(n);
    let mut integration_ids = Vec::with_capacity(n);
    let mut claims = Vec::with_capacity(n);
    // Per flag value: [0] when no change arrived during the sync, [1] when one did.
    let mut statuses: [Vec<&str>; 2] = [Vec::with_capacity(n), Vec::with_capacity(n)];
    let mut due_ats: [Vec<Option<Timestamp>>; 2] = [Vec::with_capacity(n), Vec::with_capacity(n)];
    let mut pending_sinces: [Vec<Option<Timestamp>>; 2] = [Vec::with_capacity(n), Vec::with_capacity(n)];
    let mut reset_attempts: [Vec<bool>; 2] = [Vec::with_capacity(n), Vec::with_capacity(n)];
    let mut owed_changes: [Vec<bool>; 2] = [Vec::with_capacity(n), Vec::with_capacity(n)];
    // These do not depend on the flag.
    let mut last_synced_ats = Vec::with_capacity(n);
    let mut errors = Vec::with_capacity(n);
    let mut remote_ids = Vec::with_capacity(n);
    let mut updated_ats = Vec::with_capacity(n);
    for f in finishes {
        record_ids.push(f.record_id);
        integration_ids.push(f.integration_id);
        claims.push(f.claim);
        for (i, changed) in [false, true].into_iter().enumerate() {
            let next = finished_state(f, changed);
            statuses[i].push(next.status.as_str());
            due_ats[i].push(next.due_at.map(ms));
            pending_sinces[i].push(next.pending_since.map(ms));
            reset_attempts[i].push(next.reset_attempts);
            owed_changes[i].push(next.changed_during_sync);
        }
        let next = finished_state(f, false);
        last_synced_ats.push(next.last_synced_at.map(ms));
        errors.push(errors_json(next.errors)?);
        remote_ids.push(next.remote_id.map(str::to_owned));
        updated_ats.push(ms(next.updated_at));
    }

    // The states are locked in key order before any is updated, as a
    // locked record write (records.rs) and a Sync Now claim (run_claims.rs)
    // lock them: a batch's `UPDATE … FROM UNNEST` would otherwise take them
    // in whatever order its join meets them (the claim's, by due time), and
    // a finish holding one record's state while a write holds another's
    // would wait in a cycle. `ORDER BY` with `FOR UPDATE` locks in the sort's
    // order, and a materialized CTE is run once.
    let applied: Vec<(i64, String)> = sqlx::query(
        "WITH f AS MATERIALIZED (
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[],
                 $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[],
                 $8::timestamptz[], $9::timestamptz[], $10::bool[], $11::bool[], $12::bool[], $13::bool[],
                 $14::timestamptz[], $15::jsonb[], $16::text[], $17::timestamptz[])
             WITH ORDINALITY
             AS f (record_id, integration_id, claim,
                   status, status_c, due_at, due_at_c,
                   pending_since, pending_since_c, reset, reset_c, owed, owed_c,
                   last_synced_at, errors, remote_id, updated_at, ord)
         ), locked AS MATERIALIZED (
             SELECT l.record_id, l.integration_id
             FROM f JOIN sync_states AS l ON l.record_id = f.record_id AND l.integration_id = f.integration_id
             ORDER BY l.record_id, l.integration_id
             FOR UPDATE OF l
         )
         UPDATE sync_states AS s SET
             status = CASE WHEN s.changed_during_sync THEN f.status_c ELSE f.status END,
             due_at = CASE WHEN s.changed_during_sync THEN f.due_at_c ELSE f.due_at END,
             wake_at = CASE WHEN s.changed_during_sync THEN f.due_at_c ELSE f.due_at END,
             pending_since = CASE WHEN s.changed_during_sync THEN f.pending_since_c ELSE f.pending_since END,
             attempts = CASE WHEN (CASE WHEN s.changed_during_sync THEN f.reset_c ELSE f.reset END)
                 THEN 0 ELSE s.attempts END,
             changed_during_sync = CASE WHEN s.changed_during_sync THEN f.owed_c ELSE f.owed END,
             last_synced_at = COALESCE(f.last_synced_at, s.last_synced_at),
             errors = f.errors,
             remote_id = COALESCE(f.remote_id, s.remote_id),
             updated_at = f.updated_at
         FROM f JOIN locked AS l ON l.record_id = f.record_id AND l.integration_id = f.integration_id
         WHERE s.record_id = f.record_id AND s.integration_id = f.integration_id
           AND s.claim = f.claim AND s.status = 'syncing'
         RETURNING f.ord, s.status",
    )
    .bind(&record_ids)
    .bind(&integration_ids)
    .bind(&claims)
    .bind(&statuses[0])
    .bind(&statuses[1])
    .bind(&due_ats[0])
    .bind(&due_ats[1])
    .bind(&pending_sinces[0])
    .bind(&pending_sinces[1])
    .bind(&reset_attempts[0])
    .bind(&reset_attempts[1])
    .bind(&owed_changes[0])
    .bind(&owed_changes[1])
    .bind(&last_synced_ats)
    .bind(&errors)
    .bind(&remote_ids)
    .bind(&updated_ats)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_error)?
    .iter()
    .map(|row| Ok((row.try_get::<i64, _>(0)?, row.try_get::<String, _>(1)?)))
    .collect::<Result<_, sqlx::Error>>()
    .map_err(corrupt)?;

    // A retry, or a sync that goes back to pending, is new due work.
    // (RETURNING shows the new status.)
    let new_work = applied.iter().any(|(_, status)| status == "syncing" || status == "sync_pending");
    let mut done = vec![false; finishes.len()];
    for (ord, _) in applied {
        // ORDINALITY counts from 1.
        done[(ord - 1) as usize] = true;
    }
    Ok((done, new_work))
}
