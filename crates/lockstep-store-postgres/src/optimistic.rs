//! The read-then-write path of a record write (records.rs has the overview):
//! one unlocked read of the batch's records and their sync states, planning
//! in memory, and one checked statement (write_changes.rs) that is its own
//! transaction. Two round trips where the locking path takes five, and no
//! row locks held across the planning.
//!
//! Why it is safe: the read takes one snapshot, so the planner sees the
//! records and states as they were together at one instant. The statement
//! then stores only if every row it changes, and every record it read but
//! left alone, is still as read; a claim, a finish or a concurrent write in
//! between makes it raise and store nothing. Keys with no record get an id
//! from the records' sequence in the read and are inserted; a key someone
//! else created in between fails the insert on the unique index. Either way
//! the caller writes the batch again under locks. An id drawn for a write
//! that did not store is never used; ids stay unique and increasing, with
//! gaps, as after any rolled-back insert.
//!
//! The read also takes the tenant's integrations version, so a planner
//! holding older integrations is refused before it plans. An integration
//! changed after the read is a change concurrent with the write, which may
//! then be ordered before it, as on the locking path.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use lockstep_store::{ensure_current_integrations, RecordWritten, StoreResult};
use sqlx::Row;

use crate::debounce::{self, Debounce};
use crate::records::{record_from_row, Batch, NAMES_R, RECORD_COLUMNS, RECORD_COLUMNS_R};
use crate::slots::{self, Slot};
use crate::sync_states::{state_columns_of, state_from_row, STATE_COLUMNS};
use crate::write_changes::{self, is_stale_read};
use crate::{corrupt, db_error, PgStore};

impl PgStore {
    /// Writes the batch without holding locks
    /// while it plans. `None` when a row it read changed before it stored:
    /// nothing was stored.
    pub(crate) async fn write_optimistically(
        &self,
        batch: &Batch<'_>,
    ) -> StoreResult<Option<(Vec<RecordWritten>, bool)>> {
        let Batch { tenant_id, record_type, ref keys, writes, planner, now } = *batch;
        // One row per (key, state); one row with no record and a fresh id
        // per missing key (CASE evaluates `nextval` only there).
        //
        // Each lookup must stay an index probe per key under a generic plan:
        // without a fence PostgreSQL flattens the LATERAL subquery into a
        // join, and a plan made while the tables looked small then scans
        // every record of the tenant per key (8 s for 1,000 keys of 20,000
        // records). A subquery with a LIMIT or an OFFSET is never flattened;
        // `LIMIT 1` of a unique key and `OFFSET 0` change no result.
        //
        // One key (a lone single write) reads through `$3` as a scalar. With
        // an array PostgreSQL cannot tell how many keys a generic plan will
        // meet, judges it dearer than a plan for the actual keys, and so
        // plans every call afresh (0.12 ms, more than the read itself); a
        // scalar key gets its generic plan after a few calls.
        let keys_from = if keys.len() == 1 { "(SELECT $3::text) AS k (key)" } else { "UNNEST($3::text[]) AS k (key)" };
        let statement = format!(
            "SELECT k.key, {RECORD_COLUMNS_R}, r.debounce AS r_debounce, {s_columns},
                 CASE WHEN r.id IS NULL THEN nextval('records_id_seq') END AS new_id,
                 (SELECT integrations_version FROM tenants WHERE id = $1) AS integrations_version
             FROM {keys_from}
             LEFT JOIN LATERAL (
                 SELECT {RECORD_COLUMNS}, debounce FROM records
                 WHERE tenant_id = $1 AND record_type = $2 AND external_id = k.key
                 LIMIT 1
             ) AS r ON TRUE
             LEFT JOIN LATERAL (
                 SELECT {STATE_COLUMNS} FROM sync_states WHERE record_id = r.id OFFSET 0
             ) AS s ON TRUE",
            s_columns = state_columns_of("s"),
        );
        let query = sqlx::query(&statement).bind(tenant_id).bind(record_type);
        let query = match keys.as_slice() {
            [key] => query.bind(*key),
            keys => query.bind(keys),
        };
        let rows = query.fetch_all(&self.pool).await.map_err(db_error)?;

        // Every key has a row, so there is a first one.
        let current = rows[0].try_get::<Option<i64>, _>("integrations_version").map_err(corrupt)?;
        ensure_current_integrations(planner, current.unwrap_or(0))?;

        let mut slots: HashMap<String, Slot> = HashMap::with_capacity(keys.len());
        for row in &rows {
            let key: String = row.try_get("key").map_err(corrupt)?;
            // A record's columns repeat on each of its states' rows; the
            // first row decodes them.
            let slot = match slots.entry(key) {
                Entry::Occupied(slot) => slot.into_mut(),
                Entry::Vacant(slot) => {
                    let read = match row.try_get::<Option<i64>, _>("new_id").map_err(corrupt)? {
                        Some(id) => Slot::read(
                            Slot::placeholder(id, tenant_id, record_type, slot.key(), now),
                            true,
                            Debounce::new(),
                        ),
                        None => Slot::read(
                            record_from_row(row, &NAMES_R).map_err(corrupt)?,
                            false,
                            debounce::from_json(&row.try_get("r_debounce").map_err(corrupt)?)?,
                        ),
                    };
                    slot.insert(read)
                }
            };
            if row.try_get::<Option<i64>, _>("integration_id").map_err(corrupt)?.is_some() {
                slot.read_state(state_from_row(row)?);
            }
        }

        // No locks held: every change of a state goes into its row (slots.rs).
        let (results, wakes_workers) = slots::plan_batch(&mut slots, writes, planner, now, false)?;
        let changes = slots::changes(&slots, wakes_workers, true);
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        match write_changes::store(&mut conn, &changes).await {
            Ok(()) => Ok(Some((results, wakes_workers))),
            Err(error) if is_stale_read(&error) => {
                tracing::debug!(%error, "a record write read rows that changed before it stored; writing it under locks");
                Ok(None)
            }
            Err(error) => Err(db_error(error)),
        }
    }
}
