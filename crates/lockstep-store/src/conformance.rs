//! The conformance suite: the executable specification of [`Store`].
//!
//! Every backend runs every case against a fresh, migrated, empty store. A
//! backend's `tests/conformance.rs` is one line:
//!
//! ```text
//! lockstep_store::conformance_tests!(async { /* a fresh store */ as Arc<dyn Store> });
//! ```
//!
//! The argument is an expression that yields a future of
//! `Arc<dyn lockstep_store::Store>`; it is evaluated (and awaited) once per
//! test, so each case starts from an empty store. The macro expands to one
//! `#[tokio::test]` per case (multi-threaded, two workers, so concurrent
//! claimers really run at once), named after the case, so a failure names the
//! behaviour that broke. The calling crate needs `tokio` (with `macros` and
//! `rt-multi-thread`) among its dependencies or dev-dependencies.
//!
//! Each case is also a `pub async fn(Arc<dyn Store>)` here, to run one by
//! hand. The cases use fixed, whole-second timestamps (storage keeps
//! milliseconds) and a [`TestPlanner`] instead of the app's planner, which a
//! store crate cannot depend on.
//!
//! Decisions the trait's docs leave open, fixed here so backends agree:
//! - A no-op write (the planner reports no changed fields for a live record
//!   written again, or a deleted record deleted again) stores nothing: not
//!   the record, not the planned syncs; `affected_integrations` is empty.
//! - A delete bumps the version and keeps the fields; a revive bumps it again
//!   and keeps the record's id and `created_at`. Deleting a record that
//!   never existed stores a tombstone (version 1, deleted), which a later
//!   write revives. For `expected_version`, a deleted record counts as
//!   version 0 (the client sees no record).
//! - `PlannedSync::Pending` keeps `claim`, `last_synced_at`, `remote_id` and
//!   the last `errors`, sets `attempts` to 0 and `changed_during_sync` to false.
//! - A finish that re-pends (changed during sync) sets `attempts` to 0, and
//!   `Failed` keeps its errors on the pending state.
//! - `retry_failed` sets `pending_since` to its `due_at` and `attempts` to 0,
//!   and signals work.
//! - `claim_due_syncs` takes the earliest due first.
//! - `sync_status_counts` may leave out statuses with no state.
//! - A token is found by its hash whether revoked or expired (the app
//!   judges that by its clock); revoking it again keeps the first time.
//! - Jobs: a job with a subject and no unique key holds
//!   `"{kind}:{subject_id}"` however it is enqueued (`enqueue_job` too).
//!   A lease that ends at `now` has run out: the job is claimable and no
//!   longer counts against its kind's concurrency. `claim_jobs` returns the
//!   jobs in the order taken (earliest due, then lowest id). A finish or a
//!   heartbeat after its lease ran out still applies while no other claim
//!   took the job: the claim fences, not the clock, as for syncs (and a
//!   heartbeat has no `now` to judge by). A success keeps the
//!   `last_error` of an earlier attempt; a retry keeps the unique key held.
//!   `jobs_for_subject` with an empty kind lists every kind, oldest
//!   (`created_at`, then id) first.
//! - A notification is `get_notification`'s and `mark_notification`'s to
//!   reach whether in-platform or not (an email-only one is opened from its
//!   email); listing, the unseen count and "mark all seen" take only the
//!   in-platform ones, so "mark all" returns how many the count drops by.
//! - Beginning an email judges "seen in time" by `seen_at` being set,
//!   whatever its time, and only for an in-platform notification.
//!   `EmailBegin::Done` carries the state as it stands after the call (an
//!   interrupted send: `Unknown`). Finishing a send takes `Sent`, `Failed`,
//!   `Pending` or `Unknown`; any other state is `Refused`.
//! - `put_settings` stores the JSON object as given and returns it as
//!   stored; `get_settings` of an unknown tenant is `None`, like one never set.
//! - `records_by_external_ids` answers a record once however often its id
//!   is asked.
//! - An overview's or a run's job gets the tenant and the new row as its
//!   subject (so `"{kind}:{id}"` as its unique key unless the caller named
//!   one); when an unfinished job holds the key, nothing is created
//!   (`Conflict`): a row with no job to run it would stay running.
//! - Ending an overview or a run with the status `running` is refused
//!   (`Refused`), and nothing changes.
//! - `last_overview_seq` of an overview that is absent (or another
//!   tenant's) is 0, as for one with no changes; `add_overview_changes` to
//!   it is false. A seq added twice in one page is stored once, as first given.
//! - `background_*` of a running overview or run that is backgrounded
//!   already is true (it is running); the end sees the flag as it is when
//!   the end is stored, and an end with no notification to create stores
//!   none whatever the flag.
//! - `claim_syncs_for_run` answers `Missing` for a record of another tenant
//!   or of another type than the integration's, and for every record when
//!   the tenant has no such integration (nothing is claimed). A record id
//!   given twice is answered as if claimed twice in a row (the second is
//!   `Busy`). A claimed state is a new sync: `attempts` is 1, `claim` one
//!   higher, `pending_since` none, `due_at` the lease; its last errors,
//!   `last_synced_at` and `remote_id` stay, and so does a change owed by an
//!   abandoned sync (`changed_during_sync` of a `syncing` state).
//! - `record_sync_run_results` applies only finishes of the run's own
//!   integration (any other answers false); log entries get seqs 1, 2, …
//!   in the order given, going on from the run's last.
//! - A run's `overview_id` is stored as given, not checked.
//! - `search_records`: a field's text is each string in the field's value,
//!   at any depth; keys, numbers, booleans and nulls are not searched
//!   (`search_rules`). Only ASCII letters fold (`É` does not find `é`).
//!   The empty text finds every live record.
//! - `list_overviews` goes on listing an integration's overviews once it is
//!   deleted (`integration_exists` false), as `get_overview` reads them;
//!   another tenant's integration lists none.
//! - `integration_status_counts` lists each (integration, status) once, in
//!   no particular order; a deleted integration's states went with it.
//! - A sign-in link is made whatever the state of the token (revoked or
//!   expired: the app judges, as after `token_by_hash`). A link has expired
//!   at its `link_expires_at`; a followed link answers `Used` even once its
//!   time is up. A session hash another session holds is `Conflict`, and
//!   the link stays unused. Ending a session again is true and keeps the
//!   first `ended_at`; a link ended before it is followed still signs in
//!   once, to a session that has ended.

mod batches;
mod claims;
mod console;
mod counts;
mod finishes;
mod jobs;
mod notifications;
pub mod overviews;
mod planned_syncs;
mod records;
mod run_claims;
mod search;
pub mod support;
pub mod sync_runs;
mod tenants;
mod tokens;

pub use batches::*;
pub use claims::*;
pub use console::*;
pub use counts::*;
pub use finishes::*;
pub use jobs::*;
pub use notifications::*;
pub use overviews::*;
pub use planned_syncs::*;
pub use records::*;
pub use run_claims::*;
pub use search::*;
pub use support::{PlannerCall, TestPlanner};
pub use sync_runs::*;
pub use tenants::*;
pub use tokens::*;

#[doc(hidden)]
pub use crate::Store as __Store;

/// Expands to one `#[tokio::test]` per conformance case; see the
/// [module docs](crate::conformance).
#[macro_export]
macro_rules! conformance_tests {
    ($store:expr) => {
        $crate::__conformance_cases! { $store;
            // tenants and admins
            a_tenant_is_created_with_its_first_admin,
            an_admin_is_found_by_the_hash_of_their_token,
            an_admin_email_is_unique_within_a_tenant,
            a_token_hash_belongs_to_one_admin_only,
            list_admins_lists_a_tenants_admins_oldest_first,
            // admins' tokens
            tokens_are_created_with_a_label_and_an_expiry_and_listed_oldest_first,
            a_revoked_token_keeps_its_first_revocation_time_and_is_still_found,
            another_tenants_tokens_and_admins_are_absent,
            // integrations
            integrations_are_created_read_listed_updated_and_deleted,
            an_integration_name_is_unique_within_a_tenant,
            another_tenants_integration_is_absent,
            deleting_an_integration_removes_its_sync_states,
            every_integration_change_moves_the_integrations_version,
            // records
            a_new_record_is_created_at_version_1,
            a_changed_record_gets_the_next_version,
            a_write_that_changes_nothing_keeps_the_version_and_stores_nothing,
            a_deleted_record_is_hidden_and_a_later_write_revives_it,
            a_version_conflict_stores_nothing_of_the_batch,
            a_deleted_record_counts_as_version_0,
            deleting_a_record_that_never_existed_leaves_a_tombstone,
            a_later_write_in_a_batch_sees_the_earlier_one_as_previous,
            results_come_back_in_the_order_of_the_writes,
            the_planner_sees_the_previous_record_the_next_fields_and_the_states,
            a_pending_plan_creates_a_pending_state_due_at_the_planned_time,
            a_pending_plan_moves_a_finished_state_back_to_pending_and_resets_attempts,
            a_change_during_a_sync_is_remembered_on_the_syncing_state,
            records_and_states_of_one_tenant_are_invisible_to_another,
            list_records_pages_by_id_after_the_cursor,
            concurrent_writers_of_the_same_new_records_serialize,
            a_write_planned_with_changed_integrations_stores_nothing,
            records_by_external_ids_finds_deleted_records_of_one_tenant_and_type,
            // the console's record search
            search_finds_records_by_id_or_by_a_string_in_their_fields_ignoring_ascii_case,
            search_takes_the_text_literally,
            search_leaves_out_keys_numbers_booleans_and_non_ascii_case,
            search_finds_only_live_records_of_the_tenant_and_type,
            search_pages_by_id_after_the_cursor,
            // claims
            a_claim_makes_the_state_syncing_under_a_lease,
            claiming_takes_only_due_pending_states_and_expired_leases,
            a_reclaimed_state_keeps_its_change_during_sync,
            a_claim_of_a_deleted_record_returns_it_with_deleted_at,
            claiming_respects_the_limit_earliest_due_first,
            concurrent_claimers_never_get_the_same_state,
            a_debounced_state_is_claimed_at_its_latest_due_time,
            a_state_moved_earlier_is_claimed_at_its_earlier_due_time,
            a_due_state_is_claimed_behind_more_debounced_states_than_the_limit,
            // large batches
            a_debounced_batch_is_claimed_at_its_latest_due_time,
            a_batch_moving_due_times_earlier_is_claimed_at_the_earlier_time,
            a_batch_during_a_sync_is_owed_to_the_running_sync,
            a_retry_after_a_debounced_batch_is_due_at_the_retry_time,
            a_single_write_after_a_debounced_batch_moves_the_due_time_either_way,
            // finishes, retries, due times, counts
            a_synced_outcome_records_the_sync,
            a_failed_outcome_keeps_the_errors,
            a_retry_outcome_stays_syncing_until_the_retry_time,
            a_finish_with_a_stale_claim_is_refused,
            a_group_of_finishes_is_stored_whole_or_refused_whole,
            a_change_during_the_sync_sends_the_record_back_to_pending,
            retrying_moves_only_failed_states_back_to_pending,
            next_due_at_is_the_earliest_pending_or_syncing_due_time,
            sync_status_counts_count_states_per_status,
            sync_status_counts_equal_a_full_count_after_every_kind_of_change,
            sync_status_counts_equal_a_full_count_after_a_runs_claims_and_results,
            integration_status_counts_count_a_tenants_states_per_integration_and_status,
            // the work signal
            a_write_that_plans_a_pending_sync_signals_work,
            retrying_failed_syncs_signals_work,
            // the job queue
            an_enqueued_job_is_queued_and_due,
            a_unique_key_enqueues_once_while_its_job_is_unfinished,
            a_job_with_a_subject_and_no_key_holds_its_kind_and_subject,
            a_claim_takes_due_queued_jobs_of_its_kind_earliest_due_first,
            a_job_not_yet_due_is_not_claimed,
            an_expired_lease_is_claimed_again_and_the_old_claim_is_refused,
            a_late_finish_applies_while_no_other_claim_took_the_job,
            claims_respect_the_concurrency_of_a_kind,
            concurrent_claimers_never_share_a_job_nor_exceed_the_concurrency,
            a_succeeded_job_is_done_and_never_claimed_again,
            a_retry_queues_the_job_again_at_its_time_with_its_error,
            a_dead_job_keeps_its_error_and_is_never_claimed_again,
            a_finish_or_heartbeat_with_a_stale_claim_is_refused,
            a_heartbeat_moves_the_lease_so_the_job_is_not_claimed_again,
            jobs_for_subject_lists_a_subjects_jobs_oldest_first,
            next_job_due_at_is_the_earliest_queued_or_running_due_time,
            enqueueing_a_job_signals_the_job_workers,
            a_retry_signals_the_job_workers,
            // notifications and tenant settings
            a_created_notification_is_read_back_with_its_email_state,
            notifications_are_listed_newest_first_before_a_cursor_only_in_app_and_only_the_admins_own,
            the_unseen_count_counts_the_admins_unseen_in_platform_notifications,
            a_seen_notification_keeps_its_first_time_and_reading_implies_seen,
            marking_all_seen_marks_only_the_unseen_created_up_to_now,
            another_admins_or_tenants_notification_is_absent_and_untouched,
            beginning_a_pending_email_makes_it_sending_and_a_send_found_cut_short_is_never_sent_again,
            a_notification_seen_before_its_email_begins_is_not_emailed,
            a_sent_email_records_when_and_is_done,
            an_email_is_finished_only_while_sending,
            a_transient_failure_puts_the_email_back_to_pending_for_a_later_begin,
            settings_are_stored_per_tenant_and_replaced_whole,
            // Sync Overviews
            an_overview_is_created_running_with_its_job,
            an_overview_of_an_absent_integration_is_not_created,
            a_newer_overview_supersedes_the_older_one_whoever_started_it,
            list_overviews_lists_newest_first_before_the_cursor_as_they_are_read_one_by_one,
            overview_changes_are_paged_in_seq_order_and_filtered_by_action,
            adding_a_change_again_by_its_seq_stores_nothing,
            changes_are_refused_once_the_overview_has_ended,
            an_overview_ends_once_with_its_summary_or_its_error,
            an_overview_that_ends_in_the_background_notifies_its_admin,
            backgrounding_and_ending_at_once_agree_on_who_tells_the_admin,
            another_tenants_overviews_and_changes_are_absent,
            // Sync Now runs
            a_sync_run_is_created_running_with_its_job,
            a_sync_run_of_an_absent_integration_is_not_created,
            one_sync_run_runs_per_integration_at_a_time,
            concurrent_sync_run_creates_start_exactly_one,
            a_run_claims_new_pending_synced_and_failed_states,
            a_run_leaves_a_state_syncing_under_a_live_lease_alone,
            a_run_claims_deleted_records_and_answers_missing_ones,
            a_change_written_while_a_run_claims_is_owed_to_its_push,
            a_runs_results_store_fenced_finishes_with_its_log_and_counts,
            a_runs_log_is_paged_and_filtered_by_outcome,
            results_of_a_run_that_has_ended_store_nothing,
            a_sync_run_ends_once_and_notifies_only_in_the_background,
            backgrounding_and_ending_a_run_at_once_agree_on_who_tells_the_admin,
            list_sync_runs_lists_newest_first_before_the_cursor,
            another_tenants_sync_runs_and_logs_are_absent,
            // the admin console's sign-in
            a_link_signs_in_once_and_is_used_from_then_on,
            an_expired_link_signs_no_one_in,
            an_unknown_link_is_unknown,
            two_browsers_following_one_link_get_one_session,
            a_session_is_found_by_its_hash_with_its_token_and_admin_even_once_revoked,
            ending_a_session_keeps_its_first_end_and_another_tenant_cannot,
            a_link_is_made_only_for_the_tenants_admin_with_that_admins_token,
            a_session_hash_names_one_session,
        }
    };
}

/// The expansion of [`conformance_tests!`], one test per listed case.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($store:expr; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store: ::std::sync::Arc<dyn $crate::conformance::__Store> = $store.await;
                $crate::conformance::$case(store).await;
            }
        )*
    };
}
