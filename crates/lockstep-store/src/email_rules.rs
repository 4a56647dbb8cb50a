//! The life of a notification's email, stated once for every backend: what
//! beginning a send does to the state found, and which states end one.
//!
//! An email goes out at most once. The email job begins the send, which
//! commits `sending` *before* the SMTP conversation, then finishes it. A
//! job that begins and finds `sending` knows that an earlier attempt died
//! somewhere in that conversation: the message may have been accepted, so
//! it is never sent again and the state becomes `unknown`. The backends
//! read the notification under their lock, ask [`begin_email`], and store
//! the state it names.

use crate::{EmailBegin, EmailState, Notification};

/// What beginning the email of `notification` (as read under the lock)
/// does: the state to store (`None`: store nothing) and the answer.
///
/// - `pending` and the notification is `in_app` and seen: `not_needed`,
///   [`EmailBegin::Seen`]. Only an in-platform notification can be seen in
///   time; an email-only one (`in_app` false) is sent whenever it is marked.
/// - `pending` otherwise: `sending`, [`EmailBegin::Send`] with the
///   notification as it now is.
/// - `sending`: an interrupted send, `unknown`, [`EmailBegin::Done`]`(Unknown)`.
/// - any other state: nothing changes, [`EmailBegin::Done`] with that state.
///
/// `Done` always carries the state as it stands after the call.
pub fn begin_email(notification: &Notification) -> (Option<EmailState>, EmailBegin) {
    match notification.email {
        EmailState::Pending if notification.in_app && notification.seen_at.is_some() => {
            (Some(EmailState::NotNeeded), EmailBegin::Seen)
        }
        EmailState::Pending => {
            let sending = Notification { email: EmailState::Sending, ..notification.clone() };
            (Some(EmailState::Sending), EmailBegin::Send(sending))
        }
        EmailState::Sending => (Some(EmailState::Unknown), EmailBegin::Done(EmailState::Unknown)),
        other => (None, EmailBegin::Done(other)),
    }
}

/// Whether `state` may end a send: `sent`, `failed`, `pending` again (the
/// SMTP server surely did not take it), or `unknown` (the conversation
/// broke after the message was handed over, so it may have gone out).
/// `none`, `sending` and `not_needed` cannot.
pub fn ends_a_send(state: EmailState) -> bool {
    matches!(state, EmailState::Sent | EmailState::Failed | EmailState::Pending | EmailState::Unknown)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration};

    use super::*;
    use crate::TargetType;

    fn notification(email: EmailState, in_app: bool, seen: bool) -> Notification {
        let at = DateTime::UNIX_EPOCH + Duration::seconds(100);
        Notification {
            id: 1,
            tenant_id: 2,
            admin_id: 3,
            kind: "sync_complete".into(),
            target_type: TargetType::SyncRun,
            target_id: 4,
            in_app,
            created_at: at,
            seen_at: seen.then_some(at),
            read_at: None,
            email,
            emailed_at: None,
        }
    }

    #[test]
    fn a_pending_email_of_an_unseen_notification_is_sent() {
        let (state, begin) = begin_email(&notification(EmailState::Pending, true, false));
        assert_eq!(state, Some(EmailState::Sending));
        assert_eq!(begin, EmailBegin::Send(notification(EmailState::Sending, true, false)));
    }

    #[test]
    fn a_notification_seen_in_the_platform_is_not_emailed() {
        let (state, begin) = begin_email(&notification(EmailState::Pending, true, true));
        assert_eq!((state, begin), (Some(EmailState::NotNeeded), EmailBegin::Seen));
    }

    #[test]
    fn an_email_only_notification_is_sent_even_when_marked_seen() {
        let (state, _) = begin_email(&notification(EmailState::Pending, false, true));
        assert_eq!(state, Some(EmailState::Sending));
    }

    #[test]
    fn an_interrupted_send_is_never_sent_again() {
        let (state, begin) = begin_email(&notification(EmailState::Sending, true, false));
        assert_eq!((state, begin), (Some(EmailState::Unknown), EmailBegin::Done(EmailState::Unknown)));
    }

    #[test]
    fn an_email_already_decided_stays_as_it_is() {
        for email in
            [EmailState::None, EmailState::Sent, EmailState::NotNeeded, EmailState::Failed, EmailState::Unknown]
        {
            assert_eq!(begin_email(&notification(email, true, false)), (None, EmailBegin::Done(email)));
        }
    }

    #[test]
    fn only_an_outcome_of_the_smtp_conversation_ends_a_send() {
        assert!([EmailState::Sent, EmailState::Failed, EmailState::Pending, EmailState::Unknown]
            .into_iter()
            .all(ends_a_send));
        assert!(![EmailState::None, EmailState::Sending, EmailState::NotNeeded].into_iter().any(ends_a_send));
    }
}
