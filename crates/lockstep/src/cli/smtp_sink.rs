//! The demo's mail sink: a minimal SMTP server on 127.0.0.1 that accepts
//! every message and writes it, as it arrived, to a `.eml` file in a
//! directory, so `lockstep demo` shows its notification emails going
//! through real SMTP without a mail server on the machine.
//!
//! It speaks just enough of RFC 5321 for one client at a time per
//! connection: `EHLO`/`HELO`, `MAIL`, `RCPT`, `DATA` (with dot-unstuffing),
//! `RSET`, `NOOP`, `QUIT`. No TLS, no authentication: it is for the demo
//! only, and listens on loopback only.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The largest message the sink keeps.
const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// A running sink.
pub struct SmtpSink {
    /// `smtp://127.0.0.1:PORT`, for `smtp_url`.
    pub url: String,
    /// Where messages are written.
    pub dir: PathBuf,
}

/// Starts a sink writing to `dir` on a free loopback port.
pub async fn start(dir: PathBuf) -> anyhow::Result<SmtpSink> {
    std::fs::create_dir_all(&dir)?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("smtp://{}", listener.local_addr()?);
    let count = Arc::new(AtomicU64::new(0));
    let target = dir.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (target, count) = (target.clone(), count.clone());
            tokio::spawn(async move {
                if let Err(error) = session(stream, target, count).await {
                    tracing::debug!(%error, "a demo SMTP session ended early");
                }
            });
        }
    });
    Ok(SmtpSink { url, dir })
}

async fn session(stream: TcpStream, dir: PathBuf, count: Arc<AtomicU64>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 lockstep-demo ESMTP sink\r\n").await?;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let verb = line.get(..4).unwrap_or(&line).to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => write.write_all(b"250-lockstep-demo\r\n250 8BITMIME\r\n").await?,
            "HELO" | "MAIL" | "RCPT" | "RSET" | "NOOP" => write.write_all(b"250 OK\r\n").await?,
            "QUIT" => {
                write.write_all(b"221 Bye\r\n").await?;
                return Ok(());
            }
            "DATA" => {
                write.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                let mut message = Vec::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    let text = line.strip_prefix('.').unwrap_or(&line);
                    if message.len() + text.len() <= MAX_MESSAGE_BYTES {
                        message.extend_from_slice(text.as_bytes());
                    }
                }
                let n = count.fetch_add(1, Ordering::Relaxed) + 1;
                let path = dir.join(format!("{n:04}.eml"));
                tokio::fs::write(&path, &message).await?;
                println!("demo mail sink: a notification email was delivered to {}", path.display());
                write.write_all(b"250 OK: queued\r\n").await?;
            }
            _ => write.write_all(b"502 Command not implemented\r\n").await?,
        }
    }
}
