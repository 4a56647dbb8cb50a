//! Group commit: concurrent small record writes of one tenant and record type
//! share one store transaction.
//!
//! Why: a transaction has a fixed price whatever it holds: on PostgreSQL
//! round trips and a WAL flush, on SQLite an fsync under the one
//! writer. A platform that writes employees one request at a time from many
//! workers pays that price per record; here it pays it once per group.
//!
//! How: writes queue in a lane per (tenant, record type). The first write into
//! an idle lane starts a flusher at once, so a lone write waits for nothing
//! (there is no timer). Writes that arrive while the flusher commits queue
//! up and go together in its next transaction. Each request's writes stay
//! together and in arrival order, and a transaction holds at most
//! [`MAX_GROUP_WRITES`]. Requests larger than [`MAX_GROUPED_REQUEST`] already
//! amortise their transaction and go straight to the store.
//!
//! Requests in one group are not one unit: when a group's transaction fails
//! (one request's version conflict, say), the flusher writes each request
//! again alone, in order, so every request gets its own answer. Nothing is
//! acknowledged before its transaction committed: a request's reply is sent
//! only after the store returned.
//!
//! The flusher is a spawned task, so a client that hangs up mid-write does
//! not cancel a commit that other requests share.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use lockstep_store::{RecordWrite, StoreError};
use tokio::sync::oneshot;

use super::records::{commit_now, Committed};
use super::Engine;

/// The most writes one group transaction holds.
pub const MAX_GROUP_WRITES: usize = 1_000;
/// Requests with more writes than this are not grouped.
pub const MAX_GROUPED_REQUEST: usize = 64;

type Reply = oneshot::Sender<Result<Committed, StoreError>>;
type LaneKey = (i64, String);

struct Queued {
    writes: Vec<RecordWrite>,
    reply: Reply,
}

/// The lanes of the writes waiting for a transaction. A lane exists while its
/// flusher runs; the flusher removes it when the queue is empty.
#[derive(Default)]
pub struct GroupCommit {
    lanes: Mutex<HashMap<LaneKey, VecDeque<Queued>>>,
}

impl GroupCommit {
    /// Writes records of one type in a transaction shared with other writes
    /// of the tenant queued at the same time; returns when it committed.
    pub async fn write(
        &self,
        engine: &Engine,
        tenant_id: i64,
        record_type: &str,
        writes: Vec<RecordWrite>,
    ) -> Result<Committed, StoreError> {
        if writes.len() > MAX_GROUPED_REQUEST {
            return commit_now(engine, tenant_id, record_type, writes).await;
        }
        let (reply, answer) = oneshot::channel();
        let key = (tenant_id, record_type.to_owned());
        let start_flusher = {
            let mut lanes = self.lanes.lock().expect("lanes lock");
            // Counted under the lock, so the flusher never takes it first.
            engine.metrics.write_requests_waiting.inc();
            match lanes.entry(key.clone()) {
                Entry::Occupied(mut lane) => {
                    lane.get_mut().push_back(Queued { writes, reply });
                    false
                }
                Entry::Vacant(lane) => {
                    lane.insert(VecDeque::from([Queued { writes, reply }]));
                    true
                }
            }
        };
        if start_flusher {
            tokio::spawn(flush(engine.clone(), key));
        }
        answer.await.map_err(|_| StoreError::Database("the write was abandoned before it committed".into()))?
    }

    /// Takes the next group off a lane, or removes the lane when it is empty.
    fn next_group(&self, engine: &Engine, key: &LaneKey) -> Option<Vec<Queued>> {
        let mut lanes = self.lanes.lock().expect("lanes lock");
        let queue = lanes.get_mut(key)?;
        let mut group = Vec::new();
        let mut size = 0;
        while let Some(next) = queue.front() {
            if !group.is_empty() && size + next.writes.len() > MAX_GROUP_WRITES {
                break;
            }
            size += next.writes.len();
            group.extend(queue.pop_front());
        }
        if group.is_empty() {
            lanes.remove(key);
            return None;
        }
        engine.metrics.write_requests_waiting.dec_by(group.len() as i64);
        Some(group)
    }

    fn drop_lane(&self, engine: &Engine, key: &LaneKey) {
        // Dropping the queued replies answers their requests with an error.
        if let Some(queue) = self.lanes.lock().expect("lanes lock").remove(key) {
            engine.metrics.write_requests_waiting.dec_by(queue.len() as i64);
        }
    }
}

/// Removes the lane if its flusher ends without emptying it (a panic), so
/// the lane's next write starts a new flusher instead of waiting forever.
struct LaneGuard {
    engine: Engine,
    key: LaneKey,
    done: bool,
}

impl Drop for LaneGuard {
    fn drop(&mut self) {
        if !self.done {
            self.engine.group_commit.drop_lane(&self.engine, &self.key);
        }
    }
}

async fn flush(engine: Engine, key: LaneKey) {
    let mut guard = LaneGuard { engine: engine.clone(), key, done: false };
    while let Some(group) = engine.group_commit.next_group(&engine, &guard.key) {
        commit_group(&engine, &guard.key, group).await;
    }
    guard.done = true;
}

async fn commit_group(engine: &Engine, (tenant_id, record_type): &LaneKey, mut group: Vec<Queued>) {
    if group.len() == 1 {
        let Queued { writes, reply } = group.pop().expect("one");
        let _ = reply.send(commit_now(engine, *tenant_id, record_type, writes).await);
        return;
    }
    // Kept for the fallback below: rare, and these requests are small.
    let all: Vec<RecordWrite> = group.iter().flat_map(|q| q.writes.iter().cloned()).collect();
    match commit_now(engine, *tenant_id, record_type, all).await {
        Ok(Committed { written, integrations }) => {
            let mut written = written.into_iter();
            for Queued { writes, reply } in group {
                let mine = written.by_ref().take(writes.len()).collect();
                let _ = reply.send(Ok(Committed { written: mine, integrations: integrations.clone() }));
            }
        }
        Err(error) => {
            tracing::debug!(%error, requests = group.len(), "a group write failed; writing its requests one by one");
            for Queued { writes, reply } in group {
                let _ = reply.send(commit_now(engine, *tenant_id, record_type, writes).await);
            }
        }
    }
}
