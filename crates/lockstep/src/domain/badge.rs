//! The status badge: the most important sync state(s) of a record across its
//! integrations, in the order an admin should care about them:
//! failed > syncing > pending > synced.

use lockstep_store::SyncStatus;

/// How much an admin should care about a status; higher first.
fn importance(status: SyncStatus) -> u8 {
    match status {
        SyncStatus::Failed => 3,
        SyncStatus::Syncing => 2,
        SyncStatus::Pending => 1,
        SyncStatus::Synced => 0,
    }
}

/// One entry of a badge: a status and the integrations in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadgeEntry {
    pub status: SyncStatus,
    pub integration_ids: Vec<i64>,
}

/// The statuses present among `(integration, status)` pairs, most important
/// first, each with its integrations in the order given.
pub fn badge(states: impl IntoIterator<Item = (i64, SyncStatus)>) -> Vec<BadgeEntry> {
    let mut entries: Vec<BadgeEntry> = Vec::new();
    for (integration_id, status) in states {
        match entries.iter_mut().find(|e| e.status == status) {
            Some(entry) => entry.integration_ids.push(integration_id),
            None => entries.push(BadgeEntry { status, integration_ids: vec![integration_id] }),
        }
    }
    entries.sort_by_key(|e| std::cmp::Reverse(importance(e.status)));
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_outranks_syncing_outranks_pending_outranks_synced() {
        let b = badge([
            (1, SyncStatus::Synced),
            (2, SyncStatus::Pending),
            (3, SyncStatus::Failed),
            (4, SyncStatus::Syncing),
            (5, SyncStatus::Failed),
        ]);
        let order: Vec<_> = b.iter().map(|e| e.status).collect();
        assert_eq!(order, [SyncStatus::Failed, SyncStatus::Syncing, SyncStatus::Pending, SyncStatus::Synced]);
        assert_eq!(b[0].integration_ids, [3, 5]);
    }

    #[test]
    fn no_integrations_no_badge() {
        assert!(badge([]).is_empty());
    }
}
