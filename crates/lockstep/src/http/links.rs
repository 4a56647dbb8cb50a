//! The page a notification email's link opens:
//! `GET /links/notifications/{id}?tenant={tenant_id}&sig={signature}`.
//!
//! The signature is the capability (see [`crate::engine::email::link`]):
//! no bearer token is asked for, as an admin following a link from their
//! mailbox has none. A missing or wrong signature answers exactly as an
//! unknown notification does, a 404 page, so a guess learns nothing.
//!
//! The page follows the same validity rules as the API, decided when the
//! link is followed, not when the email was sent: a Sync Overview that is
//! no longer the newest of its integration, or older than the tenant's
//! `overview_validity_seconds`, opens a page titled "Sync Overview data no
//! longer valid" that says why and shows none of its data; a valid one
//! shows its counts and where its changes are. A Sync Log never expires:
//! a Sync Now link always shows the run. The full lists live in the
//! platform (the API today, the console later).
//!
//! Following the link does not mark the notification seen or read: the
//! link may be opened by a mail scanner or forwarded, and neither is the
//! admin seeing it in the platform. The console marks it read once the
//! admin signs in.
//!
//! Every answer is an HTML page, escaped, never cached, never framed,
//! sending no referrer (the link holds its signature). A store that does
//! not answer gives a 503 page, never a 500.

use std::sync::LazyLock;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use chrono::Duration;
use lockstep_store::{Overview, OverviewStatus, StoreError, SyncRun, SyncRunStatus, TargetType, Timestamp};
use sha2::{Digest, Sha256};

use crate::domain::validity::overview_invalid_reason;
use crate::engine::email::link::LinkSigner;
use crate::engine::email::message::{escape_html, period, run_rows, summary_rows, when};
use crate::http::AppState;

/// The exact title of the page of an overview that is no longer valid.
pub const NO_LONGER_VALID: &str = "Sync Overview data no longer valid";

/// `GET /links/notifications/{id}`.
pub async fn notification_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some((tenant_id, notification_id)) = verified(&state, &id, query.as_deref()) else {
        return not_found().into_response();
    };
    match page(&state, tenant_id, notification_id).await {
        Ok(page) => page.into_response(),
        Err(error) => {
            tracing::error!(%error, notification = notification_id, "the store failed while a notification link was followed");
            unavailable().into_response()
        }
    }
}

/// The tenant and notification a link names, when its signature holds.
fn verified(state: &AppState, id: &str, query: Option<&str>) -> Option<(i64, i64)> {
    let notification_id = id.parse::<i64>().ok().filter(|id| *id > 0)?;
    let (mut tenant, mut signature) = (None, None);
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match &*key {
            "tenant" => tenant = value.parse::<i64>().ok(),
            "sig" => signature = Some(value.into_owned()),
            _ => {}
        }
    }
    let (tenant_id, signature) = (tenant?, signature?);
    LinkSigner::new(state.engine.secrets())
        .verify(tenant_id, notification_id, &signature)
        .then_some((tenant_id, notification_id))
}

async fn page(state: &AppState, tenant_id: i64, notification_id: i64) -> Result<Page, StoreError> {
    let store = state.engine.store();
    let Some(notification) = store.notification_by_id(tenant_id, notification_id).await? else {
        return Ok(not_found());
    };
    let integration_name = |id| async move {
        Ok::<_, StoreError>(match store.get_integration(tenant_id, id).await? {
            Some(integration) => integration.name,
            None => "a deleted integration".to_owned(),
        })
    };
    match notification.target_type {
        TargetType::Overview => {
            let Some(overview) = store.get_overview(tenant_id, notification.target_id).await? else {
                return Ok(not_found());
            };
            let settings = state.engine.settings(tenant_id).await?;
            let validity = Duration::seconds(i64::from(settings.overview_validity_seconds));
            let integration = integration_name(overview.integration_id).await?;
            Ok(overview_page(&overview, &integration, validity, state.engine.clock().now()))
        }
        TargetType::SyncRun => {
            let Some(run) = store.get_sync_run(tenant_id, notification.target_id).await? else {
                return Ok(not_found());
            };
            let integration = integration_name(run.integration_id).await?;
            Ok(sync_run_page(&run, &integration))
        }
    }
}

/// The page of an overview, as its validity at `now` allows.
fn overview_page(overview: &Overview, integration: &str, validity: Duration, now: Timestamp) -> Page {
    if let Some(reason) = overview_invalid_reason(overview, validity, now) {
        return Page::new(StatusCode::OK, NO_LONGER_VALID)
            .paragraph(reason.explanation())
            .paragraph(&format!(
                "A Sync Overview's data is shown only while it is the newest Sync Overview of its integration and \
                 for {} after it was started. A new Sync Overview of {integration} must be run to see what a full \
                 sync would change now.",
                period(validity)
            ))
            .api(&format!("POST /v1/integrations/{}/overviews", overview.integration_id), "runs a new one");
    }
    let title = format!("Sync Overview of {integration}");
    match overview.status {
        OverviewStatus::Ready => Page::new(StatusCode::OK, &title)
            .paragraph(&format!(
                "Started {}, finished {}. What a full sync would change in {integration}:",
                when(overview.created_at),
                overview.finished_at.map_or_else(|| "-".to_owned(), when)
            ))
            .counts(&summary_rows(&overview.summary))
            .paragraph(&format!(
                "This data is valid while this is the newest Sync Overview of {integration}, until {} at the latest.",
                when(overview.created_at + validity)
            ))
            .paragraph("The full list of changes, field by field, is in the platform.")
            .api(&format!("GET /v1/overviews/{}/changes", overview.id), "lists them"),
        OverviewStatus::Failed => Page::new(StatusCode::OK, &format!("{title} failed"))
            .paragraph(&format!("Started {}. It failed:", when(overview.created_at)))
            .preformatted(overview.error.as_deref().unwrap_or("No reason was recorded."))
            .paragraph(&format!("Nothing was changed in {integration}: a Sync Overview only reads.")),
        OverviewStatus::Running => Page::new(StatusCode::OK, &format!("{title} is still running"))
            .paragraph(&format!("Started {}.", when(overview.created_at)))
            .api(&format!("GET /v1/overviews/{}", overview.id), "tells when it is ready"),
    }
}

/// The page of a sync run: always valid, as its Sync Log never expires.
fn sync_run_page(run: &SyncRun, integration: &str) -> Page {
    let (title, status) = match run.status {
        SyncRunStatus::Succeeded => ("finished", "Every operation succeeded."),
        SyncRunStatus::PartiallyFailed => ("finished", "Some operations failed; the Sync Log says which and why."),
        SyncRunStatus::Failed => ("failed", "It stopped before the end."),
        SyncRunStatus::Running => ("is running", "It has not finished yet."),
    };
    let mut page = Page::new(StatusCode::OK, &format!("Sync Now of {integration} {title}"))
        .paragraph(&format!(
            "Started {}{}. {status}",
            when(run.started_at),
            run.finished_at.map_or_else(String::new, |at| format!(", ended {}", when(at)))
        ))
        .counts(&run_rows(&run.counts));
    if let Some(error) = &run.error {
        page = page.preformatted(error);
    }
    page.paragraph("The Sync Log keeps every operation with its outcome; it does not expire.")
        .api(&format!("GET /v1/sync-runs/{}/log", run.id), "lists it")
}

/// The answer to a link that names nothing, or is not signed as it should be.
fn not_found() -> Page {
    Page::new(StatusCode::NOT_FOUND, "Link not found").paragraph(
        "This link does not lead to a notification. It may have been cut short or changed; open your notifications \
         in the platform instead.",
    )
}

fn unavailable() -> Page {
    Page::new(StatusCode::SERVICE_UNAVAILABLE, "Not available right now")
        .paragraph("This page cannot be shown at the moment. Try again in a minute.")
}

/// An HTML page, built from escaped parts.
#[derive(Debug)]
struct Page {
    status: StatusCode,
    title: String,
    body: String,
}

impl Page {
    fn new(status: StatusCode, title: &str) -> Page {
        Page { status, title: title.to_owned(), body: String::new() }
    }

    fn paragraph(mut self, text: &str) -> Page {
        self.body.push_str(&format!("<p>{}</p>\n", escape_html(text)));
        self
    }

    fn preformatted(mut self, text: &str) -> Page {
        self.body.push_str(&format!("<pre>{}</pre>\n", escape_html(text)));
        self
    }

    fn counts(mut self, rows: &[(&str, i64)]) -> Page {
        self.body.push_str("<table class=\"counts\">\n");
        for (label, count) in rows {
            self.body.push_str(&format!("<tr><th>{}</th><td>{count}</td></tr>\n", escape_html(label)));
        }
        self.body.push_str("</table>\n");
        self
    }

    /// The API call that goes further, and what it does.
    fn api(mut self, call: &str, what: &str) -> Page {
        self.body.push_str(&format!(
            "<p class=\"api\">Through the API: <code>{}</code> {}.</p>\n",
            escape_html(call),
            escape_html(what)
        ));
        self
    }

    fn html(&self) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <meta name=\"robots\" content=\"noindex\">\n<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n\
             <body>\n<main>\n<h1>{title}</h1>\n{body}</main>\n</body>\n</html>\n",
            title = escape_html(&self.title),
            body = self.body
        )
    }
}

const STYLE: &str = "body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#1f2328;\
margin:2rem auto;max-width:40rem;padding:0 1rem;line-height:1.5}\
h1{font-size:1.5rem}table.counts{border-collapse:collapse}\
table.counts th{text-align:left;font-weight:normal;padding:2px 16px 2px 0}\
table.counts td{text-align:right;font-weight:bold}pre{white-space:pre-wrap;background:#f6f8fa;padding:.5rem}\
.api{color:#59636e}";

/// Nothing but the page's own style sheet, named by its hash: no script,
/// image, form or frame, and no framing of the page.
static CONTENT_SECURITY_POLICY: LazyLock<String> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
});

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.html()).into_response();
        let headers = response.headers_mut();
        for (name, value) in [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // The page holds a tenant's data and the link its capability.
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::HeaderName::from_static("x-robots-tag"), "noindex"),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }
        if let Ok(policy) = HeaderValue::from_str(&CONTENT_SECURITY_POLICY) {
            headers.insert(header::CONTENT_SECURITY_POLICY, policy);
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::engine::email::fixtures::{overview, run, t0};

    fn week() -> Duration {
        Duration::days(7)
    }

    #[test]
    fn a_valid_overview_shows_its_counts_and_where_its_changes_are() {
        let page = overview_page(&overview(), "Directory", week(), t0() + Duration::days(1)).html();
        assert!(page.contains("<title>Sync Overview of Directory</title>"), "{page}");
        assert!(page.contains("<th>Creates</th><td>12</td>"), "{page}");
        assert!(page.contains("GET /v1/overviews/5/changes"), "{page}");
        assert!(page.contains("2026-11-09 09:30 UTC"), "valid until: {page}");
        assert!(!page.contains(NO_LONGER_VALID));
    }

    #[test]
    fn an_overview_no_longer_valid_says_why_and_shows_none_of_its_data() {
        let superseded = Overview { superseded_by: Some(6), ..overview() };
        let deleted = Overview { integration_exists: false, ..overview() };
        for (overview, now, why) in [
            (&superseded, t0() + Duration::minutes(5), "A newer Sync Overview of this integration has been run since."),
            (&overview(), t0() + week(), "It is older than the tenant's Sync Overview validity period."),
            (&deleted, t0(), "Its integration has been deleted."),
        ] {
            let page = overview_page(overview, "Directory", week(), now).html();
            assert!(page.contains(&format!("<title>{NO_LONGER_VALID}</title>")), "{page}");
            assert!(page.contains(&format!("<h1>{NO_LONGER_VALID}</h1>")), "{page}");
            assert!(page.contains(&escape_html(why)), "{page}");
            assert!(page.contains("A new Sync Overview of Directory must be run"), "{page}");
            for data in ["<table", "Creates", "12", "/changes"] {
                assert!(!page.contains(data), "{data} shown: {page}");
            }
        }
    }

    #[test]
    fn a_failed_overview_shows_its_error_escaped() {
        let failed = Overview { status: OverviewStatus::Failed, error: Some("<b>401</b>".into()), ..overview() };
        let page = overview_page(&failed, "Directory", week(), t0()).html();
        assert!(page.contains("<title>Sync Overview of Directory failed</title>"), "{page}");
        assert!(page.contains("&lt;b&gt;401&lt;/b&gt;") && !page.contains("<b>401"), "{page}");
    }

    #[test]
    fn a_sync_run_is_always_shown_with_its_counts_and_its_log() {
        let page = sync_run_page(&run(SyncRunStatus::PartiallyFailed, None), "Directory").html();
        assert!(page.contains("<title>Sync Now of Directory finished</title>"), "{page}");
        assert!(page.contains("<th>Created</th><td>11</td>") && page.contains("Some operations failed"), "{page}");
        assert!(page.contains("GET /v1/sync-runs/8/log"), "{page}");
        let failed = sync_run_page(&run(SyncRunStatus::Failed, Some("the third party said <no>")), "Directory").html();
        assert!(failed.contains("Sync Now of Directory failed") && failed.contains("said &lt;no&gt;"), "{failed}");
    }

    #[test]
    fn names_are_escaped_everywhere_on_the_page() {
        let name = "<script>alert('x')</script> & Co";
        let page = overview_page(&overview(), name, week(), t0()).html();
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Co"), "{page}");
    }

    #[test]
    fn every_page_is_uncached_unframed_html_and_an_unknown_link_is_a_404_page() {
        let response = not_found().into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let headers = response.headers();
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
        let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            policy.starts_with("default-src 'none'; style-src 'sha256-") && policy.contains("frame-ancestors 'none'")
        );
        let unavailable = unavailable().into_response();
        assert_eq!(unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(unavailable.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
    }
}
