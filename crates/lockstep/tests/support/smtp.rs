//! [`SmtpSink`]: a real SMTP server that keeps every mail it receives —
//! `aiosmtpd` (PyPI) with its `Mailbox` handler, which stores each mail in a
//! Maildir — started per test on a free port and killed by its process id
//! when dropped. [`Mail`] reads a stored mail back: its headers, and its
//! text and HTML parts decoded (quoted-printable, base64), enough to find
//! the link an email carries.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use tokio::io::AsyncReadExt;

use super::peers::{free_port, venv_bin, PeerProcess};

/// How long the sink gets to accept connections after it was spawned.
const STARTUP_DEADLINE: Duration = Duration::from_secs(15);
/// Spawn attempts when another process grabs the chosen port first.
const PORT_ATTEMPTS: usize = 5;

/// A running `aiosmtpd` that stores what it receives.
pub struct SmtpSink {
    /// `smtp://127.0.0.1:PORT`, for `LOCKSTEP_SMTP_URL`.
    pub url: String,
    pub port: u16,
    maildir: PathBuf,
    _dir: tempfile::TempDir,
    child: PeerProcess,
}

impl SmtpSink {
    /// Spawns the sink and waits until it greets a connection with `220`;
    /// fails the test with its stderr when it does not.
    pub async fn start() -> SmtpSink {
        let python = venv_bin("python");
        let mut failures = Vec::new();
        for _ in 0..PORT_ATTEMPTS {
            let dir = tempfile::tempdir().expect("a temp dir for the maildir");
            // Python's Maildir makes its `new/`, `cur/` and `tmp/` only
            // when it makes the directory itself.
            let maildir = dir.path().join("maildir");
            let port = free_port();
            let mut command = Command::new(&python);
            command
                .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
                .arg(&maildir);
            let mut child = PeerProcess::spawn("aiosmtpd", command);
            match wait_until_greeting(port, &mut child).await {
                Ok(()) => return SmtpSink { url: format!("smtp://127.0.0.1:{port}"), port, maildir, _dir: dir, child },
                Err(why) => failures.push(format!("port {port}: {why}\n--- aiosmtpd stderr ---\n{}", child.stderr())),
            }
        }
        panic!("aiosmtpd did not come up after {PORT_ATTEMPTS} attempts:\n{}", failures.join("\n"));
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// What the sink wrote to stderr so far.
    pub fn stderr(&mut self) -> String {
        self.child.stderr()
    }

    /// Every mail stored so far, oldest first.
    pub fn mails(&self) -> Vec<Mail> {
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = ["new", "cur"]
            .iter()
            .flat_map(|sub| std::fs::read_dir(self.maildir.join(sub)).into_iter().flatten())
            .filter_map(|entry| entry.ok())
            .map(|entry| (entry.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH), entry.path()))
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|(_, path)| {
                let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
                Mail::parse(&String::from_utf8_lossy(&raw))
            })
            .collect()
    }

    /// Waits (polling, at most `within`) until at least `count` mails are
    /// stored; answers them all, or fails the test saying what arrived.
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<Mail> {
        let deadline = Instant::now() + within;
        loop {
            let mails = self.mails();
            if mails.len() >= count {
                return mails;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {count} mails arrived within {within:?}: {:?}",
                mails.len(),
                mails.iter().map(|m| m.header("subject").unwrap_or_default().to_owned()).collect::<Vec<_>>()
            );
            // Bounded polling of the maildir; the sink has no signal to wait on.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Connects until the sink's `220` greeting arrives, the process exits, or
/// the deadline passes. Only the process that bound the port answers there,
/// and it is ours while it runs.
async fn wait_until_greeting(port: u16, child: &mut PeerProcess) -> Result<(), String> {
    let started = Instant::now();
    let mut last = String::from("no answer yet");
    while started.elapsed() < STARTUP_DEADLINE {
        if let Some(status) = child.exited() {
            return Err(format!("{} exited early with {status}", child.name()));
        }
        match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            Ok(mut stream) => {
                let mut greeting = [0u8; 64];
                match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut greeting)).await {
                    Ok(Ok(n)) if greeting[..n].starts_with(b"220") => return Ok(()),
                    Ok(Ok(n)) => last = format!("greeted with {:?}", String::from_utf8_lossy(&greeting[..n])),
                    Ok(Err(e)) => last = format!("reading the greeting: {e}"),
                    Err(_) => last = "no greeting within 2 s".into(),
                }
            }
            Err(e) => last = format!("connect: {e}"),
        }
        // Bounded polling while the Python process imports and binds.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("not ready after {STARTUP_DEADLINE:?}; last probe: {last}"))
}

/// One stored mail.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The file as stored.
    pub raw: String,
    /// The top-level headers, unfolded, names as written.
    pub headers: Vec<(String, String)>,
    /// The `text/plain` part, decoded.
    pub text: Option<String>,
    /// The `text/html` part, decoded.
    pub html: Option<String>,
    /// The top-level `Content-Type`.
    pub content_type: String,
}

impl Mail {
    pub fn parse(raw: &str) -> Mail {
        let raw = raw.replace("\r\n", "\n");
        let (headers, body) = split_entity(&raw);
        let content_type = find(&headers, "content-type").unwrap_or("text/plain").to_owned();
        let mut mail = Mail { raw: raw.clone(), headers: headers.clone(), text: None, html: None, content_type };
        collect_parts(&headers, body, &mut mail);
        mail
    }

    /// The first header of this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }

    /// The first notification link in the text part.
    pub fn link(&self) -> Option<String> {
        let text = self.text.as_deref()?;
        let start = text.find("http")?;
        let link: String = text[start..].chars().take_while(|c| !c.is_whitespace()).collect();
        link.contains("/links/notifications/").then_some(link)
    }
}

fn find<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// Splits an entity into its unfolded headers and its body.
fn split_entity(entity: &str) -> (Vec<(String, String)>, &str) {
    let (head, body) = entity.split_once("\n\n").unwrap_or((entity, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    (headers, body)
}

/// A parameter of a header value: `boundary` of `multipart/alternative; boundary="x"`.
fn parameter(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|part| {
        let (key, value) = part.split_once('=')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim().trim_matches('"').to_owned())
    })
}

fn collect_parts(headers: &[(String, String)], body: &str, mail: &mut Mail) {
    let content_type = find(headers, "content-type").unwrap_or("text/plain").to_owned();
    let media = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if media.starts_with("multipart/") {
        let Some(boundary) = parameter(&content_type, "boundary") else { return };
        let delimiter = format!("--{boundary}");
        for part in body.split(&delimiter).skip(1) {
            if part.starts_with("--") {
                break;
            }
            let (part_headers, part_body) = split_entity(part.trim_start_matches('\n'));
            collect_parts(&part_headers, part_body, mail);
        }
        return;
    }
    let encoding = find(headers, "content-transfer-encoding").unwrap_or("7bit").to_ascii_lowercase();
    let decoded = match encoding.as_str() {
        "quoted-printable" => quoted_printable(body),
        "base64" => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = base64::engine::general_purpose::STANDARD.decode(compact).unwrap_or_default();
            String::from_utf8_lossy(&bytes).into_owned()
        }
        _ => body.to_owned(),
    };
    match media.as_str() {
        "text/plain" if mail.text.is_none() => mail.text = Some(decoded),
        "text/html" if mail.html.is_none() => mail.html = Some(decoded),
        _ => {}
    }
}

/// Decodes quoted-printable: `=` at a line's end joins lines, `=XX` is a byte.
fn quoted_printable(text: &str) -> String {
    let joined = text.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
