//! Claiming due syncs and finishing them: the scheduler's lease protocol.
//!
//! A claim moves due states to `syncing`, bumps their `claim` (the fencing
//! token) and sets `due_at` (and the wake-up time) to the end of the lease. A worker that dies
//! leaves its states `syncing` with a passed `due_at`, and the next claim
//! takes them again with a higher token; the dead worker's late finish then
//! names a stale token and is refused. That is the whole of the protocol:
//! no heartbeats, no in-memory timers.

use lockstep_store::{ClaimedSync, StoreResult, SyncFinish, SyncOutcome, Timestamp};

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
    /// applies only to a state still `syncing` under the same claim. The
    /// outcome's effect is spelled out column by column in SQL, because it
    /// depends on `changed_during_sync` as stored at that moment.
    pub(crate) async fn finish(&self, finishes: Vec<SyncFinish>) -> StoreResult<Vec<bool>> {
        if finishes.is_empty() {
            return Ok(Vec::new());
        }
        let mut record_ids = Vec::with_capacity(finishes.len());
        let mut integration_ids = Vec::with_capacity(finishes.len());
        let mut claims = Vec::with_capacity(finishes.len());
        let mut kinds = Vec::with_capacity(finishes.len());
        let mut remote_ids = Vec::with_capacity(finishes.len());
        let mut errors = Vec::with_capacity(finishes.len());
        let mut retry_at = Vec::with_capacity(finishes.len());
        let mut finished_at = Vec::with_capacity(finishes.len());
        let mut repending_due_at = Vec::with_capacity(finishes.len());
        for f in &finishes {
            record_ids.push(f.record_id);
            integration_ids.push(f.integration_id);
            claims.push(f.claim);
            finished_at.push(ms(f.now));
            repending_due_at.push(ms(f.repending_due_at));
            let (kind, remote_id, errs, at) = match &f.outcome {
                SyncOutcome::Synced { remote_id } => ("synced", remote_id.clone(), &[][..], None),
                SyncOutcome::Failed { errors } => ("failed", None, &errors[..], None),
                SyncOutcome::Retry { at, errors } => ("retry", None, &errors[..], Some(ms(*at))),
            };
            kinds.push(kind);
            remote_ids.push(remote_id);
            errors.push(errors_json(errs)?);
            retry_at.push(at);
        }

        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let applied: Vec<(i64, String)> = sqlx::query_as(
            "UPDATE sync_states AS s SET
                 status = CASE
                     WHEN f.kind = 'retry' THEN 'syncing'
                     WHEN s.changed_during_sync THEN 'sync_pending'
                     WHEN f.kind = 'synced' THEN 'synced'
                     ELSE 'sync_failed' END,
                 due_at = CASE
                     WHEN f.kind = 'retry' THEN f.retry_at
                     WHEN s.changed_during_sync THEN f.repending_due_at END,
                 -- The same as due_at: a finished sync is queued afresh, if at all.
                 wake_at = CASE
                     WHEN f.kind = 'retry' THEN f.retry_at
                     WHEN s.changed_during_sync THEN f.repending_due_at END,
                 pending_since = CASE
                     WHEN f.kind <> 'retry' AND s.changed_during_sync THEN f.finished_at END,
                 attempts = CASE
                     WHEN f.kind <> 'retry' AND s.changed_during_sync THEN 0
                     ELSE s.attempts END,
                 changed_during_sync = (f.kind = 'retry' AND s.changed_during_sync),
                 last_synced_at = CASE
                     WHEN f.kind = 'synced' THEN f.finished_at ELSE s.last_synced_at END,
                 errors = f.errors,
                 remote_id = COALESCE(f.remote_id, s.remote_id),
                 updated_at = f.finished_at
             FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[],
                     $6::jsonb[], $7::timestamptz[], $8::timestamptz[], $9::timestamptz[])
                 WITH ORDINALITY
                 AS f (record_id, integration_id, claim, kind, remote_id, errors, retry_at,
                       finished_at, repending_due_at, ord)
             WHERE s.record_id = f.record_id AND s.integration_id = f.integration_id
               AND s.claim = f.claim AND s.status = 'syncing'
             RETURNING f.ord, s.status",
        )
        .bind(&record_ids)
        .bind(&integration_ids)
        .bind(&claims)
        .bind(&kinds)
        .bind(&remote_ids)
        .bind(&errors)
        .bind(&retry_at)
        .bind(&finished_at)
        .bind(&repending_due_at)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;

        // A retry, or a sync that goes back to pending, is new due work.
        // (RETURNING shows the new status.)
        let new_work = applied.iter().any(|(_, status)| status == "syncing" || status == "sync_pending");
        if new_work {
            signal::notify_on_commit(&mut tx).await.map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        if new_work {
            self.signal.notify_waiters();
        }

        let mut done = vec![false; finishes.len()];
        for (ord, _) in applied {
            // ORDINALITY counts from 1.
            done[(ord - 1) as usize] = true;
        }
        Ok(done)
    }
}
