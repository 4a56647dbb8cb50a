//! Sending one email over SMTP to the server `smtp_url` names, and what a
//! failure means for sending it again.
//!
//! An email goes out at most once, so what matters about a failure is
//! whether the server may have taken the message. That is decided by the
//! stage the conversation had reached:
//!
//! - Before the message's data is sent (connecting, TLS, `EHLO`, `AUTH`,
//!   `MAIL`, `RCPT`, `DATA`), nothing can have been delivered: a refused
//!   connection, a timeout or a 4xx reply is [`Delivery::NotDelivered`]
//!   and is tried again later; a 5xx reply, or a message or configuration
//!   this server can never take, is [`Delivery::Refused`].
//! - After the data is sent, the server's reply decides: 250 is
//!   [`Delivery::Accepted`], a 4xx reply means it took nothing
//!   (`NotDelivered`), a 5xx reply `Refused`. No reply (the connection
//!   dropped, the wait timed out, a garbled answer) is
//!   [`Delivery::Uncertain`]: the server may have queued the message, so
//!   it is never sent again.
//!
//! That is why this drives lettre's SMTP connection step by step instead
//! of calling `AsyncSmtpTransport::send`: the transport's error does not
//! say whether the data had been sent, and its public predicates cannot
//! tell a refused connection from one lost while waiting for the final
//! reply. The URL is read as `AsyncSmtpTransport::from_url` reads it
//! (`smtp://` in the clear or `?tls=required|opportunistic` for STARTTLS,
//! `smtps://` for TLS from the start, `user:password@`, an `EHLO` name as
//! the path), once, when the sender is built; the TLS settings are built
//! then too. Every step has its own timeout. Mail goes to that server
//! only, whatever the message's addresses are: the operator chose it, so
//! the outbound guard against private addresses, which protects against
//! tenants' URLs, does not apply to it.

use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Tls, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::Error as SmtpError;
use lettre::Message;

/// How long each step of the conversation may take.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// How a send ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The server accepted the message.
    Accepted,
    /// Surely not delivered, and worth trying again later.
    NotDelivered(String),
    /// Not delivered, and never will be as it is: the server refused it
    /// for good (5xx), or the message or the configuration cannot work.
    Refused(String),
    /// The message's data was sent but no verdict came back: it may have
    /// been delivered, so it must not be sent again.
    Uncertain(String),
}

/// Why `smtp_url` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("smtp_url {0}")]
pub struct SmtpUrlError(String);

/// The SMTP server emails go to, as `smtp_url` names it.
#[derive(Clone)]
pub struct SmtpSender {
    host: String,
    port: u16,
    tls: Tls,
    credentials: Option<Credentials>,
    hello_name: ClientId,
    timeout: Duration,
}

impl SmtpSender {
    /// Reads `smtp_url`; each step of a send may take `timeout`.
    pub fn from_url(smtp_url: &str, timeout: Duration) -> Result<SmtpSender, SmtpUrlError> {
        let url = url::Url::parse(smtp_url).map_err(|e| SmtpUrlError(format!("is not a URL: {e}")))?;
        let host = match url.host() {
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            Some(host) => host.to_string(),
            None => return Err(SmtpUrlError("names no host".into())),
        };
        let tls_mode = url.query_pairs().find(|(key, _)| key == "tls").map(|(_, value)| value.into_owned());
        let tls_parameters =
            || TlsParameters::new(host.clone()).map_err(|e| SmtpUrlError(format!("TLS cannot be set up: {e}")));
        let (tls, default_port) = match (url.scheme(), tls_mode.as_deref()) {
            ("smtp", None) => (Tls::None, 25),
            ("smtp", Some("required")) => (Tls::Required(tls_parameters()?), 587),
            ("smtp", Some("opportunistic")) => (Tls::Opportunistic(tls_parameters()?), 587),
            ("smtps", None) => (Tls::Wrapper(tls_parameters()?), 465),
            ("smtp" | "smtps", Some(other)) => {
                return Err(SmtpUrlError(format!(
                    "has tls={other}; use tls=required or tls=opportunistic with smtp://, or smtps://"
                )))
            }
            (scheme, _) => return Err(SmtpUrlError(format!("has the scheme {scheme}; use smtp:// or smtps://"))),
        };
        let credentials = match (url.username(), url.password()) {
            ("", None) => None,
            (user, password) => Some(Credentials::new(
                percent_decoded(user).ok_or_else(|| SmtpUrlError("has a user name that is not UTF-8".into()))?,
                percent_decoded(password.unwrap_or_default())
                    .ok_or_else(|| SmtpUrlError("has a password that is not UTF-8".into()))?,
            )),
        };
        let hello_name = match url.path().trim_matches('/') {
            "" => ClientId::default(),
            name => ClientId::Domain(name.to_owned()),
        };
        Ok(SmtpSender { host, port: url.port().unwrap_or(default_port), tls, credentials, hello_name, timeout })
    }

    /// Sends `message` to its envelope's recipients through the server.
    pub async fn send(&self, message: &Message) -> Delivery {
        let mut connection = match self.step("connecting", self.connect()).await {
            Ok(connection) => connection,
            Err(failure) => return failure.before_data(),
        };
        let delivery = self.transfer(&mut connection, message.envelope(), &message.formatted()).await;
        // The verdict is in; a failed goodbye changes nothing.
        let _ = tokio::time::timeout(self.timeout, connection.abort()).await;
        delivery
    }

    /// Connects, secures the connection as configured, and signs in.
    async fn connect(&self) -> Result<AsyncSmtpConnection, SmtpError> {
        let wrapper = match &self.tls {
            Tls::Wrapper(parameters) => Some(parameters.clone()),
            _ => None,
        };
        let mut connection = AsyncSmtpConnection::connect_tokio1(
            (self.host.as_str(), self.port),
            Some(self.timeout),
            &self.hello_name,
            wrapper,
            None,
        )
        .await?;
        match &self.tls {
            Tls::Required(parameters) => connection.starttls(parameters.clone(), &self.hello_name).await?,
            Tls::Opportunistic(parameters) if connection.can_starttls() => {
                connection.starttls(parameters.clone(), &self.hello_name).await?
            }
            _ => {}
        }
        if let Some(credentials) = &self.credentials {
            connection.auth(DEFAULT_MECHANISMS, credentials).await?;
        }
        Ok(connection)
    }

    /// `MAIL`, `RCPT`, `DATA`, then the message.
    async fn transfer(&self, connection: &mut AsyncSmtpConnection, envelope: &Envelope, data: &[u8]) -> Delivery {
        let mut parameters = Vec::new();
        let addresses = envelope.from().into_iter().chain(envelope.to());
        if addresses.clone().any(|address| !AsRef::<str>::as_ref(address).is_ascii()) {
            if !connection.server_info().supports_feature(Extension::SmtpUtfEight) {
                return Delivery::Refused("an address is not ASCII and the server does not take SMTPUTF8".into());
            }
            parameters.push(MailParameter::SmtpUtfEight);
        }
        if !data.is_ascii() {
            if !connection.server_info().supports_feature(Extension::EightBitMime) {
                return Delivery::Refused("the message is not ASCII and the server does not take 8BITMIME".into());
            }
            parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        if let Err(failure) =
            self.step("MAIL", connection.command(Mail::new(envelope.from().cloned(), parameters))).await
        {
            return failure.before_data();
        }
        for recipient in envelope.to() {
            if let Err(failure) = self.step("RCPT", connection.command(Rcpt::new(recipient.clone(), vec![]))).await {
                return failure.before_data();
            }
        }
        if let Err(failure) = self.step("DATA", connection.command(Data)).await {
            return failure.before_data();
        }
        match self.step("sending the message", connection.message(data)).await {
            Ok(_) => Delivery::Accepted,
            Err(failure) => failure.after_data(),
        }
    }

    /// How the connection is secured, for logs.
    fn tls_name(&self) -> &'static str {
        match self.tls {
            Tls::None => "none",
            Tls::Opportunistic(_) => "opportunistic STARTTLS",
            Tls::Required(_) => "STARTTLS",
            Tls::Wrapper(_) => "TLS",
        }
    }

    /// Runs one step under the timeout.
    async fn step<T>(
        &self,
        name: &'static str,
        step: impl std::future::Future<Output = Result<T, SmtpError>>,
    ) -> Result<T, StepFailure> {
        match tokio::time::timeout(self.timeout, step).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(StepFailure::Smtp { step: name, error }),
            Err(_) => Err(StepFailure::TimedOut { step: name, after: self.timeout }),
        }
    }
}

impl std::fmt::Debug for SmtpSender {
    // The credentials stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSender")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls_name())
            .field("credentials", &self.credentials.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Why one step of the conversation failed.
#[derive(Debug)]
enum StepFailure {
    Smtp { step: &'static str, error: SmtpError },
    TimedOut { step: &'static str, after: Duration },
}

/// What a failure's kind means, given whether the message's data was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailureKind {
    /// A 4xx reply: the server took nothing, and asks to try later.
    TransientReply,
    /// A 5xx reply.
    PermanentReply,
    /// The client cannot go on with this server or message (no common
    /// authentication mechanism, STARTTLS required but not offered…).
    Unworkable,
    /// No verdict: the connection failed or dropped, a wait timed out, or
    /// the reply could not be read.
    NoVerdict,
}

impl StepFailure {
    fn kind(&self) -> FailureKind {
        match self {
            StepFailure::Smtp { error, .. } => classify(error),
            StepFailure::TimedOut { .. } => FailureKind::NoVerdict,
        }
    }

    fn describe(&self) -> String {
        match self {
            StepFailure::Smtp { step, error } => format!("{step}: {error}"),
            StepFailure::TimedOut { step, after } => format!("{step}: no answer within {} s", after.as_secs_f64()),
        }
    }

    /// The failure of a step before the message's data was sent.
    fn before_data(self) -> Delivery {
        match self.kind() {
            FailureKind::PermanentReply | FailureKind::Unworkable => Delivery::Refused(self.describe()),
            FailureKind::TransientReply | FailureKind::NoVerdict => Delivery::NotDelivered(self.describe()),
        }
    }

    /// The failure of the step that sent the message's data.
    fn after_data(self) -> Delivery {
        match self.kind() {
            FailureKind::TransientReply => Delivery::NotDelivered(self.describe()),
            FailureKind::PermanentReply | FailureKind::Unworkable => Delivery::Refused(self.describe()),
            FailureKind::NoVerdict => Delivery::Uncertain(self.describe()),
        }
    }
}

fn classify(error: &SmtpError) -> FailureKind {
    if error.is_transient() {
        FailureKind::TransientReply
    } else if error.is_permanent() {
        FailureKind::PermanentReply
    } else if error.is_client() {
        FailureKind::Unworkable
    } else {
        FailureKind::NoVerdict
    }
}

/// Percent-decodes a URL's user name or password.
fn percent_decoded(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    /// What the scripted server does at one point of the conversation.
    #[derive(Debug, Clone, Copy)]
    enum Act {
        Reply(&'static str),
        /// Closes the connection without a word.
        Hang,
        /// Says nothing, and keeps the connection open.
        Stall,
    }

    use Act::{Reply, Stall};

    /// A one-connection SMTP server that answers as scripted.
    #[derive(Debug, Clone, Copy)]
    struct Script {
        greeting: Act,
        mail: Act,
        rcpt: Act,
        data: Act,
        /// The answer to the message's data.
        end_of_data: Act,
    }

    const ACCEPTING: Script = Script {
        greeting: Reply("220 fake ESMTP"),
        mail: Reply("250 OK"),
        rcpt: Reply("250 OK"),
        data: Reply("354 go ahead"),
        end_of_data: Reply("250 queued as 1"),
    };

    /// Starts the scripted server; answers its URL and what it received.
    async fn scripted(script: Script) -> (String, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("smtp://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let (read, mut write) = socket.into_split();
            let mut lines = BufReader::new(read);
            let mut received = String::new();
            // Acts; answers false when the conversation is over.
            async fn act(write: &mut tokio::net::tcp::OwnedWriteHalf, act: Act) -> bool {
                match act {
                    Reply(line) => write.write_all(format!("{line}\r\n").as_bytes()).await.is_ok(),
                    Act::Hang => false,
                    Stall => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        false
                    }
                }
            }
            if !act(&mut write, script.greeting).await {
                return received;
            }
            let mut in_data = false;
            loop {
                let mut line = String::new();
                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return received;
                }
                received.push_str(&line);
                let command = line.to_ascii_uppercase();
                let next = if in_data {
                    if line != ".\r\n" {
                        continue;
                    }
                    in_data = false;
                    script.end_of_data
                } else if command.starts_with("EHLO") {
                    Reply("250-fake\r\n250 8BITMIME")
                } else if command.starts_with("MAIL") {
                    script.mail
                } else if command.starts_with("RCPT") {
                    script.rcpt
                } else if command.starts_with("DATA") {
                    in_data = matches!(script.data, Reply(reply) if reply.starts_with("354"));
                    script.data
                } else if command.starts_with("QUIT") {
                    Reply("221 bye")
                } else {
                    Reply("502 not implemented")
                };
                if !act(&mut write, next).await {
                    return received;
                }
            }
        });
        (url, server)
    }

    fn message() -> Message {
        Message::builder()
            .from("Lockstep <lockstep@example.com>".parse().unwrap())
            .to("Ada <ada@acme.test>".parse().unwrap())
            .subject("Sync Now of Directory finished")
            .body("Open the Sync Log".to_owned())
            .unwrap()
    }

    async fn send(script: Script) -> (Delivery, String) {
        let (url, server) = scripted(script).await;
        let sender = SmtpSender::from_url(&url, Duration::from_millis(300)).unwrap();
        let delivery = sender.send(&message()).await;
        server.abort();
        let received = server.await.unwrap_or_default();
        (delivery, received)
    }

    #[tokio::test]
    async fn an_accepted_message_went_through_the_whole_conversation() {
        let (url, server) = scripted(ACCEPTING).await;
        let sender = SmtpSender::from_url(&url, Duration::from_secs(5)).unwrap();
        assert_eq!(sender.send(&message()).await, Delivery::Accepted);
        let received = server.await.unwrap();
        assert!(received.contains("MAIL FROM:<lockstep@example.com>"), "{received}");
        assert!(received.contains("RCPT TO:<ada@acme.test>"), "{received}");
        assert!(received.contains("Subject: Sync Now of Directory finished"), "{received}");
        assert!(received.contains("QUIT"), "{received}");
    }

    #[tokio::test]
    async fn a_refused_connection_is_not_delivered_and_worth_another_try() {
        let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
        let sender = SmtpSender::from_url(&format!("smtp://127.0.0.1:{port}"), Duration::from_secs(5)).unwrap();
        assert!(matches!(sender.send(&message()).await, Delivery::NotDelivered(_)));
    }

    #[tokio::test]
    async fn failures_before_the_data_never_delivered_anything() {
        for (script, transient) in [
            (Script { greeting: Stall, ..ACCEPTING }, true),
            (Script { greeting: Act::Hang, ..ACCEPTING }, true),
            (Script { greeting: Reply("421 busy"), ..ACCEPTING }, true),
            (Script { greeting: Reply("554 no service"), ..ACCEPTING }, false),
            (Script { mail: Reply("451 local error"), ..ACCEPTING }, true),
            (Script { rcpt: Reply("550 no such user"), ..ACCEPTING }, false),
            (Script { rcpt: Stall, ..ACCEPTING }, true),
            (Script { data: Reply("452 insufficient storage"), ..ACCEPTING }, true),
            (Script { data: Act::Hang, ..ACCEPTING }, true),
        ] {
            let (delivery, received) = send(script).await;
            match delivery {
                Delivery::NotDelivered(_) if transient => {}
                Delivery::Refused(_) if !transient => {}
                other => panic!("{script:?}: {other:?}"),
            }
            assert!(!received.contains("Subject:"), "the message's data was never sent: {script:?}");
        }
    }

    #[tokio::test]
    async fn after_the_data_the_reply_decides_and_no_reply_is_uncertain() {
        let (delivery, _) = send(Script { end_of_data: Reply("451 try again later"), ..ACCEPTING }).await;
        assert!(matches!(delivery, Delivery::NotDelivered(_)), "{delivery:?}");
        let (delivery, _) = send(Script { end_of_data: Reply("554 rejected as spam"), ..ACCEPTING }).await;
        assert!(matches!(delivery, Delivery::Refused(_)), "{delivery:?}");
        let (delivery, received) = send(Script { end_of_data: Act::Hang, ..ACCEPTING }).await;
        assert!(matches!(delivery, Delivery::Uncertain(_)), "{delivery:?}");
        assert!(received.contains("Subject:"), "the data went out: {received}");
        let (delivery, _) = send(Script { end_of_data: Stall, ..ACCEPTING }).await;
        assert!(matches!(delivery, Delivery::Uncertain(ref why) if why.contains("no answer")), "{delivery:?}");
    }

    #[test]
    fn the_url_is_read_as_lettre_reads_it() {
        let plain = SmtpSender::from_url("smtp://mail.example", STEP_TIMEOUT).unwrap();
        assert_eq!((plain.host.as_str(), plain.port, plain.tls_name()), ("mail.example", 25, "none"));
        let required = SmtpSender::from_url("smtp://mail.example?tls=required", STEP_TIMEOUT).unwrap();
        assert_eq!((required.port, required.tls_name()), (587, "STARTTLS"));
        let opportunistic = SmtpSender::from_url("smtp://mail.example:2525?tls=opportunistic", STEP_TIMEOUT).unwrap();
        assert_eq!((opportunistic.port, opportunistic.tls_name()), (2525, "opportunistic STARTTLS"));
        let wrapped =
            SmtpSender::from_url("smtps://user:p%40ss%3Aword@mail.example/lockstep.example", STEP_TIMEOUT).unwrap();
        assert_eq!((wrapped.port, wrapped.tls_name()), (465, "TLS"));
        assert_eq!(wrapped.credentials, Some(Credentials::new("user".into(), "p@ss:word".into())));
        assert_eq!(wrapped.hello_name, ClientId::Domain("lockstep.example".into()));
        assert!(!format!("{wrapped:?}").contains("p@ss"), "{wrapped:?}");
        let ipv6 = SmtpSender::from_url("smtp://[::1]:2525", STEP_TIMEOUT).unwrap();
        assert_eq!(ipv6.host, "::1");
        for bad in ["smtp://mail.example?tls=maybe", "http://mail.example", "smtp:nohost", "not a url"] {
            assert!(SmtpSender::from_url(bad, STEP_TIMEOUT).is_err(), "{bad}");
        }
    }

    #[test]
    fn percent_decoding_keeps_what_is_not_an_escape() {
        assert_eq!(percent_decoded("a%20b%zz%4").as_deref(), Some("a b%zz%4"));
        assert_eq!(percent_decoded("%C3%A9").as_deref(), Some("é"));
        assert_eq!(percent_decoded("%FF"), None);
    }
}
