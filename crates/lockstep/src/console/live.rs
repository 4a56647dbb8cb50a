//! `GET /console/live`: one Server-Sent Events connection per open page,
//! carrying what the page shows live.
//!
//! - `bell`, always: the admin's unseen count, as the bell shows it;
//! - `record` (`?record_type=&record_id=`): the record's badge, panels and
//!   fields, rendered ([`super::records::status_fragment`]), swapped in by htmx;
//! - `overview` (`?overview=ID`) and `run` (`?run=ID`): a tick each time
//!   the operation moves, on which the page fetches its body again.
//!
//! **Polling, not push.** The connection reads what it watches every
//! `console.live_poll_seconds` and sends an event only when what the page
//! would show changed. A write may be made and pushed by another process
//! (several `lockstep serve` on one PostgreSQL), so an in-process signal
//! would miss it; a read per page per second is what an admin console can
//! afford, and the first change is seen within one period wherever it
//! happened. The session is judged again on every tick: signing out or
//! revoking the token ends the stream.
//!
//! What a page watches is checked when it connects, as its page is: another
//! tenant's record, overview or run is a 404.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::stream::{self, Stream, StreamExt};
use lockstep_store::{OverviewStatus, SyncRunStatus};

use super::page::{number_param, PageError};
use super::records;
use super::session::{session_by_hash, ConsoleAdmin};
use crate::http::AppState;

/// What one page watches.
#[derive(Debug, Clone, Default)]
struct Watch {
    record: Option<(String, String)>,
    overview: Option<i64>,
    run: Option<i64>,
}

/// What was last sent (or first seen) for each event.
#[derive(Default)]
struct Sent {
    bell: Option<String>,
    record: Option<String>,
    overview: Option<String>,
    run: Option<String>,
}

/// `GET /console/live?…`.
pub async fn live(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    RawQuery(raw): RawQuery,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, PageError> {
    let params: BTreeMap<String, String> =
        url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect();
    let mut watch =
        Watch { overview: number_param(&params, "overview")?, run: number_param(&params, "run")?, ..Watch::default() };
    if let (Some(record_type), Some(id)) = (params.get("record_type"), params.get("record_id")) {
        records::load(&state, admin.tenant_id, record_type, id).await?;
        watch.record = Some((record_type.clone(), id.clone()));
    }
    let store = state.engine.store();
    if let Some(id) = watch.overview {
        store.get_overview(admin.tenant_id, id).await?.ok_or_else(|| PageError::not_found("no such overview"))?;
    }
    if let Some(id) = watch.run {
        store.get_sync_run(admin.tenant_id, id).await?.ok_or_else(|| PageError::not_found("no such run"))?;
    }
    let period = Duration::from_secs_f64(state.config.console.live_poll_seconds);
    let events = stream::unfold(
        (state, admin, watch, Sent::default(), true),
        move |(state, admin, watch, mut sent, first)| async move {
            if !first {
                // The poll period of a live page (see the module doc).
                tokio::time::sleep(period).await;
            }
            // A session signed out, expired or whose token was revoked ends here.
            let admin = session_by_hash(&state, &admin.session_hash, admin.csrf.clone()).await.ok()?;
            let events = tick(&state, &admin, &watch, &mut sent).await.ok()?;
            Some((events, (state, admin, watch, sent, false)))
        },
    )
    .flat_map(|events| stream::iter(events.into_iter().map(Ok)));
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// One look at what the page watches: the events to send.
async fn tick(state: &AppState, admin: &ConsoleAdmin, watch: &Watch, sent: &mut Sent) -> Result<Vec<Event>, PageError> {
    let store = state.engine.store();
    let mut events = Vec::new();
    let unseen = store.unseen_notifications(admin.tenant_id, admin.admin_id).await?;
    let bell = format!("{unseen}<span class=\"visually-hidden\"> unseen</span>");
    if sent.bell.as_ref() != Some(&bell) {
        events.push(Event::default().event("bell").data(&bell));
        sent.bell = Some(bell);
    }
    if let Some((record_type, id)) = &watch.record {
        let (record, sync) = records::load(state, admin.tenant_id, record_type, id).await?;
        let names = records::integration_names(state, admin.tenant_id, record_type).await?;
        let html = records::status_fragment(&record, &sync, &names, &admin.csrf)?;
        if sent.record.as_ref() != Some(&html) {
            events.push(Event::default().event("record").data(&html));
            sent.record = Some(html);
        }
    }
    if let Some(id) = watch.overview {
        let state_now = match store.get_overview(admin.tenant_id, id).await? {
            Some(o) if o.status == OverviewStatus::Running => "running".to_owned(),
            Some(o) => o.status.as_str().to_owned(),
            None => "gone".to_owned(),
        };
        if sent.overview.as_ref().is_some_and(|s| *s != state_now) {
            events.push(Event::default().event("overview").data(&state_now));
        }
        sent.overview = Some(state_now);
    }
    if let Some(id) = watch.run {
        let state_now = match store.get_sync_run(admin.tenant_id, id).await? {
            Some(r) => {
                let c = &r.counts;
                let status = if r.status == SyncRunStatus::Running { "running" } else { r.status.as_str() };
                format!("{status} {} {} {} {} {}", c.created, c.updated, c.deactivated, c.unchanged, c.failed)
            }
            None => "gone".to_owned(),
        };
        if sent.run.as_ref().is_some_and(|s| *s != state_now) {
            events.push(Event::default().event("run").data(&state_now));
        }
        sent.run = Some(state_now);
    }
    Ok(events)
}
