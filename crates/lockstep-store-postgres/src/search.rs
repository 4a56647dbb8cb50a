//! The console's record search ([`search_rules`]), a read of
//! [`RECORDS_PER_READ`] live records at a time, in id order from the
//! cursor: each statement sends back those whose external id or fields'
//! JSON text (`jsonb::text`) match the patterns, and how far it read; the
//! rule keeps what it keeps.
//!
//! The records are taken before they are filtered (`scanned`), so every
//! read walks the type in id order and stops. Filtered first, with `ORDER
//! BY id LIMIT`, PostgreSQL plans by its guess of how many records the
//! patterns match, and may scan and sort all of the type's candidates on
//! every read: a search that keeps few of them (text in every record's
//! JSON, such as a key's name) would read the type again and again.
//!
//! `ILIKE` under the "C" collation folds ASCII letters only, as the rule
//! does, whatever the database's locale.

use lockstep_store::search_rules::{self, SearchScan};
use lockstep_store::{Record, StoreResult};
use sqlx::{PgPool, Row};

use crate::records::{record_from_row, NAMES, RECORD_COLUMNS};
use crate::{corrupt, db_error};

/// How many records a search reads per statement.
const RECORDS_PER_READ: i64 = 5_000;

pub(crate) async fn search(
    pool: &PgPool,
    tenant_id: i64,
    record_type: &str,
    text: &str,
    after_id: Option<i64>,
    limit: u32,
) -> StoreResult<Vec<Record>> {
    let (id_pattern, fields_pattern) = (search_rules::id_pattern(text), search_rules::fields_pattern(text));
    let mut scan = SearchScan::new(text, after_id, limit);
    while let Some(after) = scan.next_read() {
        let rows = sqlx::query(&format!(
            r#"WITH scanned AS (
                   SELECT {RECORD_COLUMNS} FROM records
                   WHERE tenant_id = $1 AND record_type = $2 AND deleted_at IS NULL AND id > $3
                   ORDER BY id LIMIT $4
               )
               SELECT s.read_to, s.read_count, c.*
               FROM (SELECT max(id) AS read_to, count(*) AS read_count FROM scanned) AS s
               LEFT JOIN (
                   SELECT * FROM scanned
                   WHERE external_id COLLATE "C" ILIKE $5 ESCAPE '\'
                      OR fields::text COLLATE "C" ILIKE $6 ESCAPE '\'
               ) AS c ON true
               ORDER BY c.id"#
        ))
        .bind(tenant_id)
        .bind(record_type)
        .bind(after)
        .bind(RECORDS_PER_READ)
        .bind(&id_pattern)
        .bind(&fields_pattern)
        .fetch_all(pool)
        .await
        .map_err(db_error)?;
        let mut candidates = Vec::with_capacity(rows.len());
        let mut read_to = None;
        for row in &rows {
            // One row at least, with how far the read went; its record
            // columns are null when no record matched.
            let (to, count): (Option<i64>, i64) =
                (row.try_get("read_to").map_err(corrupt)?, row.try_get("read_count").map_err(corrupt)?);
            // A short read reached the end of the type's records.
            read_to = to.filter(|_| count == RECORDS_PER_READ);
            if row.try_get::<Option<i64>, _>("id").map_err(corrupt)?.is_some() {
                candidates.push(record_from_row(row, &NAMES).map_err(corrupt)?);
            }
        }
        scan.take(candidates, read_to);
    }
    Ok(scan.found())
}
