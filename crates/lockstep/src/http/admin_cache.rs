//! The admins of recently seen bearer tokens, so that a request does not
//! look its token up in the store every time.
//!
//! Only tokens the store knew are held, by their hash (never the token),
//! for [`HOLD_FOR`]. Nothing in the API revokes a token or removes an admin
//! today, so a held answer is the store's answer. A future revocation must
//! forget the token here; other processes then still honour it for at most
//! [`HOLD_FOR`], which is why that is short.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lockstep_store::Admin;

/// How long a token's admin is held.
pub const HOLD_FOR: Duration = Duration::from_secs(60);
/// How many tokens are held; when full, all are dropped and refilled.
const MAX_ENTRIES: usize = 10_000;

/// Admins by token hash, with when each was read.
#[derive(Default)]
pub struct AdminCache {
    entries: Mutex<HashMap<String, (Admin, Instant)>>,
}

impl AdminCache {
    /// The admin of `token_hash`, if it was read within [`HOLD_FOR`] of `now`.
    pub fn get(&self, token_hash: &str, now: Instant) -> Option<Admin> {
        let entries = self.entries.lock().expect("admin cache lock");
        let (admin, read_at) = entries.get(token_hash)?;
        (now.saturating_duration_since(*read_at) < HOLD_FOR).then(|| admin.clone())
    }

    /// Holds the admin the store found for `token_hash` at `now`.
    pub fn insert(&self, token_hash: String, admin: Admin, now: Instant) {
        let mut entries = self.entries.lock().expect("admin cache lock");
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(token_hash, (admin, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin(id: i64) -> Admin {
        Admin {
            id,
            tenant_id: 7,
            email: "a@acme.test".into(),
            name: "A".into(),
            created_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_token_is_held_for_a_minute_and_then_read_again() {
        let cache = AdminCache::default();
        let start = Instant::now();
        assert_eq!(cache.get("h1", start), None, "nothing held yet");
        cache.insert("h1".into(), admin(1), start);
        assert_eq!(cache.get("h1", start + Duration::from_secs(59)), Some(admin(1)));
        assert_eq!(cache.get("h1", start + HOLD_FOR), None, "held no longer than HOLD_FOR");
        assert_eq!(cache.get("h2", start), None, "only the token read");
    }

    #[test]
    fn a_full_cache_starts_over_instead_of_growing() {
        let cache = AdminCache::default();
        let now = Instant::now();
        for n in 0..MAX_ENTRIES {
            cache.insert(format!("h{n}"), admin(n as i64), now);
        }
        cache.insert("last".into(), admin(-1), now);
        assert_eq!(cache.get("h0", now), None);
        assert_eq!(cache.get("last", now), Some(admin(-1)));
        assert_eq!(cache.entries.lock().unwrap().len(), 1);
    }
}
