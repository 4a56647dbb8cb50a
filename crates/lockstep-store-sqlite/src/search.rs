//! The console's record search ([`search_rules`]): reads of live records
//! whose external id or fields' JSON text match the patterns (`LIKE`
//! ignores ASCII case, and only ASCII case, as the rule does), kept by the
//! rule.
//!
//! `NOT INDEXED` walks the table in id order from the cursor and stops at
//! the read's last candidate. Through the unique key on (tenant, type,
//! external id), SQLite would read every record of the type and sort the
//! candidates, for every read: a search that keeps few candidates (text in
//! every record's JSON, such as a key) would read the type again and
//! again. The walk passes other tenants' and types' records on its way,
//! but a whole search reads each row at most once, whatever it finds.

use lockstep_store::search_rules::{self, SearchScan};
use lockstep_store::{Record, StoreResult};
use rusqlite::{params, Connection};

use crate::codec::{record, RECORD_COLUMNS};
use crate::db_error;

/// Candidates the search reads per statement: enough that a page of
/// results is mostly one read.
const CANDIDATES_PER_READ: u32 = 200;

pub(crate) fn search(
    conn: &Connection,
    tenant_id: i64,
    record_type: &str,
    text: &str,
    after_id: Option<i64>,
    limit: u32,
) -> StoreResult<Vec<Record>> {
    let (id_pattern, fields_pattern) = (search_rules::id_pattern(text), search_rules::fields_pattern(text));
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM records NOT INDEXED
             WHERE tenant_id = ?1 AND record_type = ?2 AND id > ?3 AND deleted_at IS NULL
               AND (external_id LIKE ?4 ESCAPE '\\' OR fields LIKE ?5 ESCAPE '\\')
             ORDER BY id LIMIT ?6"
        ))
        .map_err(db_error)?;
    let mut scan = SearchScan::new(text, after_id, limit);
    while let Some(after) = scan.next_read() {
        let rows = stmt
            .query_map(params![tenant_id, record_type, after, id_pattern, fields_pattern, CANDIDATES_PER_READ], record)
            .map_err(db_error)?;
        let candidates: Vec<Record> = rows.collect::<Result<_, _>>().map_err(db_error)?;
        // A short read found every candidate there was.
        let full = candidates.len() == CANDIDATES_PER_READ as usize;
        let read_to = candidates.last().map(|r| r.id).filter(|_| full);
        scan.take(candidates, read_to);
    }
    Ok(scan.found())
}
