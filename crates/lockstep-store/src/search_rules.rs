//! The console's record search, stated once for every backend: what a
//! search finds, and how a backend narrows its scan without missing a
//! match.
//!
//! A record matches when its `external_id`, or the text of one of its
//! fields, contains the text searched for, ignoring ASCII case, character
//! for character (`%`, `_` and `\` are not wildcards). A field's text is a
//! string in its value, at any depth: `{"emails": [{"value": "ada@acme"}]}`
//! is found by `Ada@`. Keys, numbers, booleans and nulls are not text, so a
//! search for `email` does not find every record that has an email field,
//! nor `true` every active one.
//!
//! Each backend can see a record's fields as JSON text (SQLite stores
//! them so, PostgreSQL prints its `jsonb` so), and `LIKE` over that text is
//! what a database does quickly. But JSON text holds more than the strings
//! (keys, numbers, quotes), and holds them escaped, so a `LIKE` cannot be
//! the rule. A backend reads, in id order, the records whose external id
//! matches [`id_pattern`] or whose fields' JSON text matches
//! [`fields_pattern`], and keeps those that [`matches`] keeps: the
//! patterns only narrow the scan, the rule decides. JSON escapes a string
//! one character at a time (`"` as `\"`, a newline as `\n`), the same way
//! in both backends, so a string that contains the text has, in the JSON
//! text, the text's escaped form; [`fields_pattern`] looks for that form,
//! and the narrowing never drops a match. [`SearchScan`] walks the records
//! until a page of results is full or the records run out.

use serde_json::Value;

use crate::Record;

/// Whether `record`'s external id or one of its fields' strings contains
/// `text`, ignoring ASCII case.
pub fn matches(record: &Record, text: &str) -> bool {
    contains(&record.external_id, text) || has_text(&record.fields, text)
}

fn has_text(value: &Value, text: &str) -> bool {
    match value {
        Value::String(s) => contains(s, text),
        Value::Array(items) => items.iter().any(|item| has_text(item, text)),
        Value::Object(fields) => fields.values().any(|field| has_text(field, text)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Compares bytes: ASCII case folding touches only bytes below 0x80, which
/// never occur inside a multi-byte character, and a UTF-8 `text` cannot
/// match from the middle of one.
fn contains(haystack: &str, text: &str) -> bool {
    text.is_empty()
        || haystack.as_bytes().windows(text.len()).any(|window| window.eq_ignore_ascii_case(text.as_bytes()))
}

/// The `LIKE` pattern, with `\` as its `ESCAPE` character, of an external
/// id that contains `text`. Compared ignoring ASCII case (SQLite's `LIKE`,
/// PostgreSQL's `ILIKE` under the "C" collation), it matches exactly the
/// ids [`matches`] accepts.
pub fn id_pattern(text: &str) -> String {
    like_pattern(text)
}

/// The `LIKE` pattern, with `\` as its `ESCAPE` character, of fields'
/// JSON text that may hold a string containing `text`: the text as JSON
/// writes it inside a string. Every record [`matches`] by a field matches
/// it; some that match it (by a key, a number) are not found.
pub fn fields_pattern(text: &str) -> String {
    let quoted = Value::String(text.to_owned()).to_string();
    like_pattern(&quoted[1..quoted.len() - 1])
}

fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// A search's way through the type's records, read in id order, a part
/// at a time, until a page of results is full or the records run out:
///
/// ```text
/// let mut scan = SearchScan::new(text, after_id, limit);
/// while let Some(after_id) = scan.next_read() {
///     let (candidates, read_to) = read(after_id)?;
///     scan.take(candidates, read_to);
/// }
/// scan.found()
/// ```
///
/// What a part is, the backend decides: so many candidates, or so many
/// records of which it sends back the candidates. Either way each read
/// goes on from where the last one stopped, so a search that keeps few of
/// its candidates (one for a key's name, in every record's JSON) still
/// reads each record once.
#[derive(Debug)]
pub struct SearchScan<'a> {
    text: &'a str,
    limit: usize,
    /// Where the next read starts: after this id.
    after_id: Option<i64>,
    found: Vec<Record>,
}

impl<'a> SearchScan<'a> {
    /// A search for `text`, `limit` results after the cursor `after_id`.
    pub fn new(text: &'a str, after_id: Option<i64>, limit: u32) -> Self {
        // Ids start at 1, so "after 0" is "from the start".
        let after_id = Some(after_id.unwrap_or(0)).filter(|_| limit > 0);
        SearchScan { text, limit: usize::try_from(limit).unwrap_or(usize::MAX), after_id, found: Vec::new() }
    }

    /// The id the next read starts after; `None` once the results are
    /// complete.
    pub fn next_read(&self) -> Option<i64> {
        self.after_id.filter(|_| self.found.len() < self.limit)
    }

    /// Takes a read's candidates, in id order, and `read_to`: the id of the
    /// last record the read looked at, or `None` when it reached the end
    /// of the records.
    pub fn take(&mut self, candidates: Vec<Record>, read_to: Option<i64>) {
        self.after_id = read_to;
        let room = self.limit - self.found.len();
        self.found.extend(candidates.into_iter().filter(|record| matches(record, self.text)).take(room));
    }

    /// The records found, in id order.
    pub fn found(self) -> Vec<Record> {
        self.found
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use serde_json::json;

    use super::*;

    fn record(id: i64, external_id: &str, fields: Value) -> Record {
        Record {
            id,
            tenant_id: 1,
            record_type: "employee".into(),
            external_id: external_id.into(),
            fields,
            version: 1,
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
            deleted_at: None,
        }
    }

    #[test]
    fn the_id_or_any_string_at_any_depth_matches_ignoring_ascii_case() {
        let ada = record(1, "E-100", json!({ "name": "Ada Lovelace", "emails": [{ "value": "ada@acme.test" }] }));
        assert!(matches(&ada, "e-1"));
        assert!(matches(&ada, "LOVE"));
        assert!(matches(&ada, "Ada@ACME"));
        assert!(matches(&ada, ""), "the empty text is in every record");
        assert!(!matches(&ada, "grace"));
    }

    #[test]
    fn keys_numbers_booleans_and_nulls_are_not_text() {
        let ada = record(1, "e1", json!({ "employee_number": 4711, "active": true, "manager": null }));
        for text in ["employee", "4711", "true", "null", "\"", ":"] {
            assert!(!matches(&ada, text), "{text:?}");
        }
    }

    #[test]
    fn only_ascii_letters_fold() {
        let chloe = record(1, "e1", json!({ "name": "CHLOÉ" }));
        assert!(matches(&chloe, "chlo"));
        assert!(matches(&chloe, "loÉ"));
        assert!(!matches(&chloe, "loé"), "É is not ASCII");
    }

    #[test]
    fn wildcards_of_like_are_plain_characters() {
        assert_eq!(id_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
        let percent = record(1, "e1", json!({ "bonus": "50%" }));
        assert!(matches(&percent, "50%"));
        assert!(!matches(&percent, "5%"));
    }

    #[test]
    fn the_fields_pattern_is_the_text_as_json_writes_it() {
        assert_eq!(fields_pattern("plain"), "%plain%");
        assert_eq!(fields_pattern("say \"hi\""), "%say \\\\\"hi\\\\\"%", "a quote is \\\" in JSON, each \\ escaped");
        assert_eq!(fields_pattern("a\nb"), "%a\\\\nb%");
        let fields = json!({ "note": "she said \"hi\"\nthen left" });
        assert!(fields.to_string().contains(&unlike_escape(&fields_pattern("said \"hi\"\nthen"))));
    }

    /// The text a `LIKE` pattern of `%…%` looks for, escapes undone.
    fn unlike_escape(pattern: &str) -> String {
        let inner = &pattern[1..pattern.len() - 1];
        let mut out = String::new();
        let mut escaped = false;
        for c in inner.chars() {
            if c == '\\' && !escaped {
                escaped = true;
                continue;
            }
            escaped = false;
            out.push(c);
        }
        out
    }

    #[test]
    fn a_scan_reads_on_until_the_page_is_full_or_the_records_run_out() {
        let named = |id: i64, name: &str| record(id, &format!("e{id}"), json!({ "name": name }));
        let mut scan = SearchScan::new("ada", Some(5), 2);
        assert_eq!(scan.next_read(), Some(5));
        scan.take(vec![named(6, "Grace"), named(7, "Ada"), named(8, "Alan")], Some(9));
        assert_eq!(scan.next_read(), Some(9), "one found: read on from where the read stopped");
        scan.take(vec![named(10, "ada"), named(11, "Adam")], Some(11));
        assert_eq!(scan.next_read(), None, "the page is full");
        assert_eq!(scan.found().iter().map(|r| r.id).collect::<Vec<_>>(), [7, 10], "at most the limit");

        let mut scan = SearchScan::new("ada", None, 10);
        assert_eq!(scan.next_read(), Some(0), "from the start");
        scan.take(vec![named(1, "Ada")], None);
        assert_eq!(scan.next_read(), None, "the records ran out");
        assert_eq!(scan.found().len(), 1);
        assert_eq!(SearchScan::new("ada", None, 0).next_read(), None, "a limit of 0 reads nothing");
    }
}
