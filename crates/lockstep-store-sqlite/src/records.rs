//! Records ([`RecordStore`]) and the one transaction that writes them with
//! the sync states they imply.

use std::collections::BTreeMap;

use async_trait::async_trait;
use lockstep_store::{
    apply_planned_sync, ensure_current_integrations, write_rules, PlannedSync, Record, RecordStore, RecordWrite,
    RecordWritten, StoreResult, SyncPlanner, SyncState, SyncStatus, Timestamp,
};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

use crate::codec::{id_list, ms, record, sync_state, RECORD_COLUMNS, STATE_COLUMNS};
use crate::{db_error, SqliteStore};

/// Writes a batch in one `IMMEDIATE` transaction (the write lock is taken
/// before the first read, so what the planner sees cannot change before the
/// commit). Returns the results and whether any sync became pending.
fn write_records(
    conn: &mut Connection,
    tenant_id: i64,
    record_type: &str,
    writes: &[RecordWrite],
    planner: &dyn SyncPlanner,
    now: Timestamp,
) -> StoreResult<(Vec<RecordWritten>, bool)> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_error)?;
    if planner.integrations_version().is_some() {
        ensure_current_integrations(planner, crate::integrations::integrations_version(&tx, tenant_id)?)?;
    }
    let mut results = Vec::with_capacity(writes.len());
    let mut planned_work = false;
    for write in writes {
        // Reads inside the transaction see its own writes, so a repeated id
        // in the batch sees its predecessor in the batch as its previous.
        let previous = load(&tx, tenant_id, record_type, &write.external_id)?;
        let states = match &previous {
            Some(r) => states_of(&tx, r.id)?,
            None => Vec::new(),
        };
        write_rules::check_expected_version(write, previous.as_ref())?;
        let plan = planner.plan(previous.as_ref(), write.fields.as_ref(), &states);
        let noop = write_rules::is_noop(previous.as_ref(), write.fields.as_ref(), &plan);
        if noop {
            results.push(RecordWritten {
                record: previous.expect("a no-op has a previous record"),
                created: false,
                changed_fields: Vec::new(),
                affected_integrations: Vec::new(),
                states,
            });
            continue;
        }
        let created = write_rules::is_create(previous.as_ref(), write.fields.as_ref());
        let stored = store_record(&tx, tenant_id, record_type, write, previous.as_ref(), now)?;
        let mut states: BTreeMap<i64, SyncState> = states.into_iter().map(|s| (s.integration_id, s)).collect();
        let mut affected = Vec::with_capacity(plan.syncs.len());
        for sync in &plan.syncs {
            let before = states.get(&sync.integration_id()).map(|s| (s.status, s.due_at));
            // The SQL and the in-memory answer make the same change.
            if apply_planned_sync(&mut states, &stored, sync, now) {
                apply_sync(&tx, tenant_id, stored.id, sync, before, now)?;
                planned_work |= matches!(sync, PlannedSync::Pending { .. });
                affected.push(sync.integration_id());
            }
        }
        results.push(RecordWritten {
            record: stored,
            created,
            changed_fields: plan.changed_fields,
            affected_integrations: affected,
            states: states.into_values().collect(),
        });
    }
    tx.commit().map_err(db_error)?;
    Ok((results, planned_work))
}

fn load(tx: &Transaction<'_>, tenant_id: i64, record_type: &str, external_id: &str) -> StoreResult<Option<Record>> {
    tx.prepare_cached(&format!(
        "SELECT {RECORD_COLUMNS} FROM records WHERE tenant_id = ?1 AND record_type = ?2 AND external_id = ?3"
    ))
    .and_then(|mut stmt| stmt.query_row(params![tenant_id, record_type, external_id], record).optional())
    .map_err(db_error)
}

/// A record's states, by integration id.
fn states_of(tx: &Transaction<'_>, record_id: i64) -> StoreResult<Vec<SyncState>> {
    let mut stmt = tx
        .prepare_cached(&format!(
            "SELECT {STATE_COLUMNS} FROM sync_states WHERE record_id = ?1 ORDER BY integration_id"
        ))
        .map_err(db_error)?;
    let rows = stmt.query_map([record_id], sync_state).map_err(db_error)?;
    rows.collect::<Result<_, _>>().map_err(db_error)
}

fn store_record(
    tx: &Transaction<'_>,
    tenant_id: i64,
    record_type: &str,
    write: &RecordWrite,
    previous: Option<&Record>,
    now: Timestamp,
) -> StoreResult<Record> {
    let deleted_at = write.fields.is_none().then_some(ms(now));
    match previous {
        Some(prev) => {
            // A delete keeps the last fields, so the deactivation knows whom it is about.
            let fields = write.fields.as_ref().unwrap_or(&prev.fields).to_string();
            tx.prepare_cached(&format!(
                "UPDATE records SET fields = ?2, version = version + 1, updated_at = ?3, deleted_at = ?4 WHERE id = ?1 RETURNING {RECORD_COLUMNS}"
            ))
            .and_then(|mut stmt| stmt.query_row(params![prev.id, fields, ms(now), deleted_at], record))
            .map_err(db_error)
        }
        None => {
            let fields = write.fields.as_ref().map(|f| f.to_string()).unwrap_or_else(|| "{}".into());
            tx.prepare_cached(&format!(
                "INSERT INTO records (tenant_id, record_type, external_id, fields, version, created_at, updated_at, deleted_at)
                 VALUES (?1, ?2, ?3, ?4, 1, ?5, ?5, ?6) RETURNING {RECORD_COLUMNS}"
            ))
            .and_then(|mut stmt| stmt.query_row(params![tenant_id, record_type, write.external_id, fields, ms(now), deleted_at], record))
            .map_err(db_error)
        }
    }
}

/// Writes one planned sync. `before` is the state's status and due time as
/// read in this transaction (`None`: the record has no state for that
/// integration yet).
///
/// A debounce (pending, moved later) writes neither `status` nor `wake_at`,
/// so SQLite leaves the queue index alone (migration 0002); a state joining
/// the queue, or due earlier than it would wake, wakes at its due time.
fn apply_sync(
    tx: &Transaction<'_>,
    tenant_id: i64,
    record_id: i64,
    sync: &PlannedSync,
    before: Option<(SyncStatus, Option<Timestamp>)>,
    now: Timestamp,
) -> StoreResult<()> {
    match (sync, before) {
        (PlannedSync::Pending { integration_id, due_at, pending_since }, None) => tx
            .prepare_cached(
                "INSERT INTO sync_states (record_id, integration_id, tenant_id, status, due_at, wake_at, pending_since, updated_at)
                 VALUES (?1, ?2, ?3, 'sync_pending', ?4, ?4, ?5, ?6)",
            )
            .and_then(|mut stmt| stmt.execute(params![record_id, integration_id, tenant_id, ms(*due_at), ms(*pending_since), ms(now)])),
        (PlannedSync::Pending { integration_id, due_at, pending_since }, Some((SyncStatus::Pending, Some(was_due))))
            if *due_at >= was_due =>
        {
            tx.prepare_cached(
                "UPDATE sync_states SET due_at = ?3, pending_since = ?4, attempts = 0, changed_during_sync = 0, updated_at = ?5
                 WHERE record_id = ?1 AND integration_id = ?2",
            )
            .and_then(|mut stmt| stmt.execute(params![record_id, integration_id, ms(*due_at), ms(*pending_since), ms(now)]))
        }
        (PlannedSync::Pending { integration_id, due_at, pending_since }, Some(_)) => tx
            .prepare_cached(
                "UPDATE sync_states SET
                    status = 'sync_pending', due_at = ?3,
                    wake_at = CASE WHEN status IN ('sync_pending', 'syncing') AND wake_at <= ?3 THEN wake_at ELSE ?3 END,
                    pending_since = ?4, attempts = 0, changed_during_sync = 0, updated_at = ?5
                 WHERE record_id = ?1 AND integration_id = ?2",
            )
            .and_then(|mut stmt| stmt.execute(params![record_id, integration_id, ms(*due_at), ms(*pending_since), ms(now)])),
        (PlannedSync::ChangedDuringSync { integration_id }, _) => tx
            .prepare_cached(
                "UPDATE sync_states SET changed_during_sync = 1, updated_at = ?3
                 WHERE record_id = ?1 AND integration_id = ?2 AND status = 'syncing'",
            )
            .and_then(|mut stmt| stmt.execute(params![record_id, integration_id, ms(now)])),
    }
    .map(|_| ())
    .map_err(db_error)
}

fn get_live(conn: &Connection, tenant_id: i64, record_type: &str, external_id: &str) -> StoreResult<Option<Record>> {
    conn.prepare_cached(&format!(
        "SELECT {RECORD_COLUMNS} FROM records WHERE tenant_id = ?1 AND record_type = ?2 AND external_id = ?3 AND deleted_at IS NULL"
    ))
    .and_then(|mut stmt| stmt.query_row(params![tenant_id, record_type, external_id], record).optional())
    .map_err(db_error)
}

fn list(
    conn: &Connection,
    tenant_id: i64,
    record_type: &str,
    after_id: Option<i64>,
    limit: u32,
) -> StoreResult<Vec<Record>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM records
             WHERE tenant_id = ?1 AND record_type = ?2 AND id > ?3 AND deleted_at IS NULL
             ORDER BY id LIMIT ?4"
        ))
        .map_err(db_error)?;
    let rows =
        stmt.query_map(params![tenant_id, record_type, after_id.unwrap_or(0), limit], record).map_err(db_error)?;
    rows.collect::<Result<_, _>>().map_err(db_error)
}

/// Records of a type by external id, deleted ones included: one probe of
/// the unique key per id.
fn by_external_ids(
    conn: &Connection,
    tenant_id: i64,
    record_type: &str,
    external_ids: &[String],
) -> StoreResult<Vec<Record>> {
    let keys = serde_json::to_string(external_ids).map_err(|e| lockstep_store::StoreError::Corrupt(e.to_string()))?;
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM records
             WHERE tenant_id = ?1 AND record_type = ?2 AND external_id IN (SELECT value FROM json_each(?3))"
        ))
        .map_err(db_error)?;
    let rows = stmt.query_map(params![tenant_id, record_type, keys], record).map_err(db_error)?;
    rows.collect::<Result<_, _>>().map_err(db_error)
}

fn states_for_records(conn: &Connection, tenant_id: i64, record_ids: &[i64]) -> StoreResult<Vec<SyncState>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {STATE_COLUMNS} FROM sync_states
             WHERE tenant_id = ?1 AND record_id IN (SELECT value FROM json_each(?2))
             ORDER BY record_id, integration_id"
        ))
        .map_err(db_error)?;
    let rows = stmt.query_map(params![tenant_id, id_list(record_ids)], sync_state).map_err(db_error)?;
    rows.collect::<Result<_, _>>().map_err(db_error)
}

#[async_trait]
impl RecordStore for SqliteStore {
    async fn write_records(
        &self,
        tenant_id: i64,
        record_type: &str,
        writes: &[RecordWrite],
        planner: &dyn SyncPlanner,
        now: Timestamp,
    ) -> StoreResult<Vec<RecordWritten>> {
        let (written, planned_work) =
            self.write(|conn| write_records(conn, tenant_id, record_type, writes, planner, now))?;
        if planned_work {
            self.wake_workers();
        }
        Ok(written)
    }

    async fn get_record(&self, tenant_id: i64, record_type: &str, external_id: &str) -> StoreResult<Option<Record>> {
        self.read(|conn| get_live(conn, tenant_id, record_type, external_id))
    }

    async fn list_records(
        &self,
        tenant_id: i64,
        record_type: &str,
        after_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Record>> {
        self.read(|conn| list(conn, tenant_id, record_type, after_id, limit))
    }

    async fn search_records(
        &self,
        tenant_id: i64,
        record_type: &str,
        text: &str,
        after_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Record>> {
        self.read(|conn| crate::search::search(conn, tenant_id, record_type, text, after_id, limit))
    }

    async fn records_by_external_ids(
        &self,
        tenant_id: i64,
        record_type: &str,
        external_ids: &[String],
    ) -> StoreResult<Vec<Record>> {
        self.read(|conn| by_external_ids(conn, tenant_id, record_type, external_ids))
    }

    async fn sync_states_for_records(&self, tenant_id: i64, record_ids: &[i64]) -> StoreResult<Vec<SyncState>> {
        self.read(|conn| states_for_records(conn, tenant_id, record_ids))
    }
}
