//! The one outbound HTTP client. Every request to a third party goes through
//! it, so timeouts, connection reuse, the cap on answers and the
//! private-address guard (`guard.rs`) hold everywhere.
//!
//! Addresses are checked after DNS resolution (a name may resolve to a
//! private address, `localhost` to loopback) and, for IP literals, before
//! connecting. Three ways around that check are closed:
//! - redirects are never followed: a redirect could lead past the guard, so
//!   a 3xx answer is the connector's to report;
//! - proxies are never used, whatever `HTTP_PROXY`, `HTTPS_PROXY` or
//!   `ALL_PROXY` say (reqwest reads them by default): a proxy resolves the
//!   name itself, where the guard cannot see the address, and the
//!   variables are often set for a host's other programs, not for pushes to
//!   third parties;
//! - answers are read up to [`MAX_RESPONSE_BYTES`] and no further, so a
//!   third party that streams without end cannot fill the process's memory.

mod guard;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

pub use guard::{AddressGuard, GuardError, RESERVED};

/// The most of an answer Lockstep reads: 1 MiB. An answer to a push (one
/// user, or an error document) is a few kilobytes; one over this is not an
/// answer to what Lockstep asked.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Why an answer's body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// It is longer than [`MAX_RESPONSE_BYTES`]; the rest was not read.
    #[error("the answer is larger than 1 MiB")]
    TooLarge,
    /// The connection failed or timed out while reading.
    #[error(transparent)]
    Transport(#[from] reqwest::Error),
}

/// The most of a page of a listing Lockstep reads: 16 MiB, room for a
/// page of 1,000 users with large attributes. A listing is read one page at
/// a time, so this (and not the number of users) bounds its memory.
pub const MAX_PAGE_BYTES: usize = 16 * 1024 * 1024;

/// Reads an answer's body as text (invalid UTF-8 replaced), up to
/// [`MAX_RESPONSE_BYTES`]. A longer body stops the read at the cap; the
/// response is dropped, which closes its connection instead of draining it.
pub async fn read_body(response: reqwest::Response) -> Result<String, BodyError> {
    read_body_up_to(response, MAX_RESPONSE_BYTES).await
}

/// [`read_body`] with another cap (a listing's page, [`MAX_PAGE_BYTES`]).
pub async fn read_body_up_to(mut response: reqwest::Response, cap: usize) -> Result<String, BodyError> {
    if response.content_length().is_some_and(|length| length > cap as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > cap {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// A DNS resolver that drops addresses the guard refuses, so a name that
/// resolves only to private addresses fails to connect.
struct GuardedResolver {
    guard: Arc<AddressGuard>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let mut allowed: Vec<SocketAddr> = Vec::new();
            let mut refused = None;
            for addr in tokio::net::lookup_host((host.as_str(), 0)).await? {
                match guard.check(&host, addr.ip()) {
                    Ok(()) => allowed.push(addr),
                    Err(error) => {
                        refused.get_or_insert(error);
                    }
                }
            }
            if allowed.is_empty() {
                // The refusal is the error, typed, so the connector can tell
                // a refused address from a failed connection.
                return Err(match refused {
                    Some(error) => Box::new(error) as Box<dyn std::error::Error + Send + Sync>,
                    None => format!("{host} did not resolve").into(),
                });
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The shared outbound client: cheap to clone, reuses connections.
#[derive(Clone)]
pub struct OutboundClient {
    client: reqwest::Client,
    guard: Arc<AddressGuard>,
}

impl OutboundClient {
    pub fn new(guard: AddressGuard, connect_timeout: Duration, request_timeout: Duration) -> Self {
        let guard = Arc::new(guard);
        let client = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .timeout(request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver { guard: guard.clone() }))
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("lockstep/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the outbound client's settings are valid");
        Self { client, guard }
    }

    /// The guard, to check URLs when they are configured.
    pub fn guard(&self) -> &AddressGuard {
        &self.guard
    }

    /// Starts a request after checking an IP-literal host against the guard.
    pub fn request(&self, method: reqwest::Method, url: url::Url) -> Result<reqwest::RequestBuilder, GuardError> {
        self.guard.check_url(&url)?;
        Ok(self.client.request(method, url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_literal_urls_are_refused_before_a_request_starts() {
        let client = OutboundClient::new(AddressGuard::default(), Duration::from_secs(1), Duration::from_secs(1));
        let url = url::Url::parse("http://127.0.0.1:9/Users").unwrap();
        assert!(client.request(reqwest::Method::GET, url).is_err());
    }
}
