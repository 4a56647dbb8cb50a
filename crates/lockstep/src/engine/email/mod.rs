//! Notification emails: the job that sends one, at most once, when its
//! notification was not seen in the platform in time.
//!
//! An operation that ended in the background creates its notification and,
//! when the tenant emails, a `notification_email` job due after the email
//! delay ([`crate::engine::notify`]). One attempt of that job:
//!
//! 1. asks the store to begin the email
//!    ([`begin_notification_email`](lockstep_store::NotificationStore::begin_notification_email)):
//!    a notification seen in the platform meanwhile needs no email, one
//!    whose email was sent, failed or was interrupted is left alone, and
//!    otherwise the email becomes `sending`;
//! 2. reads what the email says, as it is now: the admin, the overview or
//!    the sync run, the integration's name, the tenant's settings
//!    ([`message`]), and the signed link to the notification's page
//!    ([`link`]);
//! 3. sends it ([`sender`]) and finishes it: `sent`; `pending` again when
//!    the SMTP server surely did not take it (the job retries with
//!    backoff); `failed` when it refused it for good.
//!
//! At most once: an email is never sent again once its data may have
//! reached the server. A send interrupted by a crash leaves the email
//! `sending`, which the store turns into `unknown` on the next attempt,
//! sending nothing; a send that lost its connection after the message's
//! data went out is settled the same way, at once. When the job's attempts
//! run out, [`JobHandler::give_up`] marks a still-pending email `failed`.
//!
//! Without `smtp_url`, nothing is sent: the log says to whom, with which
//! subject and link, and the email is marked `failed` ("no smtp_url
//! configured"), which is what happened to it.

#[cfg(test)]
pub(crate) mod fixtures;
pub mod link;
pub mod message;
pub mod sender;

use std::sync::Arc;

use async_trait::async_trait;
use lettre::message::Mailbox;
use lockstep_store::{EmailBegin, EmailState, Job, Notification, Overview, StoreError, SyncRun, TargetType};

use self::link::LinkSigner;
use self::message::{EmailFacts, Rendered, Target};
use self::sender::{Delivery, SmtpSender};
use crate::config::Config;
use crate::engine::jobs::{JobHandler, JobResult};
use crate::engine::notify::{NotificationKind, EMAIL_JOB};
use crate::engine::Engine;

/// The handler of `notification_email` jobs, as the app registers it.
pub fn email_job(engine: Engine, config: Arc<Config>) -> Arc<dyn JobHandler> {
    Arc::new(EmailJob::new(engine, config))
}

/// Sends notification emails.
pub struct EmailJob {
    engine: Engine,
    config: Arc<Config>,
    outbox: Outbox,
    links: LinkSigner,
}

/// Where emails go.
enum Outbox {
    /// Through the configured SMTP server, from `email_from`.
    Smtp { sender: SmtpSender, from: Mailbox },
    /// `smtp_url` is not set: emails are logged, not sent.
    Unconfigured,
    /// The configuration cannot send, for this reason.
    Unusable(String),
}

impl EmailJob {
    /// Reads `smtp_url` and `email_from` once.
    pub fn new(engine: Engine, config: Arc<Config>) -> EmailJob {
        let outbox = match &config.smtp_url {
            None => {
                tracing::info!("no smtp_url configured: notification emails are logged, not sent");
                Outbox::Unconfigured
            }
            Some(url) => {
                match (SmtpSender::from_url(url, sender::STEP_TIMEOUT), config.email_from.parse::<Mailbox>()) {
                    (Ok(sender), Ok(from)) => Outbox::Smtp { sender, from },
                    (Err(error), _) => Outbox::Unusable(error.to_string()),
                    (_, Err(error)) => Outbox::Unusable(format!("email_from is not an address: {error}")),
                }
            }
        };
        if let Outbox::Unusable(why) = &outbox {
            tracing::error!(%why, "notification emails cannot be sent");
        }
        let links = LinkSigner::new(engine.secrets());
        EmailJob { engine, config, outbox, links }
    }

    /// Reads what the email says and sends it; answers how it ended.
    async fn deliver(&self, notification: &Notification) -> Delivery {
        let email = match self.compose(notification).await {
            Ok(email) => email,
            // Nothing was sent: try again later.
            Err(ComposeError::Store(error)) => {
                return Delivery::NotDelivered(format!("reading the email's facts: {error}"))
            }
            Err(ComposeError::Unsendable(why)) => return Delivery::Refused(why),
        };
        match &self.outbox {
            Outbox::Unconfigured => {
                tracing::info!(
                    notification = notification.id,
                    to = %email.to,
                    subject = %email.rendered.subject,
                    link = %email.link,
                    "no smtp_url configured: this email is not sent, and is marked failed"
                );
                Delivery::Refused("no smtp_url configured".into())
            }
            Outbox::Unusable(why) => Delivery::Refused(why.clone()),
            Outbox::Smtp { sender, from } => {
                let message_id = message::message_id(notification.id, &self.config.public_url);
                let date = self.engine.clock.now().into();
                match message::compose(email.rendered, from.clone(), email.to, message_id, date) {
                    Ok(message) => sender.send(&message).await,
                    Err(error) => Delivery::Refused(format!("the message cannot be built: {error}")),
                }
            }
        }
    }

    /// The email of `notification`, from the facts as they are now.
    async fn compose(&self, notification: &Notification) -> Result<Email, ComposeError> {
        let store = &self.engine.store;
        let tenant_id = notification.tenant_id;
        let kind = NotificationKind::parse(&notification.kind)
            .ok_or_else(|| ComposeError::Unsendable(format!("unknown notification kind `{}`", notification.kind)))?;
        let admin = store
            .list_admins(tenant_id)
            .await?
            .into_iter()
            .find(|admin| admin.id == notification.admin_id)
            .ok_or_else(|| ComposeError::Unsendable("the admin no longer exists".into()))?;
        let address = admin
            .email
            .parse()
            .map_err(|error| ComposeError::Unsendable(format!("the admin's email address cannot be used: {error}")))?;
        let to = Mailbox::new(Some(admin.name.clone()), address);
        let target = match notification.target_type {
            TargetType::Overview => store.get_overview(tenant_id, notification.target_id).await?.map(Found::Overview),
            TargetType::SyncRun => store.get_sync_run(tenant_id, notification.target_id).await?.map(Found::SyncRun),
        };
        let integration_id = match &target {
            Some(Found::Overview(overview)) => Some(overview.integration_id),
            Some(Found::SyncRun(run)) => Some(run.integration_id),
            None => None,
        };
        let integration = match integration_id {
            Some(id) => store.get_integration(tenant_id, id).await?,
            None => None,
        };
        let settings = self.engine.settings(tenant_id).await?;
        let link = self.links.url(&self.config.public_url, tenant_id, notification.id);
        let rendered = message::render(&EmailFacts {
            kind,
            admin_name: &admin.name,
            integration_name: integration.as_ref().map(|i| i.name.as_str()),
            target: match &target {
                Some(Found::Overview(overview)) => Target::Overview(overview),
                Some(Found::SyncRun(run)) => Target::SyncRun(run),
                None => Target::Missing,
            },
            link: &link,
            in_app: notification.in_app,
            overview_validity: chrono::Duration::seconds(i64::from(settings.overview_validity_seconds)),
            now: self.engine.clock.now(),
        });
        Ok(Email { to, rendered, link })
    }

    /// Records how a send ended on the email; answers how its job ends.
    async fn settle(&self, notification: &Notification, delivery: Delivery) -> JobResult {
        match settlement(delivery) {
            Settlement::Finish(state, result) => match self.finish(notification, state).await {
                Ok(applied) => {
                    match &result {
                        JobResult::Done => tracing::info!(notification = notification.id, "notification email sent"),
                        // Without `smtp_url` the log has said so already.
                        JobResult::Fail { error } if !matches!(self.outbox, Outbox::Unconfigured) => {
                            tracing::warn!(notification = notification.id, %error, "a notification email failed")
                        }
                        // The job worker logs a retry.
                        JobResult::Fail { .. } | JobResult::Retry { .. } => {}
                    }
                    if !applied {
                        tracing::warn!(notification = notification.id, "another attempt settled the email meanwhile");
                    }
                    result
                }
                // The email stays `sending`: the next attempt marks it
                // `unknown` and sends nothing, which keeps it at most once.
                Err(error) => JobResult::Retry { error: format!("recording the email's end: {error}"), after: None },
            },
            Settlement::Uncertain(error) => {
                tracing::warn!(notification = notification.id, %error, "a notification email may have been delivered; it is not sent again");
                // Beginning a `sending` email turns it `unknown`: the rule
                // that applies after a crash, applied at once.
                let now = self.engine.clock.now();
                match self.engine.store.begin_notification_email(notification.tenant_id, notification.id, now).await {
                    Ok(_) => JobResult::Fail { error: format!("the email may have been delivered: {error}") },
                    Err(store_error) => JobResult::Retry { error: format!("{error}; then {store_error}"), after: None },
                }
            }
        }
    }

    async fn finish(&self, notification: &Notification, state: EmailState) -> Result<bool, StoreError> {
        let now = self.engine.clock.now();
        self.engine.store.finish_notification_email(notification.tenant_id, notification.id, state, now).await
    }
}

/// An email ready to go.
struct Email {
    to: Mailbox,
    rendered: Rendered,
    link: String,
}

/// What a notification is about, as read.
enum Found {
    Overview(Overview),
    SyncRun(SyncRun),
}

enum ComposeError {
    /// Reading failed; nothing was sent.
    Store(StoreError),
    /// This email can never be sent.
    Unsendable(String),
}

impl From<StoreError> for ComposeError {
    fn from(error: StoreError) -> Self {
        ComposeError::Store(error)
    }
}

/// What a send's end means for the email and for its job.
#[derive(Debug)]
enum Settlement {
    /// Finish the email in this state; the job ends so.
    Finish(EmailState, JobResult),
    /// The message may have reached the server: it is never sent again.
    Uncertain(String),
}

fn settlement(delivery: Delivery) -> Settlement {
    match delivery {
        Delivery::Accepted => Settlement::Finish(EmailState::Sent, JobResult::Done),
        Delivery::NotDelivered(error) => {
            Settlement::Finish(EmailState::Pending, JobResult::Retry { error, after: None })
        }
        Delivery::Refused(error) => Settlement::Finish(EmailState::Failed, JobResult::Fail { error }),
        Delivery::Uncertain(error) => Settlement::Uncertain(error),
    }
}

#[async_trait]
impl JobHandler for EmailJob {
    fn kind(&self) -> &'static str {
        EMAIL_JOB
    }

    fn concurrency(&self) -> u32 {
        self.config.jobs.email_concurrency
    }

    async fn run(&self, job: &Job) -> JobResult {
        let (Some(tenant_id), Some(notification_id)) = (job.tenant_id, job.subject_id) else {
            return JobResult::Fail { error: "an email job that names no tenant or no notification".into() };
        };
        let store = &self.engine.store;
        let begun = store.begin_notification_email(tenant_id, notification_id, self.engine.clock.now()).await;
        let notification = match begun {
            Ok(EmailBegin::Send(notification)) => notification,
            Ok(EmailBegin::Seen) => {
                tracing::info!(
                    notification = notification_id,
                    "the notification was seen in the platform in time: no email"
                );
                return JobResult::Done;
            }
            Ok(EmailBegin::Done(state)) => {
                tracing::info!(
                    notification = notification_id,
                    state = state.as_str(),
                    "the email is settled already: nothing sent"
                );
                return JobResult::Done;
            }
            Ok(EmailBegin::Missing) => {
                tracing::info!(notification = notification_id, "the notification no longer exists: no email");
                return JobResult::Done;
            }
            Err(error) => return JobResult::Retry { error: format!("beginning the email: {error}"), after: None },
        };
        // The email is `sending` from here on: every way out settles it.
        let delivery = self.deliver(&notification).await;
        self.settle(&notification, delivery).await
    }

    async fn give_up(&self, job: &Job, error: &str) {
        let (Some(tenant_id), Some(notification_id)) = (job.tenant_id, job.subject_id) else { return };
        let store = &self.engine.store;
        // A pending email (its last attempt was not delivered) becomes
        // `failed`; one still `sending` (an attempt was interrupted) becomes
        // `unknown`, since it may have gone out.
        match store.begin_notification_email(tenant_id, notification_id, self.engine.clock.now()).await {
            Ok(EmailBegin::Send(notification)) => match self.finish(&notification, EmailState::Failed).await {
                Ok(_) => tracing::warn!(notification = notification_id, %error, "gave up on a notification email"),
                Err(store_error) => {
                    tracing::error!(notification = notification_id, %store_error, "could not mark a notification email failed")
                }
            },
            Ok(EmailBegin::Done(EmailState::Unknown)) => {
                tracing::warn!(notification = notification_id, %error, "a notification email was interrupted mid-send; it is not sent again")
            }
            Ok(_) => {}
            Err(store_error) => {
                tracing::error!(notification = notification_id, %store_error, "could not settle a notification email")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accepted_email_is_sent_and_its_job_done() {
        assert!(matches!(settlement(Delivery::Accepted), Settlement::Finish(EmailState::Sent, JobResult::Done)));
    }

    #[test]
    fn an_email_surely_not_delivered_waits_again_and_its_job_retries() {
        let settled = settlement(Delivery::NotDelivered("421 try later".into()));
        assert!(matches!(settled, Settlement::Finish(EmailState::Pending, JobResult::Retry { after: None, .. })));
    }

    #[test]
    fn an_email_refused_for_good_fails_and_its_job_dies() {
        let settled = settlement(Delivery::Refused("550 no such user".into()));
        assert!(matches!(settled, Settlement::Finish(EmailState::Failed, JobResult::Fail { .. })));
    }

    #[test]
    fn an_email_that_may_have_been_delivered_is_not_finished_as_anything_it_may_not_be() {
        assert!(matches!(settlement(Delivery::Uncertain("connection lost".into())), Settlement::Uncertain(_)));
    }
}
