//! The one outbound HTTP client. Every request to a third party goes through
//! it, so timeouts, connection reuse and the private-address guard hold
//! everywhere.
//!
//! The guard exists because integration URLs are typed by tenants: without
//! it, a tenant could point Lockstep at `http://169.254.169.254/` or an
//! internal service and read the answer back through sync errors (SSRF).
//! Addresses are checked after DNS resolution (a name may resolve to a
//! private address) and for IP literals before connecting; redirects are
//! never followed, since a redirect could lead past the guard.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why an address may not be reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{host} resolves to {addr}, a private or reserved address that is not in the outbound allow-list")]
pub struct GuardError {
    pub host: String,
    pub addr: IpAddr,
}

/// Decides which addresses outbound requests may reach.
#[derive(Debug, Clone, Default)]
pub struct AddressGuard {
    allow: Vec<IpNet>,
}

impl AddressGuard {
    pub fn new(allow: Vec<IpNet>) -> Self {
        Self { allow }
    }

    /// Public addresses pass; private, loopback, link-local and other
    /// reserved ones pass only when an allow-list entry contains them.
    pub fn check(&self, host: &str, addr: IpAddr) -> Result<(), GuardError> {
        let addr = canonical(addr);
        if !is_restricted(addr) || self.allow.iter().any(|net| net.contains(&addr)) {
            Ok(())
        } else {
            Err(GuardError { host: host.to_owned(), addr })
        }
    }

    /// Checks a URL whose host is an IP literal (no DNS is involved, so the
    /// resolver hook never sees it). Names are checked at resolution.
    pub fn check_url(&self, url: &url::Url) -> Result<(), GuardError> {
        match url.host() {
            Some(url::Host::Ipv4(ip)) => self.check(&ip.to_string(), IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check(&ip.to_string(), IpAddr::V6(ip)),
            _ => Ok(()),
        }
    }
}

/// IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(addr),
        v4 => v4,
    }
}

fn is_restricted(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(ip) => {
            let [a, b, ..] = ip.octets();
            ip.is_private()
                || ip.is_loopback()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                || ip.is_multicast()
                || ip.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || a >= 240 // reserved
        }
        IpAddr::V6(ip) => {
            let first = ip.segments()[0];
            ip.is_loopback()
                || ip.is_unspecified()
                || ip.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        }
    }
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
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> =
                addrs.iter().copied().filter(|a| guard.check(&host, a.ip()).is_ok()).collect();
            if allowed.is_empty() {
                let refused = addrs
                    .first()
                    .map(|a| guard.check(&host, a.ip()).unwrap_err().to_string())
                    .unwrap_or_else(|| format!("{host} did not resolve"));
                return Err(refused.into());
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

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_and_reserved_addresses_are_refused_by_default() {
        let guard = AddressGuard::default();
        for addr in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(guard.check("h", ip(addr)).is_err(), "{addr} should be refused");
        }
        for addr in ["93.184.216.34", "2606:4700::1111"] {
            assert!(guard.check("h", ip(addr)).is_ok(), "{addr} should pass");
        }
    }

    #[test]
    fn the_allow_list_opens_exactly_its_ranges() {
        let guard = AddressGuard::new(vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(guard.check("h", ip("127.0.0.1")).is_ok());
        assert!(guard.check("h", ip("::ffff:127.0.0.1")).is_ok());
        assert!(guard.check("h", ip("10.0.0.1")).is_err());
    }

    #[test]
    fn ip_literal_urls_are_checked_before_connecting() {
        let client = OutboundClient::new(AddressGuard::default(), Duration::from_secs(1), Duration::from_secs(1));
        let url = url::Url::parse("http://127.0.0.1:9/Users").unwrap();
        assert!(client.request(reqwest::Method::GET, url).is_err());
    }
}
