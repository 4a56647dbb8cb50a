//! The walk of a full sync: every user the third party holds and every
//! record of the integration's type, judged by
//! [`crate::domain::full_sync::verdict`], handed to a [`Sink`] a page at a
//! time. A Sync Overview's sink saves the verdicts; a Sync Now's applies
//! them.
//!
//! Memory stays flat whatever the number of users: the third party is
//! read a page at a time (`PAGE` users), the records of a page are looked
//! up by their ids in one query, and all that is kept between pages is the
//! set of record ids already matched to a user (8 bytes each). A second
//! pass over the records, in id order, finds the eligible ones no user
//! matched: the creates.
//!
//! The next page is asked for as soon as this one has arrived, on its own
//! task, so the third party prepares it (and Lockstep reads it) while this
//! one is judged and saved: a walk takes about as long as the slower of
//! the two sides, not both added up. Two pages at most are held at once.
//! The requests are the same, in the same order, as one page after the
//! other; only a Sync Now's pushes for one page now overlap the reading of
//! the next. Its pushes change users of pages already read, and a SCIM
//! listing keeps its order under updates (the sandbox lists in creation
//! order), so the next page holds the same users either way.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use lockstep_store::{Record, Store, StoreError};

use crate::connectors::{Connector, ConnectorError, RemoteUser, UsersPage};
use crate::domain::full_sync::{verdict, ThirdPartyUser, Verdict};
use crate::domain::integration::IntegrationRules;
use crate::engine::jobs::JobResult;

/// Users asked for per page of the third party's listing.
pub const PAGE: u32 = 1000;
/// Records read per page of the second pass.
const RECORD_PAGE: u32 = 1000;

/// One judged record or user.
#[derive(Debug, Clone)]
pub struct Found {
    /// The record, when the user is ours or the record has no user.
    pub record: Option<Record>,
    /// The third party's user, when it has one for the record.
    pub user: Option<RemoteUser>,
    pub verdict: Verdict,
}

/// Where a walk's verdicts go, a page at a time.
#[async_trait]
pub trait Sink: Send {
    async fn page(&mut self, found: Vec<Found>) -> Result<(), WalkError>;
}

/// Why a walk stopped.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    #[error("the third party: {0}")]
    Connector(ConnectorError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The sink stopped the walk (the operation is no longer running).
    #[error("{0}")]
    Stopped(String),
}

/// What a job makes of a walk's end.
#[derive(Debug)]
pub enum WalkEnd {
    /// The walk is done: the operation ends well.
    Completed,
    /// The third party refused (it cannot list users, or the credentials):
    /// the operation fails with this.
    Refused(String),
    /// A passing failure (of the third party or the store): the job tries again.
    Retry(JobResult),
    /// The operation ended meanwhile: nothing is left to do.
    Stopped,
}

impl From<Result<(), WalkError>> for WalkEnd {
    fn from(result: Result<(), WalkError>) -> WalkEnd {
        match result {
            Ok(()) => WalkEnd::Completed,
            Err(WalkError::Connector(ConnectorError::Rejected { errors })) => WalkEnd::Refused(
                errors.first().map(|e| e.message.clone()).unwrap_or_else(|| "the third party refused".into()),
            ),
            Err(WalkError::Connector(ConnectorError::Transient { error, retry_after })) => {
                WalkEnd::Retry(JobResult::Retry { error: error.message, after: retry_after })
            }
            Err(WalkError::Store(error)) => WalkEnd::Retry(JobResult::Retry { error: error.to_string(), after: None }),
            Err(WalkError::Stopped(_)) => WalkEnd::Stopped,
        }
    }
}

/// Walks the third party's users and the tenant's records of the
/// integration's type, handing every verdict but `Ignored` to `sink`.
pub async fn walk(
    store: &dyn Store,
    tenant_id: i64,
    rules: &IntegrationRules,
    connector: Arc<dyn Connector>,
    sink: &mut dyn Sink,
) -> Result<(), WalkError> {
    let mut matched: HashSet<i64> = HashSet::new();
    let mut start: u64 = 1;
    let mut next = Some(Prefetch::start(connector.clone(), start));
    while let Some(fetching) = next.take() {
        let page = fetching.page().await?;
        if page.users.is_empty() {
            break;
        }
        start += page.users.len() as u64;
        if page.total.is_none_or(|total| start <= total) {
            next = Some(Prefetch::start(connector.clone(), start));
        }
        let ids: Vec<String> = page.users.iter().filter_map(|u| u.external_id.clone()).collect();
        let mut records: HashMap<String, Record> = if ids.is_empty() {
            HashMap::new()
        } else {
            store
                .records_by_external_ids(tenant_id, &rules.record_type, &ids)
                .await?
                .into_iter()
                .map(|r| (r.external_id.clone(), r))
                .collect()
        };
        let mut found = Vec::with_capacity(page.users.len());
        for user in page.users {
            // A second user with the same externalId is not ours to touch:
            // the record is matched to the first one only (taken out of the
            // page's records, not copied: a later user with that id finds
            // none, or one already matched).
            let record =
                user.external_id.as_ref().and_then(|id| records.remove(id)).filter(|record| matched.insert(record.id));
            let judged =
                verdict(rules, record.as_ref(), Some(ThirdPartyUser { active: user.active, resource: &user.resource }));
            if judged != Verdict::Ignored {
                found.push(Found { record, user: Some(user), verdict: judged });
            }
        }
        sink.page(found).await?;
    }

    let mut after = None;
    loop {
        let records = store.list_records(tenant_id, &rules.record_type, after, RECORD_PAGE).await?;
        let Some(last) = records.last() else { break };
        after = Some(last.id);
        let found: Vec<Found> = records
            .into_iter()
            .filter(|record| !matched.contains(&record.id))
            .filter_map(|record| {
                let judged = verdict(rules, Some(&record), None);
                (judged != Verdict::Ignored).then_some(Found { record: Some(record), user: None, verdict: judged })
            })
            .collect();
        if !found.is_empty() {
            sink.page(found).await?;
        }
    }
    Ok(())
}

/// A page of the third party's users being fetched on its own task.
/// Dropped (the walk stopped), it stops the fetch.
struct Prefetch(tokio::task::JoinHandle<Result<UsersPage, ConnectorError>>);

impl Prefetch {
    fn start(connector: Arc<dyn Connector>, start: u64) -> Prefetch {
        Prefetch(tokio::spawn(async move { connector.list_users(start, PAGE).await }))
    }

    async fn page(mut self) -> Result<UsersPage, WalkError> {
        match (&mut self.0).await {
            Ok(page) => page.map_err(WalkError::Connector),
            // A panic in the fetch is the walk's, as if it had fetched inline.
            Err(error) => match error.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(error) => Err(WalkError::Stopped(format!("the listing was stopped: {error}"))),
            },
        }
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.0.abort();
    }
}
