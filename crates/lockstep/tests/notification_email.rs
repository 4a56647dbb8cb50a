//! Notification emails, end to end: a Sync Overview that goes to the
//! background notifies the admin who started it, and when the notification
//! is not seen in the platform within the tenant's email delay, exactly one
//! email reaches a real SMTP server (`aiosmtpd`), from `lockstep serve`,
//! with a signed link. Following the link (as a browser would, through the
//! server's address) opens a page that follows the same validity rules as
//! the API: a superseded overview's link shows "Sync Overview data no
//! longer valid" and none of its data. A notification seen in time is
//! never emailed.
//!
//! Every third-party request goes through a proxy that slows it down, so no
//! overview ends within the tenant's `background_after_seconds` of 0 and
//! each one goes to the background. The emails' links name
//! `LOCKSTEP_PUBLIC_URL` (`https://lockstep.test`); the tests follow their
//! path and query on the server's own address, as a reverse proxy would.

mod support;

use std::time::{Duration, Instant};

use lockstep::engine::email::message::{self, EmailFacts, Target};
use lockstep::engine::email::sender::{Delivery, SmtpSender, STEP_TIMEOUT};
use lockstep::engine::notify::NotificationKind;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::lockstep_bin::ServeProcess;
use support::proxy::FaultProxy;
use support::smtp::{Mail, SmtpSink};
use support::{Backend, ScimServer};

const PUBLIC_URL: &str = "https://lockstep.test";
const NO_LONGER_VALID: &str = "Sync Overview data no longer valid";
/// How long a background overview and its email may take, at most.
const MAIL_DEADLINE: Duration = Duration::from_secs(30);

/// A `lockstep serve` emailing into a sink, a tenant, and an integration
/// with two employees to create, in front of a slow `scim2-server`.
struct Emailing {
    sink: SmtpSink,
    serve: ServeProcess,
    http: reqwest::Client,
    token: String,
    integration: i64,
    _scim: ScimServer,
    _proxy: FaultProxy,
    _dir: tempfile::TempDir,
}

impl Emailing {
    async fn start(settings: Value) -> Emailing {
        let sink = SmtpSink::start().await;
        let scim = ScimServer::start().await;
        let proxy = FaultProxy::start(&scim.base_url).await;
        proxy.slow_down(Duration::from_millis(500));
        let dir = tempfile::tempdir().unwrap();
        let database_url = Backend::Sqlite.database_url(dir.path()).await;
        let env = [
            ("LOCKSTEP_SMTP_URL", sink.url.as_str()),
            ("LOCKSTEP_EMAIL_FROM", "Lockstep <lockstep@lockstep.test>"),
            ("LOCKSTEP_PUBLIC_URL", PUBLIC_URL),
            ("LOCKSTEP_JOBS__IDLE_POLL_SECONDS", "0.2"),
        ];
        let serve = ServeProcess::start(&database_url, "127.0.0.0/8", &env, &[]).await;
        let token = serve.tenant_admin("acme").await;
        // A long grace period: the employees stay to be created, so the
        // overview has something to count.
        let integration = serve
            .call(
                &token,
                Method::POST,
                "/v1/integrations",
                Some(json!({
                    "name": "Directory",
                    "connector": {"kind": "scim", "base_url": proxy.base_url, "bearer_token": scim.token},
                    "field_mapping": {"email": "userName", "first_name": "name.givenName"},
                    "grace_period_seconds": 3600
                })),
            )
            .await["id"]
            .as_i64()
            .expect("the integration's id");
        for id in ["e-1", "e-2"] {
            let fields = json!({"email": format!("{id}@acme.test"), "first_name": "Ada"});
            serve.call(&token, Method::PUT, &format!("/v1/records/employee/{id}"), Some(fields)).await;
        }
        serve.call(&token, Method::PATCH, "/v1/settings", Some(settings)).await;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
        Emailing { sink, serve, http, token, integration, _scim: scim, _proxy: proxy, _dir: dir }
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.serve.base_url)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Starts a Sync Overview, which goes to the background; answers its id.
    async fn background_overview(&self) -> i64 {
        let path = format!("/v1/integrations/{}/overviews", self.integration);
        let (status, body) = self.send(Method::POST, &path, None).await;
        assert_eq!(status, StatusCode::ACCEPTED, "the overview should continue in the background: {body}");
        assert_eq!(body["status"], "running", "{body}");
        body["id"].as_i64().expect("the overview's id")
    }

    /// The admin's notifications, newest first.
    async fn notifications(&self) -> Vec<Value> {
        let (status, body) = self.send(Method::GET, "/v1/notifications", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until the notification about `overview` exists; answers it.
    async fn notification_about(&self, overview: i64) -> Value {
        let deadline = Instant::now() + MAIL_DEADLINE;
        loop {
            let found = self.notifications().await.into_iter().find(|n| n["target"]["id"] == json!(overview));
            if let Some(notification) = found {
                assert_eq!(notification["target"]["type"], "overview", "{notification}");
                return notification;
            }
            assert!(Instant::now() < deadline, "no notification about overview {overview} within {MAIL_DEADLINE:?}");
            // Bounded polling of the API while the overview runs.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Follows an email's link on this server: its path and query, with no
    /// token. Answers the status, the `Content-Type` and the page.
    async fn follow(&self, link: &str) -> (StatusCode, String, String) {
        let path = link.strip_prefix(PUBLIC_URL).unwrap_or_else(|| panic!("{link} is not below {PUBLIC_URL}"));
        let response = self.http.get(format!("{}{path}", self.serve.base_url)).send().await.unwrap();
        let status = response.status();
        let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
        (status, content_type.unwrap_or_default(), response.text().await.unwrap())
    }
}

/// The notification id an email's link names.
fn linked_notification(mail: &Mail) -> i64 {
    let link = mail.link().unwrap_or_else(|| panic!("no link in the email: {:?}", mail.text));
    let rest = link.split("/links/notifications/").nth(1).unwrap();
    rest.split('?').next().unwrap().parse().unwrap_or_else(|_| panic!("{link}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unseen_background_overview_is_emailed_once_to_its_admin_with_a_link_to_its_data() {
    let setup = Emailing::start(json!({
        "notification_channels": ["in_app", "email"],
        "email_delay_seconds": 1,
        "background_after_seconds": 0
    }))
    .await;
    let overview = setup.background_overview().await;
    let notification = setup.notification_about(overview).await;

    let mails = setup.sink.wait_for(1, MAIL_DEADLINE).await;
    let mail = &mails[0];
    assert!(mail.header("to").unwrap().contains("admin@acme.test"), "{:?}", mail.headers);
    assert_eq!(mail.header("x-rcptto"), Some("admin@acme.test"), "the envelope names the admin only");
    assert!(mail.header("from").unwrap().contains("lockstep@lockstep.test"), "{:?}", mail.headers);
    assert_eq!(mail.header("subject"), Some("Your Sync Overview of Directory is ready"));
    assert!(mail.content_type.starts_with("multipart/alternative"), "{}", mail.content_type);
    let message_id = format!("<lockstep.notification.{}@lockstep.test>", notification["id"]);
    assert_eq!(mail.header("message-id"), Some(message_id.as_str()));
    let (text, html) = (mail.text.as_deref().unwrap(), mail.html.as_deref().unwrap());
    assert!(text.contains("Creates") && html.contains("Creates"), "{text}\n{html}");
    assert!(text.contains("newest Sync Overview of Directory"), "it says how long the link shows data: {text}");
    assert_eq!(linked_notification(mail), notification["id"].as_i64().unwrap());
    let link = mail.link().unwrap();
    assert!(html.contains(&link.replace('&', "&amp;")), "the HTML part links to the same page: {html}");

    let (status, content_type, page) = setup.follow(&link).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert!(page.contains("<title>Sync Overview of Directory</title>"), "{page}");
    assert!(page.contains(&format!("GET /v1/overviews/{overview}/changes")), "{page}");
    assert!(!page.contains(NO_LONGER_VALID), "{page}");

    let flipped = if link.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{flipped}", &link[..link.len() - 1]);
    let (status, content_type, page) = setup.follow(&tampered).await;
    assert_eq!((status, content_type.as_str()), (StatusCode::NOT_FOUND, "text/html; charset=utf-8"), "{page}");
    assert!(!page.contains("Directory"), "a wrong signature shows nothing: {page}");

    let after = setup.notifications().await;
    let listed = after.iter().find(|n| n["id"] == notification["id"]).unwrap();
    assert!(listed["seen_at"].is_null(), "following the link does not mark the notification seen: {listed}");
    // Another attempt of the job would show here; give it a moment.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(setup.sink.mails().len(), 1, "exactly one email");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_seen_before_the_email_delay_is_never_emailed() {
    // Two seconds, so the test marks the first notification seen well
    // within the delay even on a loaded machine.
    const DELAY: u64 = 2;
    let setup = Emailing::start(json!({
        "notification_channels": ["in_app", "email"],
        "email_delay_seconds": DELAY,
        "background_after_seconds": 0
    }))
    .await;
    let first = setup.background_overview().await;
    let seen = setup.notification_about(first).await;
    let seen_at = Instant::now();
    let (status, body) = setup.send(Method::POST, &format!("/v1/notifications/{}/seen", seen["id"]), None).await;
    assert!(status.is_success(), "{status} {body}");
    assert!(seen_at.elapsed() < Duration::from_secs(DELAY), "marked seen after the delay; the test proves nothing");

    // A second notification, left unseen, is emailed: the email job runs,
    // and it ran the first one's job before (that one was due earlier).
    let second = setup.background_overview().await;
    let unseen = setup.notification_about(second).await;
    let mails = setup.sink.wait_for(1, MAIL_DEADLINE).await;
    assert_eq!(linked_notification(&mails[0]), unseen["id"].as_i64().unwrap(), "the unseen one is emailed");
    // Bounded: past the first one's due time by more than a job worker's
    // poll, nothing else arrives.
    let quiet_until = seen_at + Duration::from_secs(DELAY + 3);
    tokio::time::sleep(quiet_until.saturating_duration_since(Instant::now())).await;
    let mails = setup.sink.mails();
    assert_eq!(
        mails.len(),
        1,
        "only the unseen notification is emailed: {:?}",
        mails.iter().map(|m| m.link()).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_of_a_superseded_overview_opens_no_longer_valid_without_its_data() {
    let setup = Emailing::start(json!({
        "notification_channels": ["in_app", "email"],
        "email_delay_seconds": 1,
        "background_after_seconds": 0
    }))
    .await;
    let first = setup.background_overview().await;
    let notification = setup.notification_about(first).await;
    let mails = setup.sink.wait_for(1, MAIL_DEADLINE).await;
    let link = mails[0].link().expect("a link");
    assert_eq!(linked_notification(&mails[0]), notification["id"].as_i64().unwrap());

    // A newer overview of the integration supersedes the first at once.
    let second = setup.background_overview().await;
    assert_ne!(second, first);
    let (status, content_type, page) = setup.follow(&link).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert!(page.contains(&format!("<title>{NO_LONGER_VALID}</title>")), "{page}");
    assert!(page.contains("A newer Sync Overview of this integration has been run since."), "{page}");
    assert!(page.contains("must be run"), "it asks for a new Sync Overview: {page}");
    for data in ["<table", "Creates", "/changes"] {
        assert!(!page.contains(data), "the page shows {data}: {page}");
    }
    // The API says the same of the notification.
    let listed = setup.notifications().await.into_iter().find(|n| n["id"] == notification["id"]).unwrap();
    assert_eq!((listed["valid"].clone(), listed["invalid_reason"].clone()), (json!(false), json!("superseded")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_with_a_wrong_or_missing_signature_is_the_same_html_404_as_an_unknown_one() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = Backend::Sqlite.database_url(dir.path()).await;
    let serve = ServeProcess::start(&database_url, "127.0.0.0/8", &[], &[]).await;
    let http = reqwest::Client::new();
    let signature = "0".repeat(64);
    let mut pages = Vec::new();
    for path in [
        format!("/links/notifications/1?tenant=1&sig={signature}"),
        "/links/notifications/1?tenant=1".to_owned(),
        "/links/notifications/1".to_owned(),
        format!("/links/notifications/not-a-number?tenant=1&sig={signature}"),
    ] {
        let response = http.get(format!("{}{path}", serve.base_url)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], "text/html; charset=utf-8", "{path}");
        assert_eq!(headers["cache-control"], "no-store", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert!(headers["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
        pages.push(response.text().await.unwrap());
    }
    assert!(pages.windows(2).all(|w| w[0] == w[1]), "every refusal reads the same: {pages:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rendered_email_reaches_a_real_smtp_server_whole() {
    let sink = SmtpSink::start().await;
    let sender = SmtpSender::from_url(&sink.url, STEP_TIMEOUT).unwrap();
    let link = format!("{PUBLIC_URL}/links/notifications/42?tenant=3&sig={}", "ab".repeat(32));
    let run = lockstep_store::SyncRun {
        id: 8,
        tenant_id: 3,
        integration_id: 9,
        overview_id: None,
        started_by: 7,
        started_at: chrono::Utc::now(),
        finished_at: Some(chrono::Utc::now()),
        status: lockstep_store::SyncRunStatus::Succeeded,
        error: None,
        counts: lockstep_store::SyncRunCounts { created: 2, updated: 1, deactivated: 0, unchanged: 5, failed: 0 },
        backgrounded: true,
    };
    let rendered = message::render(&EmailFacts {
        kind: NotificationKind::SyncComplete,
        admin_name: "Ada <Admin> Lovelace",
        integration_name: Some("Directory & Co"),
        target: Target::SyncRun(&run),
        link: &link,
        in_app: true,
        overview_validity: chrono::Duration::days(7),
        now: chrono::Utc::now(),
    });
    let message = message::compose(
        rendered,
        "Lockstep <lockstep@lockstep.test>".parse().unwrap(),
        "Ada Lovelace <ada@acme.test>".parse().unwrap(),
        message::message_id(42, PUBLIC_URL),
        std::time::SystemTime::now(),
    )
    .unwrap();
    assert_eq!(sender.send(&message).await, Delivery::Accepted);

    let mails = sink.wait_for(1, Duration::from_secs(10)).await;
    let mail = &mails[0];
    assert_eq!(mail.header("subject"), Some("Sync Now of Directory & Co finished"));
    assert_eq!(mail.header("message-id"), Some("<lockstep.notification.42@lockstep.test>"));
    assert_eq!(mail.header("x-rcptto"), Some("ada@acme.test"));
    assert_eq!(mail.link().as_deref(), Some(link.as_str()), "the link survives the transfer encoding");
    let html = mail.html.as_deref().expect("an HTML part");
    assert!(html.contains("Ada &lt;Admin&gt; Lovelace") && html.contains("Directory &amp; Co"), "{html}");
    assert!(mail.text.as_deref().unwrap().contains("Ada <Admin> Lovelace"));

    // Nothing listens here any more: surely not delivered, worth a retry.
    let closed = SmtpSender::from_url(&format!("smtp://127.0.0.1:{}", support::free_port()), STEP_TIMEOUT).unwrap();
    assert!(matches!(closed.send(&message).await, Delivery::NotDelivered(_)));
}
