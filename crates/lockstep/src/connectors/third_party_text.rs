//! Text from a third party, made fit to keep.
//!
//! What a third party answers ends up in the store and on the record page:
//! the `detail` and `scimType` of its errors, a body it sent instead of an
//! error document, the id it gave a record (the remote id). Any of it may
//! hold characters the store cannot keep (PostgreSQL refuses `\u0000` in
//! text, and one refused value fails the statement that finishes a whole
//! claimed batch, every tenant's syncs in it, which are then pushed again
//! and again) or be long enough to bloat every record page. So each such
//! string passes through [`clean`] on its way into a [`SyncError`] or a
//! remote id, in this one place: [`sync_error`] builds every error a
//! connector reports, [`remote_id`] every id it returns.
//!
//! What cleaning does:
//! - Control characters (C0, which includes `\n`, `\r` and `\t`; DEL; C1)
//!   become spaces, and the invisible bidirectional embedding, override
//!   and isolate controls are dropped: they can make the rest of a page
//!   read in another order than it is written.
//! - Runs of whitespace become one space, and the ends are trimmed. An error
//!   is shown on one line, where a line break or a tab says nothing a space
//!   does not, and an HTML error page's indentation would only use up the
//!   cap. Single spaces are kept as they are.
//! - The result is cut to a cap in bytes, on a character boundary, ending in
//!   `…` when something was cut: [`MESSAGE_CAP`] for messages (room for any
//!   validation message, not for a whole error page), [`CODE_CAP`] for
//!   error codes (a `scimType` is one word), [`REMOTE_ID_CAP`] for remote
//!   ids (the ids directories use are UUIDs, numbers or DNs, well inside
//!   255, the length most of them store ids in). Cleaning stops reading a
//!   long text once past its cap, so its cost does not grow with the text.
//!
//! A remote id is not read by a person but sent back in a URL, so an id
//! cleaning would change is not kept at all (see [`remote_id`]).

use lockstep_store::SyncError;

/// The longest error message kept, in bytes.
pub const MESSAGE_CAP: usize = 1000;
/// The longest error code kept, in bytes.
pub const CODE_CAP: usize = 64;
/// The longest remote id kept, in bytes.
pub const REMOTE_ID_CAP: usize = 255;

const ELLIPSIS: char = '…';

/// `raw` without control characters and runs of whitespace, at most `cap`
/// bytes long (see the module's doc).
pub fn clean(raw: &str, cap: usize) -> String {
    let mut out = String::with_capacity(raw.len().min(cap + ELLIPSIS.len_utf8()));
    let mut space_pending = false;
    for c in raw.chars() {
        if is_direction_control(c) {
            continue;
        }
        if c.is_control() || c.is_whitespace() {
            space_pending = !out.is_empty();
            continue;
        }
        if space_pending {
            out.push(' ');
            space_pending = false;
        }
        out.push(c);
        if out.len() > cap {
            break;
        }
    }
    if out.len() > cap {
        let mut cut = cap.saturating_sub(ELLIPSIS.len_utf8());
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.truncate(out.trim_end().len());
        out.push(ELLIPSIS);
    }
    out
}

/// The embedding, override and isolate controls of Unicode's bidirectional
/// algorithm (U+202A–U+202E, U+2066–U+2069).
fn is_direction_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// An error of a third party's, with its code and message cleaned.
pub fn sync_error(code: &str, message: &str) -> SyncError {
    SyncError { field: None, code: clean(code, CODE_CAP), message: clean(message, MESSAGE_CAP) }
}

/// The id a third party gave a record, when it is fit to keep: an id that
/// [`clean`] would change (a control character, surrounding or doubled
/// whitespace, more than [`REMOTE_ID_CAP`] bytes) or an empty one is not
/// kept. A changed id would name another record or none; without one, the
/// next push finds the record by its own id again.
pub fn remote_id(raw: &str) -> Option<String> {
    let cleaned = clean(raw, REMOTE_ID_CAP);
    if cleaned.is_empty() || cleaned != raw {
        tracing::warn!(id = ?raw.chars().take(REMOTE_ID_CAP).collect::<String>(), "a third party's id for a record was not kept: it is empty, too long or holds control characters");
        return None;
    }
    Some(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_and_other_control_characters_become_spaces() {
        assert_eq!(clean("bad\u{0}value", 100), "bad value");
        assert_eq!(clean("a\u{1}\u{7f}\u{85}b", 100), "a b");
        assert_eq!(clean("line one\r\nline two\tend", 100), "line one line two end");
    }

    #[test]
    fn whitespace_runs_collapse_and_the_ends_are_trimmed() {
        assert_eq!(clean("\n  <h1>Bad   Gateway</h1>\n", 100), "<h1>Bad Gateway</h1>");
        assert_eq!(clean("a b", 100), "a b");
        assert_eq!(clean("\u{0}\u{0}", 100), "");
    }

    #[test]
    fn direction_controls_are_dropped() {
        assert_eq!(clean("user\u{202E}gnp.exe", 100), "usergnp.exe");
        assert_eq!(clean("\u{2066}x\u{2069}", 100), "x");
        assert_eq!(clean("שלום world", 100), "שלום world", "right-to-left text itself is kept");
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary_within_the_cap() {
        let cleaned = clean(&"é".repeat(100), 11);
        assert!(cleaned.len() <= 11, "{cleaned}");
        assert_eq!(cleaned, "éééé…");
        assert_eq!(clean("abcdefghij", 10), "abcdefghij", "text at the cap is kept whole");
        assert_eq!(clean("abcdefghijk", 10), "abcdefg…");
        assert_eq!(clean("abcdef ghijk", 10), "abcdef…", "no space before the ellipsis");
    }

    #[test]
    fn a_huge_text_is_read_only_up_to_its_cap() {
        let huge = "x".repeat(10 * 1024 * 1024);
        assert_eq!(clean(&huge, MESSAGE_CAP).len(), MESSAGE_CAP);
    }

    #[test]
    fn errors_are_cleaned_and_capped() {
        let error = sync_error("invalid\u{0}Value", &format!("bad\u{0}value {}", "x".repeat(5000)));
        assert_eq!(error.code, "invalid Value");
        assert!(error.message.starts_with("bad value x"));
        assert!(error.message.len() <= MESSAGE_CAP);
        assert!(error.message.ends_with('…'));
        assert_eq!(sync_error(&"c".repeat(500), "m").code.len(), CODE_CAP);
    }

    #[test]
    fn only_ids_cleaning_leaves_alone_are_kept() {
        assert_eq!(
            remote_id("2819c223-7f76-453a-919d-413861904646").as_deref(),
            Some("2819c223-7f76-453a-919d-413861904646")
        );
        assert_eq!(remote_id("cn=Ada Lovelace,ou=people").as_deref(), Some("cn=Ada Lovelace,ou=people"));
        assert_eq!(remote_id("id\u{0}1"), None);
        assert_eq!(remote_id(" id"), None);
        assert_eq!(remote_id(""), None);
        assert_eq!(remote_id(&"x".repeat(REMOTE_ID_CAP + 1)), None);
        assert!(remote_id(&"x".repeat(REMOTE_ID_CAP)).is_some());
    }
}
