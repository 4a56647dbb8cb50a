//! Cases for the job queue ([`JobQueue`]): enqueueing under a unique key,
//! claims under a lease and a kind's concurrency, fenced finishes and
//! heartbeats, the reads, and the job signal.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::support::*;
use crate::{Job, JobOutcome, JobStatus, NewJob, Store};

/// The kind most cases enqueue; [`OTHER`] is another.
const KIND: &str = "overview";
const OTHER: &str = "notification_email";

/// A job of `kind` due at `due`, without tenant, subject or key.
fn job(kind: &str, due: i64) -> NewJob {
    NewJob::new(kind, None, at(due))
}

/// A job of `kind` due at `due` holding `key`.
fn keyed(kind: &str, due: i64, key: &str) -> NewJob {
    NewJob { unique_key: Some(key.to_owned()), ..job(kind, due) }
}

/// Enqueues at `at(0)`; panics unless the job was enqueued.
async fn enqueue(store: &Arc<dyn Store>, new: NewJob) -> Job {
    let (job, enqueued) = store.enqueue_job(new, at(0)).await.expect("enqueue_job");
    assert!(enqueued, "{job:?} was not enqueued");
    job
}

/// Claims up to 100 jobs of `kind` at `now`, leased until `lease_until`, with room for 100 running.
async fn claim(store: &Arc<dyn Store>, kind: &str, now: i64, lease_until: i64) -> Vec<Job> {
    store.claim_jobs(kind, 100, 100, at(now), at(lease_until)).await.expect("claim_jobs")
}

fn ids(jobs: &[Job]) -> Vec<i64> {
    jobs.iter().map(|j| j.id).collect()
}

async fn stored(store: &Arc<dyn Store>, job_id: i64) -> Job {
    store.get_job(job_id).await.expect("get_job").expect("the job is stored")
}

async fn finish(store: &Arc<dyn Store>, job: &Job, outcome: JobOutcome, now: i64) -> bool {
    store.finish_job(job.id, job.claim, outcome, at(now)).await.expect("finish_job")
}

fn retry(secs: i64, error: &str) -> JobOutcome {
    JobOutcome::Retry { at: at(secs), error: error.to_owned() }
}

fn dead(error: &str) -> JobOutcome {
    JobOutcome::Dead { error: error.to_owned() }
}

pub async fn an_enqueued_job_is_queued_and_due(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let new = NewJob {
        subject_id: Some(7),
        unique_key: Some("overview:acme".into()),
        payload: json!({ "integration_id": 3 }),
        max_attempts: 3,
        ..NewJob::new(KIND, Some(acme.id), at(10))
    };
    let (job, enqueued) = store.enqueue_job(new, at(1)).await.unwrap();
    assert!(enqueued);
    assert_eq!((job.kind.as_str(), job.tenant_id, job.subject_id), (KIND, Some(acme.id), Some(7)));
    assert_eq!(job.unique_key.as_deref(), Some("overview:acme"));
    assert_eq!(job.payload, json!({ "integration_id": 3 }));
    assert_eq!((job.status, job.due_at), (JobStatus::Queued, Some(at(10))));
    assert_eq!((job.attempts, job.max_attempts, job.claim), (0, 3, 0));
    assert_eq!((job.last_error.as_deref(), job.created_at, job.finished_at), (None, at(1), None));
    assert_eq!(stored(&store, job.id).await, job, "enqueue_job returns the job as stored");
    assert_eq!(store.next_job_due_at(KIND).await.unwrap(), Some(at(10)));
    assert_eq!(store.get_job(job.id + 1).await.unwrap(), None);
}

/// The key is held while the job is queued or running (a retry keeps it);
/// once it succeeded or died, the same work may be queued again.
pub async fn a_unique_key_enqueues_once_while_its_job_is_unfinished(store: Arc<dyn Store>) {
    let first = enqueue(&store, keyed(KIND, 10, "k")).await;
    let again = |due: i64| store.enqueue_job(keyed(KIND, due, "k"), at(1));
    assert_eq!(again(5).await.unwrap(), (first.clone(), false), "queued: the first job is returned as it is");

    let running = claim(&store, KIND, 10, 40).await.remove(0);
    assert_eq!(again(5).await.unwrap(), (running.clone(), false), "running: still held");
    assert!(finish(&store, &running, retry(20, "busy"), 11).await);
    let (held, enqueued) = again(5).await.unwrap();
    assert!(!enqueued, "retried: still held");
    assert_eq!((held.id, held.status), (first.id, JobStatus::Queued));

    let running = claim(&store, KIND, 20, 50).await.remove(0);
    assert!(finish(&store, &running, JobOutcome::Succeeded, 21).await);
    let second = enqueue(&store, keyed(KIND, 30, "k")).await;
    assert_ne!(second.id, first.id, "succeeded: the key is free again");

    let running = claim(&store, KIND, 30, 60).await.remove(0);
    assert!(finish(&store, &running, dead("gone"), 31).await);
    let third = enqueue(&store, keyed(KIND, 40, "k")).await;
    assert_ne!(third.id, second.id, "dead: the key is free again");

    enqueue(&store, job(KIND, 10)).await;
    enqueue(&store, job(KIND, 10)).await;
    assert_eq!(claim(&store, KIND, 40, 70).await.len(), 3, "jobs without a key are never held back");
}

pub async fn a_job_with_a_subject_and_no_key_holds_its_kind_and_subject(store: Arc<dyn Store>) {
    let on_subject = |kind: &str| NewJob { subject_id: Some(7), ..job(kind, 10) };
    let first = enqueue(&store, on_subject(KIND)).await;
    assert_eq!(first.unique_key.as_deref(), Some("overview:7"));
    assert_eq!(store.enqueue_job(on_subject(KIND), at(1)).await.unwrap(), (first, false));
    let other = enqueue(&store, on_subject(OTHER)).await;
    assert_eq!(other.unique_key.as_deref(), Some("notification_email:7"), "another kind is other work");
}

pub async fn a_claim_takes_due_queued_jobs_of_its_kind_earliest_due_first(store: Arc<dyn Store>) {
    let mut due = Vec::new();
    for secs in [30, 10, 20] {
        due.push(enqueue(&store, job(KIND, secs)).await);
    }
    let later = enqueue(&store, job(KIND, 100)).await;
    let other = enqueue(&store, job(OTHER, 5)).await;

    let first = store.claim_jobs(KIND, 100, 2, at(50), at(80)).await.unwrap();
    assert_eq!(ids(&first), vec![due[1].id, due[2].id], "the two earliest due, in the order taken");
    for claimed in &first {
        assert_eq!(claimed.status, JobStatus::Running);
        assert_eq!(claimed.due_at, Some(at(80)), "due when the lease ends");
        assert_eq!((claimed.claim, claimed.attempts), (1, 1));
        assert_eq!(&stored(&store, claimed.id).await, claimed, "the claim returns the jobs as stored");
    }
    assert_eq!(ids(&claim(&store, KIND, 50, 80).await), vec![due[0].id], "only the due ones");
    assert_eq!(stored(&store, later.id).await.status, JobStatus::Queued);
    assert_eq!(stored(&store, other.id).await.status, JobStatus::Queued, "another kind is not claimed");
    assert_eq!(ids(&claim(&store, OTHER, 50, 80).await), vec![other.id]);
}

pub async fn a_job_not_yet_due_is_not_claimed(store: Arc<dyn Store>) {
    let job = enqueue(&store, job(KIND, 100)).await;
    assert_eq!(claim(&store, KIND, 99, 130).await, vec![]);
    assert_eq!(ids(&claim(&store, KIND, 100, 130).await), vec![job.id], "due at its due time");
}

/// A worker that died mid-job loses nothing: the job comes back after its
/// lease, one attempt further, and the dead worker's claim is void.
pub async fn an_expired_lease_is_claimed_again_and_the_old_claim_is_refused(store: Arc<dyn Store>) {
    enqueue(&store, job(KIND, 10)).await;
    let lost = claim(&store, KIND, 10, 40).await.remove(0);
    assert_eq!(claim(&store, KIND, 39, 70).await, vec![], "the lease holds until it ends");

    let again = claim(&store, KIND, 40, 70).await;
    assert_eq!(ids(&again), vec![lost.id]);
    assert_eq!((again[0].claim, again[0].attempts, again[0].due_at), (2, 2, Some(at(70))));
    assert!(!finish(&store, &lost, JobOutcome::Succeeded, 41).await, "the old claim cannot finish");
    assert!(!store.extend_job_lease(lost.id, lost.claim, at(100)).await.unwrap(), "nor beat");
    assert_eq!(stored(&store, lost.id).await, again[0], "nothing of the old claim was written");
    assert!(finish(&store, &again[0], JobOutcome::Succeeded, 42).await);
}

/// The claim fences a finish, not the clock: a worker late past its lease
/// still finishes (or beats) while no other claim took the job.
pub async fn a_late_finish_applies_while_no_other_claim_took_the_job(store: Arc<dyn Store>) {
    enqueue(&store, job(KIND, 10)).await;
    enqueue(&store, job(KIND, 10)).await;
    let late = claim(&store, KIND, 10, 40).await;
    assert!(store.extend_job_lease(late[0].id, late[0].claim, at(100)).await.unwrap(), "a late heartbeat");
    assert!(finish(&store, &late[1], JobOutcome::Succeeded, 50).await, "a late finish");
    assert_eq!(stored(&store, late[1].id).await.status, JobStatus::Succeeded);
    assert_eq!(claim(&store, KIND, 50, 80).await, vec![], "the late heartbeat holds the job again");
}

/// Never more than `concurrency` jobs of a kind running under a live lease,
/// whichever claim took them; a finish or an expired lease frees a place.
pub async fn claims_respect_the_concurrency_of_a_kind(store: Arc<dyn Store>) {
    let mut queued = Vec::new();
    for secs in 1..=5 {
        queued.push(enqueue(&store, job(KIND, secs)).await);
    }
    enqueue(&store, job(OTHER, 1)).await;
    let claim_two = |now: i64, lease: i64| store.claim_jobs(KIND, 2, 10, at(now), at(lease));

    let first = claim_two(10, 40).await.unwrap();
    assert_eq!(first.len(), 2, "no more than the concurrency, whatever the limit");
    assert_eq!(claim_two(11, 41).await.unwrap(), vec![], "the first claim's leases are live");
    assert_eq!(store.claim_jobs(KIND, 5, 1, at(11), at(41)).await.unwrap().len(), 1, "no more than the limit");
    assert_eq!(claim(&store, OTHER, 11, 41).await.len(), 1, "another kind has places of its own");

    assert!(finish(&store, &first[0], JobOutcome::Succeeded, 12).await);
    assert_eq!(store.claim_jobs(KIND, 3, 10, at(12), at(42)).await.unwrap().len(), 1, "a finish frees a place");
    assert_eq!(store.claim_jobs(KIND, 3, 10, at(13), at(43)).await.unwrap(), vec![]);

    // At 40 the first claim's remaining lease has run out: of the three
    // running, two count, and the expired one is due again itself (after
    // the queued job due at 5).
    let after = store.claim_jobs(KIND, 4, 10, at(40), at(70)).await.unwrap();
    assert_eq!(ids(&after), vec![queued[4].id, first[1].id], "earliest due first: at 5, then the lease of 40");
    assert_eq!((after[0].attempts, after[1].attempts), (1, 2));
}

/// Many claimers at once, in rounds: in each, the claimers together take
/// exactly as many jobs as the concurrency allows (a count that raced would
/// let two claimers fill the same places), and no job twice.
pub async fn concurrent_claimers_never_share_a_job_nor_exceed_the_concurrency(store: Arc<dyn Store>) {
    const JOBS: usize = 60;
    const CONCURRENCY: u32 = 8;
    for i in 0..JOBS {
        enqueue(&store, job(KIND, (i % 7) as i64)).await;
    }
    let mut seen = HashSet::new();
    let mut round = 0;
    while seen.len() < JOBS {
        round += 1;
        let claimers: Vec<_> = (0..6)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut mine = Vec::new();
                    loop {
                        let claimed = store.claim_jobs(KIND, CONCURRENCY, 3, at(10), at(600)).await.unwrap();
                        if claimed.is_empty() {
                            return mine;
                        }
                        mine.extend(claimed);
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        let mut taken = Vec::new();
        for claimer in claimers {
            taken.extend(claimer.await.unwrap());
        }
        let expected = (JOBS - seen.len()).min(CONCURRENCY as usize);
        assert_eq!(taken.len(), expected, "round {round}: the claimers together took as many as there was room for");
        for job in &taken {
            assert!(seen.insert(job.id), "job {} was claimed twice", job.id);
            assert!(finish(&store, job, JobOutcome::Succeeded, 11).await);
        }
    }
}

pub async fn a_succeeded_job_is_done_and_never_claimed_again(store: Arc<dyn Store>) {
    enqueue(&store, job(KIND, 10)).await;
    let running = claim(&store, KIND, 10, 40).await.remove(0);
    assert!(finish(&store, &running, retry(20, "busy"), 11).await);
    let running = claim(&store, KIND, 20, 50).await.remove(0);
    assert!(finish(&store, &running, JobOutcome::Succeeded, 21).await);

    let done = stored(&store, running.id).await;
    assert_eq!((done.status, done.due_at, done.finished_at), (JobStatus::Succeeded, None, Some(at(21))));
    assert_eq!((done.claim, done.attempts), (2, 2));
    assert_eq!(done.last_error.as_deref(), Some("busy"), "the last failed attempt's error is kept");
    assert_eq!(claim(&store, KIND, 1_000, 1_030).await, vec![]);
    assert_eq!(store.next_job_due_at(KIND).await.unwrap(), None);
}

pub async fn a_retry_queues_the_job_again_at_its_time_with_its_error(store: Arc<dyn Store>) {
    enqueue(&store, job(KIND, 10)).await;
    let running = claim(&store, KIND, 10, 40).await.remove(0);
    assert!(finish(&store, &running, retry(100, "503 busy"), 11).await);

    let queued = stored(&store, running.id).await;
    assert_eq!((queued.status, queued.due_at, queued.finished_at), (JobStatus::Queued, Some(at(100)), None));
    assert_eq!(queued.last_error.as_deref(), Some("503 busy"));
    assert_eq!(store.next_job_due_at(KIND).await.unwrap(), Some(at(100)));
    assert_eq!(claim(&store, KIND, 99, 130).await, vec![], "not before the retry's time, lease or no lease");
    let again = claim(&store, KIND, 100, 130).await;
    assert_eq!((again[0].id, again[0].claim, again[0].attempts), (running.id, 2, 2));
    assert_eq!(again[0].last_error.as_deref(), Some("503 busy"), "until the next failure");
}

pub async fn a_dead_job_keeps_its_error_and_is_never_claimed_again(store: Arc<dyn Store>) {
    enqueue(&store, job(KIND, 10)).await;
    let running = claim(&store, KIND, 10, 40).await.remove(0);
    assert!(finish(&store, &running, dead("no such user"), 11).await);

    let given_up = stored(&store, running.id).await;
    assert_eq!((given_up.status, given_up.due_at, given_up.finished_at), (JobStatus::Dead, None, Some(at(11))));
    assert_eq!(given_up.last_error.as_deref(), Some("no such user"));
    assert_eq!(claim(&store, KIND, 1_000, 1_030).await, vec![]);
    assert_eq!(store.next_job_due_at(KIND).await.unwrap(), None);
}

pub async fn a_finish_or_heartbeat_with_a_stale_claim_is_refused(store: Arc<dyn Store>) {
    enqueue(&store, job(KIND, 10)).await;
    let running = claim(&store, KIND, 10, 40).await.remove(0);
    let wrong = store.finish_job(running.id, running.claim + 1, JobOutcome::Succeeded, at(11)).await.unwrap();
    assert!(!wrong, "another claim than the job's");
    assert!(!store.extend_job_lease(running.id, running.claim + 1, at(100)).await.unwrap());
    assert_eq!(stored(&store, running.id).await, running, "nothing written");

    assert!(finish(&store, &running, dead("gone"), 12).await);
    let over = stored(&store, running.id).await;
    assert!(!finish(&store, &running, JobOutcome::Succeeded, 13).await, "a finished job cannot finish again");
    assert!(!finish(&store, &running, retry(20, "late"), 13).await);
    assert!(!store.extend_job_lease(running.id, running.claim, at(100)).await.unwrap(), "nor beat");
    assert_eq!(stored(&store, running.id).await, over, "nothing written");
    assert!(!store.finish_job(running.id + 1, 1, JobOutcome::Succeeded, at(13)).await.unwrap(), "no such job");
}

pub async fn a_heartbeat_moves_the_lease_so_the_job_is_not_claimed_again(store: Arc<dyn Store>) {
    enqueue(&store, job(KIND, 10)).await;
    let running = claim(&store, KIND, 10, 40).await.remove(0);
    assert!(store.extend_job_lease(running.id, running.claim, at(100)).await.unwrap());
    let beaten = stored(&store, running.id).await;
    assert_eq!((beaten.status, beaten.due_at), (JobStatus::Running, Some(at(100))));
    assert_eq!((beaten.claim, beaten.attempts), (1, 1), "a heartbeat is not a claim");
    assert_eq!(claim(&store, KIND, 50, 80).await, vec![], "the old lease's end has passed, the new one's not");
    assert_eq!(store.claim_jobs(KIND, 1, 1, at(50), at(80)).await.unwrap(), vec![]);
    assert!(finish(&store, &running, JobOutcome::Succeeded, 60).await, "the claim still holds");
}

pub async fn jobs_for_subject_lists_a_subjects_jobs_oldest_first(store: Arc<dyn Store>) {
    let on = |kind: &str, subject: i64, key: &str| NewJob { subject_id: Some(subject), ..keyed(kind, 10, key) };
    let first = enqueue(&store, on(KIND, 7, "a")).await;
    let second = store.enqueue_job(on(KIND, 7, "b"), at(5)).await.unwrap().0;
    let other_kind = store.enqueue_job(on(OTHER, 7, "c"), at(6)).await.unwrap().0;
    enqueue(&store, on(KIND, 8, "d")).await;

    assert_eq!(ids(&store.jobs_for_subject(KIND, 7).await.unwrap()), vec![first.id, second.id]);
    let all = store.jobs_for_subject("", 7).await.unwrap();
    assert_eq!(ids(&all), vec![first.id, second.id, other_kind.id], "an empty kind means every kind");
    assert_eq!(all[0], first, "the jobs as stored");
    assert_eq!(store.jobs_for_subject(OTHER, 8).await.unwrap(), vec![]);
}

pub async fn next_job_due_at_is_the_earliest_queued_or_running_due_time(store: Arc<dyn Store>) {
    assert_eq!(store.next_job_due_at(KIND).await.unwrap(), None);
    enqueue(&store, job(KIND, 30)).await;
    enqueue(&store, job(KIND, 20)).await;
    enqueue(&store, job(OTHER, 5)).await;
    assert_eq!(store.next_job_due_at(KIND).await.unwrap(), Some(at(20)), "of its kind only");

    let running = store.claim_jobs(KIND, 1, 1, at(20), at(25)).await.unwrap().remove(0);
    assert_eq!(store.next_job_due_at(KIND).await.unwrap(), Some(at(25)), "a running job is due at its lease's end");
    assert!(finish(&store, &running, JobOutcome::Succeeded, 21).await);
    assert_eq!(store.next_job_due_at(KIND).await.unwrap(), Some(at(30)));
}

/// Waits for a job signal that was registered before `action` ran.
async fn signalled_by<F: std::future::Future>(store: &Arc<dyn Store>, action: F) -> bool {
    let signal = store.job_signal();
    let notified = signal.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    action.await;
    tokio::time::timeout(Duration::from_secs(5), notified).await.is_ok()
}

pub async fn enqueueing_a_job_signals_the_job_workers(store: Arc<dyn Store>) {
    let enqueueing = async {
        enqueue(&store, job(KIND, 10)).await;
    };
    assert!(signalled_by(&store, enqueueing).await, "no job signal within 5 s of the enqueue");
}

pub async fn a_retry_signals_the_job_workers(store: Arc<dyn Store>) {
    enqueue(&store, job(KIND, 10)).await;
    let running = claim(&store, KIND, 10, 40).await.remove(0);
    let retrying = async {
        assert!(finish(&store, &running, retry(20, "busy"), 11).await);
    };
    assert!(signalled_by(&store, retrying).await, "no job signal within 5 s of the retry");
}
