//! What a notification's email says, and the message that carries it.
//!
//! Each kind of notification fills one [`Content`] (subject, paragraphs,
//! counts, error, link, notes); two renderers turn it into the text and the
//! HTML part of a `multipart/alternative` message, so both always say the
//! same. Everything that comes from data (names, errors) is escaped in
//! the HTML part, and kept to one line in the subject.
//!
//! The facts are read when the email is sent, after the email delay. An
//! overview that is no longer valid by then is not presented as current:
//! the email says it finished and is no longer valid, without its counts,
//! as its link would.

use std::time::SystemTime;

use chrono::Duration;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart};
use lettre::Message;
use lockstep_store::{Overview, OverviewSummary, SyncRun, SyncRunCounts, SyncRunStatus, Timestamp};

use crate::domain::validity::overview_invalid_reason;
use crate::engine::notify::NotificationKind;

/// What an email is about, read when it is sent.
#[derive(Debug, Clone)]
pub struct EmailFacts<'a> {
    pub kind: NotificationKind,
    /// The admin it goes to.
    pub admin_name: &'a str,
    /// `None` when the integration has been deleted since.
    pub integration_name: Option<&'a str>,
    pub target: Target<'a>,
    /// The signed link to the notification's page.
    pub link: &'a str,
    /// The notification is shown in the platform too (so the email went
    /// out because it was not seen there in time).
    pub in_app: bool,
    /// The tenant's validity period of a Sync Overview.
    pub overview_validity: Duration,
    pub now: Timestamp,
}

/// What the notification is about.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Overview(&'a Overview),
    SyncRun(&'a SyncRun),
    /// Gone since (its integration was deleted, say).
    Missing,
}

/// An email's subject and its two bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// One email's content, before it is rendered as text and as HTML.
#[derive(Debug, Default)]
struct Content {
    subject: String,
    /// Paragraphs before the counts.
    lead: Vec<String>,
    /// Counts, as label and number.
    rows: Vec<(&'static str, i64)>,
    /// The error the operation ended with.
    error: Option<String>,
    /// What the link opens.
    link_text: &'static str,
    /// Paragraphs after the link.
    notes: Vec<String>,
}

/// Renders the email of a notification.
pub fn render(facts: &EmailFacts<'_>) -> Rendered {
    let content = content(facts);
    let mut footer =
        "You receive this email because you started this operation and it finished in the background.".to_owned();
    if facts.in_app {
        footer.push_str(" Its notification was not seen in the platform in time.");
    }
    Rendered {
        subject: one_line(&content.subject),
        text: text(&content, facts, &footer),
        html: html(&content, facts, &footer),
    }
}

fn content(facts: &EmailFacts<'_>) -> Content {
    let integration = facts.integration_name.unwrap_or("a deleted integration");
    match (facts.kind, facts.target) {
        (NotificationKind::SyncOverviewReady, Target::Overview(overview)) => {
            let started = format!("started {}", when(overview.created_at));
            match overview_invalid_reason(overview, facts.overview_validity, facts.now) {
                None => Content {
                    subject: format!("Your Sync Overview of {integration} is ready"),
                    lead: vec![format!(
                        "Your Sync Overview of {integration}, {started}, is ready. It previews what a full sync \
                         would change in {integration}:"
                    )],
                    rows: summary_rows(&overview.summary),
                    link_text: "Open the Sync Overview",
                    notes: vec![format!(
                        "The link shows this overview's data only while it is valid: while it is the newest Sync \
                         Overview of {integration} (a new one, by you or another administrator, replaces it), and \
                         for {} after it was started, until {} at the latest. After that, run a new Sync Overview.",
                        period(facts.overview_validity),
                        when(overview.created_at + facts.overview_validity)
                    )],
                    ..Content::default()
                },
                Some(reason) => Content {
                    subject: format!("Your Sync Overview of {integration} finished, but is no longer valid"),
                    lead: vec![
                        format!("Your Sync Overview of {integration}, {started}, finished, but its data is no longer valid: {}", reason.explanation()),
                        format!("Run a new Sync Overview to see what a full sync would change in {integration} now."),
                    ],
                    link_text: "See why in the platform",
                    ..Content::default()
                },
            }
        }
        (NotificationKind::SyncOverviewFailed, Target::Overview(overview)) => Content {
            subject: format!("Your Sync Overview of {integration} failed"),
            lead: vec![format!("Your Sync Overview of {integration}, started {}, failed.", when(overview.created_at))],
            error: Some(overview.error.clone().unwrap_or_else(|| "No reason was recorded.".to_owned())),
            link_text: "Open the notification",
            notes: vec![format!(
                "Nothing was changed in {integration}: a Sync Overview only reads. Run it again once the cause is \
                 fixed."
            )],
            ..Content::default()
        },
        (NotificationKind::SyncComplete, Target::SyncRun(run)) => Content {
            subject: format!("Sync Now of {integration} finished"),
            lead: vec![format!(
                "Sync Now of {integration}, started {}, finished{}:",
                when(run.started_at),
                match run.status {
                    SyncRunStatus::PartiallyFailed => ", but some operations failed",
                    _ => "",
                }
            )],
            rows: run_rows(&run.counts),
            link_text: "Open the Sync Log",
            notes: vec!["The Sync Log keeps every operation with its outcome; it does not expire.".to_owned()],
            ..Content::default()
        },
        (NotificationKind::SyncRunFailed, Target::SyncRun(run)) => Content {
            subject: format!("Sync Now of {integration} failed"),
            lead: vec![format!(
                "Sync Now of {integration}, started {}, failed. What it did before it stopped:",
                when(run.started_at)
            )],
            rows: run_rows(&run.counts),
            error: Some(run.error.clone().unwrap_or_else(|| "No reason was recorded.".to_owned())),
            link_text: "Open the Sync Log",
            notes: vec!["The Sync Log keeps every operation with its outcome; it does not expire.".to_owned()],
        },
        // The target is gone (or is not what the kind names): say what
        // ended, and let the link's page say what is left.
        (kind, _) => Content {
            subject: match kind {
                NotificationKind::SyncOverviewReady => format!("Your Sync Overview of {integration} is ready"),
                NotificationKind::SyncOverviewFailed => format!("Your Sync Overview of {integration} failed"),
                NotificationKind::SyncComplete => format!("Sync Now of {integration} finished"),
                NotificationKind::SyncRunFailed => format!("Sync Now of {integration} failed"),
            },
            lead: vec!["Its details are no longer available.".to_owned()],
            link_text: "Open the notification",
            ..Content::default()
        },
    }
}

fn text(content: &Content, facts: &EmailFacts<'_>, footer: &str) -> String {
    let mut out = format!("Hello {},\n\n", facts.admin_name);
    for paragraph in &content.lead {
        out.push_str(&format!("{paragraph}\n\n"));
    }
    if !content.rows.is_empty() {
        let width = content.rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
        for (label, count) in &content.rows {
            out.push_str(&format!("  {label:<width$}  {count:>6}\n"));
        }
        out.push('\n');
    }
    if let Some(error) = &content.error {
        out.push_str(&format!("Error: {error}\n\n"));
    }
    out.push_str(&format!("{}:\n{}\n\n", content.link_text, facts.link));
    for paragraph in &content.notes {
        out.push_str(&format!("{paragraph}\n\n"));
    }
    out.push_str(&format!("-- \n{footer}\n"));
    out
}

fn html(content: &Content, facts: &EmailFacts<'_>, footer: &str) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>{}</title></head>\n\
         <body style=\"font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; color: #1f2328; \
         max-width: 40em\">\n<p>Hello {},</p>\n",
        escape_html(&content.subject),
        escape_html(facts.admin_name)
    );
    for paragraph in &content.lead {
        out.push_str(&format!("<p>{}</p>\n", escape_html(paragraph)));
    }
    if !content.rows.is_empty() {
        out.push_str("<table style=\"border-collapse: collapse\">\n");
        for (label, count) in &content.rows {
            out.push_str(&format!(
                "<tr><th style=\"text-align: left; font-weight: normal; padding: 2px 16px 2px 0\">{}</th>\
                 <td style=\"text-align: right; font-weight: bold\">{count}</td></tr>\n",
                escape_html(label)
            ));
        }
        out.push_str("</table>\n");
    }
    if let Some(error) = &content.error {
        out.push_str(&format!(
            "<p><strong>Error:</strong></p>\n<pre style=\"white-space: pre-wrap\">{}</pre>\n",
            escape_html(error)
        ));
    }
    out.push_str(&format!(
        "<p><a href=\"{}\" style=\"font-weight: bold\">{}</a></p>\n",
        escape_html(facts.link),
        escape_html(content.link_text)
    ));
    for paragraph in &content.notes {
        out.push_str(&format!("<p>{}</p>\n", escape_html(paragraph)));
    }
    out.push_str(&format!(
        "<p style=\"color: #59636e; font-size: smaller\">{}</p>\n</body>\n</html>\n",
        escape_html(footer)
    ));
    out
}

/// The message: `From` the configured sender, `To` the admin, with a
/// `Message-ID` made from the notification, so the same notification's
/// email is recognisably one message wherever it is seen.
pub fn compose(
    rendered: Rendered,
    from: Mailbox,
    to: Mailbox,
    message_id: String,
    date: SystemTime,
) -> Result<Message, lettre::error::Error> {
    Message::builder().from(from).to(to).subject(rendered.subject).message_id(Some(message_id)).date(date).multipart(
        MultiPart::alternative()
            .singlepart(lettre::message::SinglePart::builder().header(ContentType::TEXT_PLAIN).body(rendered.text))
            .singlepart(lettre::message::SinglePart::builder().header(ContentType::TEXT_HTML).body(rendered.html)),
    )
}

/// `<lockstep.notification.{id}@{host of public_url}>`: the same for every
/// attempt of one notification's email.
pub fn message_id(notification_id: i64, public_url: &str) -> String {
    let host = url::Url::parse(public_url).ok().and_then(|url| url.host_str().map(str::to_owned));
    let host = host.filter(|h| !h.is_empty()).unwrap_or_else(|| "localhost".to_owned());
    // An IPv6 host comes bracketed from the URL, which a Message-ID's
    // right-hand side also allows (a domain literal).
    format!("<lockstep.notification.{notification_id}@{host}>")
}

/// An overview's counts, as an admin reads them.
pub fn summary_rows(summary: &OverviewSummary) -> Vec<(&'static str, i64)> {
    vec![
        ("Creates", summary.create),
        ("Updates", summary.update),
        ("Deactivations", summary.deactivate),
        ("Errors", summary.error),
        ("Unchanged", summary.unchanged),
        ("Not managed (left alone)", summary.unmanaged),
    ]
}

/// A sync run's counts, as an admin reads them.
pub fn run_rows(counts: &SyncRunCounts) -> Vec<(&'static str, i64)> {
    vec![
        ("Created", counts.created),
        ("Updated", counts.updated),
        ("Deactivated", counts.deactivated),
        ("Unchanged", counts.unchanged),
        ("Failed", counts.failed),
    ]
}

/// A time as an admin reads it, in UTC.
pub fn when(time: Timestamp) -> String {
    time.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A period in the largest whole unit that states it exactly: `7 days`,
/// `36 hours`, `90 seconds`.
pub fn period(duration: Duration) -> String {
    let seconds = duration.num_seconds();
    let (count, unit) = [(86_400, "day"), (3_600, "hour"), (60, "minute")]
        .into_iter()
        .find(|(size, _)| seconds >= *size && seconds % size == 0)
        .map_or((seconds, "second"), |(size, unit)| (seconds / size, unit));
    format!("{count} {unit}{}", if count == 1 { "" } else { "s" })
}

/// `text` with HTML's special characters escaped, for an element's content
/// or a quoted attribute value.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A subject on one line: data with line breaks or other control
/// characters in it must not start a header of its own.
fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_control()).filter(|part| !part.is_empty()).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use lockstep_store::OverviewStatus;

    const LINK: &str = "https://lockstep.example/links/notifications/42?tenant=3&sig=abc";

    use super::super::fixtures::{overview, run, t0};

    fn facts<'a>(kind: NotificationKind, target: Target<'a>, integration: &'a str) -> EmailFacts<'a> {
        EmailFacts {
            kind,
            admin_name: "Ada Lovelace",
            integration_name: Some(integration),
            target,
            link: LINK,
            in_app: true,
            overview_validity: Duration::days(7),
            now: t0() + Duration::minutes(20),
        }
    }

    fn parts(message: &Message) -> String {
        String::from_utf8(message.formatted()).unwrap()
    }

    #[test]
    fn a_ready_overview_email_has_its_counts_its_link_and_how_long_the_link_shows_the_data() {
        let overview = overview();
        let rendered = render(&facts(NotificationKind::SyncOverviewReady, Target::Overview(&overview), "Directory"));
        assert_eq!(rendered.subject, "Your Sync Overview of Directory is ready");
        for body in [&rendered.text, &rendered.html] {
            assert!(body.contains("Ada Lovelace"), "{body}");
            assert!(body.contains("Creates") && body.contains("12") && body.contains("Deactivations"), "{body}");
            assert!(body.contains("7 days") && body.contains("2026-11-09 09:30 UTC"), "{body}");
            assert!(body.contains("newest Sync Overview of Directory"), "{body}");
        }
        assert!(rendered.text.contains(LINK), "the text part holds the link as it is: {}", rendered.text);
        assert!(rendered.html.contains(&format!("href=\"{}\"", LINK.replace('&', "&amp;"))), "{}", rendered.html);
    }

    #[test]
    fn an_overview_no_longer_valid_when_the_email_goes_out_is_not_shown_as_current() {
        let superseded = Overview { superseded_by: Some(6), ..overview() };
        let rendered = render(&facts(NotificationKind::SyncOverviewReady, Target::Overview(&superseded), "Directory"));
        assert!(rendered.subject.contains("no longer valid"), "{}", rendered.subject);
        for body in [&rendered.text, &rendered.html] {
            assert!(body.contains("A newer Sync Overview of this integration has been run since."), "{body}");
            assert!(!body.contains("Creates") && !body.contains("12"), "no data: {body}");
            assert!(body.contains("Run a new Sync Overview"), "{body}");
        }
        let expired = overview();
        let late = EmailFacts {
            now: t0() + Duration::days(8),
            ..facts(NotificationKind::SyncOverviewReady, Target::Overview(&expired), "Directory")
        };
        assert!(!render(&late).text.contains("Creates"));
    }

    #[test]
    fn names_and_errors_are_escaped_in_the_html_part_and_kept_in_the_text_part() {
        let name = "<script>alert(\"x\")</script> & 'Co'";
        let failed =
            Overview { status: OverviewStatus::Failed, error: Some("401 <b>Unauthorized</b>".into()), ..overview() };
        let rendered = render(&facts(NotificationKind::SyncOverviewFailed, Target::Overview(&failed), name));
        assert!(!rendered.html.contains("<script>") && !rendered.html.contains("<b>"), "{}", rendered.html);
        assert!(rendered.html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;Co&#39;"));
        assert!(rendered.html.contains("401 &lt;b&gt;Unauthorized&lt;/b&gt;"));
        assert!(rendered.text.contains(name) && rendered.text.contains("401 <b>Unauthorized</b>"));
    }

    #[test]
    fn a_name_with_line_breaks_cannot_add_a_header() {
        let overview = overview();
        let name = "Directory\r\nBcc: mallory@evil.example";
        let rendered = render(&facts(NotificationKind::SyncOverviewReady, Target::Overview(&overview), name));
        assert_eq!(rendered.subject, "Your Sync Overview of Directory Bcc: mallory@evil.example is ready");
        let message = compose(
            rendered,
            "Lockstep <lockstep@example.com>".parse().unwrap(),
            "Ada <ada@acme.test>".parse().unwrap(),
            message_id(42, "https://lockstep.example"),
            SystemTime::UNIX_EPOCH,
        )
        .unwrap();
        let formatted = parts(&message);
        let headers = formatted.split("\r\n\r\n").next().unwrap();
        assert!(!headers.contains("\r\nBcc:"), "{headers}");
        assert_eq!(message.envelope().to().len(), 1);
    }

    #[test]
    fn a_finished_sync_now_email_has_its_counts_and_the_sync_log_link() {
        let run = run(SyncRunStatus::PartiallyFailed, None);
        let rendered = render(&facts(NotificationKind::SyncComplete, Target::SyncRun(&run), "Directory"));
        assert_eq!(rendered.subject, "Sync Now of Directory finished");
        for body in [&rendered.text, &rendered.html] {
            assert!(body.contains("some operations failed") && body.contains("Open the Sync Log"), "{body}");
            assert!(body.contains("Created") && body.contains("11") && body.contains("does not expire"), "{body}");
        }
        assert!(rendered.text.contains(LINK));
    }

    #[test]
    fn a_failed_sync_now_email_says_why() {
        let run = run(SyncRunStatus::Failed, Some("the third party answered 401"));
        let rendered = render(&facts(NotificationKind::SyncRunFailed, Target::SyncRun(&run), "Directory"));
        assert_eq!(rendered.subject, "Sync Now of Directory failed");
        assert!(rendered.text.contains("Error: the third party answered 401"), "{}", rendered.text);
        assert!(rendered.html.contains("the third party answered 401"));
    }

    #[test]
    fn the_message_is_multipart_alternative_from_the_sender_to_the_admin_with_a_stable_message_id() {
        let overview = overview();
        let rendered = render(&facts(NotificationKind::SyncOverviewReady, Target::Overview(&overview), "Directory"));
        let message = compose(
            rendered,
            "Lockstep <lockstep@example.com>".parse().unwrap(),
            "Ada Lovelace <ada@acme.test>".parse().unwrap(),
            message_id(42, "https://lockstep.example:8443/base"),
            SystemTime::UNIX_EPOCH,
        )
        .unwrap();
        let formatted = parts(&message);
        assert!(formatted.contains("Message-ID: <lockstep.notification.42@lockstep.example>"), "{formatted}");
        assert!(formatted.contains("From: Lockstep <lockstep@example.com>"), "{formatted}");
        assert!(formatted.contains("To: \"Ada Lovelace\" <ada@acme.test>"), "{formatted}");
        assert!(formatted.contains("Content-Type: multipart/alternative"), "{formatted}");
        let (plain, html) = (formatted.find("Content-Type: text/plain"), formatted.find("Content-Type: text/html"));
        assert!(plain.is_some() && html.is_some() && plain < html, "text first, HTML last (preferred): {formatted}");
        assert_eq!(message.envelope().from().map(|a| a.to_string()), Some("lockstep@example.com".to_owned()));
        assert_eq!(message_id(42, "not a url"), "<lockstep.notification.42@localhost>");
    }

    #[test]
    fn periods_are_stated_in_the_largest_exact_unit() {
        assert_eq!(period(Duration::days(7)), "7 days");
        assert_eq!(period(Duration::days(1)), "1 day");
        assert_eq!(period(Duration::hours(36)), "36 hours");
        assert_eq!(period(Duration::seconds(90)), "90 seconds");
        assert_eq!(period(Duration::minutes(1)), "1 minute");
    }
}
