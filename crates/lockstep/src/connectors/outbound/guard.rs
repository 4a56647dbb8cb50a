//! The private-address guard: which addresses a tenant's third party may be
//! at.
//!
//! Integration URLs are typed by tenants. Without the guard a tenant could
//! point Lockstep at `http://169.254.169.254/` or a service on the
//! operator's network and read the answers back through sync errors (SSRF).
//! So every address in [`RESERVED`] is refused unless the operator's
//! allow-list (`outbound_allow`) contains it. The table follows IANA's
//! special-purpose address registries: private, loopback, link-local and
//! shared ranges, ranges for documentation and benchmarking, multicast and
//! reserved space, and every IPv6 range that carries an IPv4 address inside
//! it (NAT64, 6to4, Teredo, IPv4-compatible), since any of those can reach
//! a private IPv4 host through a translator. An IPv4-mapped IPv6 address
//! (`::ffff:10.0.0.1`) is judged as the IPv4 address it carries, so the
//! allow-list entry `127.0.0.0/8` also opens `::ffff:127.0.0.1`.
//!
//! What a refusal tells whom: the tenant learns only that the address is not
//! allowed ([`GuardError`]'s message), because which internal address a
//! name resolves to is itself something an attacker probes for. The
//! operator's log keeps the host, the address and the range (a `warn`
//! event), which is what an operator needs to decide on the allow-list.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Why an address may not be reached. Its message is what the tenant sees
/// and names neither the address nor the range; the log has both.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the third party's address is not allowed")]
pub struct GuardError {
    pub host: String,
    pub addr: IpAddr,
    /// The reserved range the address is in, as the log names it.
    pub range: &'static str,
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

    /// Public addresses pass; a reserved one passes only when an allow-list
    /// entry contains it. A refusal is logged with its details.
    pub fn check(&self, host: &str, addr: IpAddr) -> Result<(), GuardError> {
        let addr = canonical(addr);
        let Some(range) = reserved_range(addr) else {
            return Ok(());
        };
        if self.allow.iter().any(|net| net.contains(&addr)) {
            return Ok(());
        }
        tracing::warn!(
            host,
            %addr,
            range,
            "refused a third party's address: it is reserved and not in outbound_allow"
        );
        Err(GuardError { host: host.to_owned(), addr, range })
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

/// The reserved range `addr` is in, by the name the log gives it.
fn reserved_range(addr: IpAddr) -> Option<&'static str> {
    RESERVED.iter().find(|(net, _)| net.contains(&addr)).map(|(_, name)| *name)
}

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> IpNet {
    IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix))
}

const fn v6(first: u16, second: u16, third: u16, prefix: u8) -> IpNet {
    IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::new(first, second, third, 0, 0, 0, 0, 0), prefix))
}

/// Every range refused unless allowed, with the name the log gives it.
/// `::ffff:0:0/96` (IPv4-mapped) is absent on purpose: those addresses are
/// judged as their IPv4 address before this table is consulted.
pub const RESERVED: &[(IpNet, &str)] = &[
    (v4(0, 0, 0, 0, 8), "0.0.0.0/8 (this network)"),
    (v4(10, 0, 0, 0, 8), "10.0.0.0/8 (private)"),
    (v4(100, 64, 0, 0, 10), "100.64.0.0/10 (shared address space)"),
    (v4(127, 0, 0, 0, 8), "127.0.0.0/8 (loopback)"),
    (v4(169, 254, 0, 0, 16), "169.254.0.0/16 (link-local)"),
    (v4(172, 16, 0, 0, 12), "172.16.0.0/12 (private)"),
    (v4(192, 0, 0, 0, 24), "192.0.0.0/24 (IETF protocol assignments)"),
    (v4(192, 0, 2, 0, 24), "192.0.2.0/24 (documentation)"),
    (v4(192, 88, 99, 0, 24), "192.88.99.0/24 (6to4 relay anycast)"),
    (v4(192, 168, 0, 0, 16), "192.168.0.0/16 (private)"),
    (v4(198, 18, 0, 0, 15), "198.18.0.0/15 (benchmarking)"),
    (v4(198, 51, 100, 0, 24), "198.51.100.0/24 (documentation)"),
    (v4(203, 0, 113, 0, 24), "203.0.113.0/24 (documentation)"),
    (v4(224, 0, 0, 0, 4), "224.0.0.0/4 (multicast)"),
    (v4(240, 0, 0, 0, 4), "240.0.0.0/4 (reserved, with the broadcast address)"),
    // ::/96 holds the unspecified address, loopback and the deprecated
    // IPv4-compatible addresses (`::10.0.0.1`).
    (v6(0, 0, 0, 96), "::/96 (unspecified, loopback, IPv4-compatible)"),
    (v6(0x64, 0xff9b, 0, 96), "64:ff9b::/96 (NAT64)"),
    (v6(0x64, 0xff9b, 1, 48), "64:ff9b:1::/48 (local-use NAT64)"),
    (v6(0x100, 0, 0, 64), "100::/64 (discard-only)"),
    (v6(0x2001, 0, 0, 32), "2001::/32 (Teredo)"),
    (v6(0x2001, 2, 0, 48), "2001:2::/48 (benchmarking)"),
    (v6(0x2001, 0x10, 0, 28), "2001:10::/28 (ORCHID)"),
    (v6(0x2001, 0x20, 0, 28), "2001:20::/28 (ORCHIDv2)"),
    (v6(0x2001, 0xdb8, 0, 32), "2001:db8::/32 (documentation)"),
    (v6(0x2002, 0, 0, 16), "2002::/16 (6to4)"),
    (v6(0x3fff, 0, 0, 20), "3fff::/20 (documentation)"),
    (v6(0x5f00, 0, 0, 16), "5f00::/16 (segment routing)"),
    (v6(0xfc00, 0, 0, 7), "fc00::/7 (unique local)"),
    (v6(0xfe80, 0, 0, 10), "fe80::/10 (link-local)"),
    (v6(0xfec0, 0, 0, 10), "fec0::/10 (site-local)"),
    (v6(0xff00, 0, 0, 8), "ff00::/8 (multicast)"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn refused_range(guard: &AddressGuard, addr: &str) -> Option<&'static str> {
        guard.check("h", ip(addr)).err().map(|e| e.range)
    }

    #[test]
    fn every_reserved_range_is_refused_at_its_first_and_last_address() {
        let guard = AddressGuard::default();
        for (net, name) in RESERVED {
            for addr in [net.network(), net.broadcast()] {
                assert_eq!(refused_range(&guard, &addr.to_string()), Some(*name), "{addr} in {net}");
            }
        }
    }

    #[test]
    fn each_range_the_guard_must_know_is_refused() {
        let guard = AddressGuard::default();
        for (addr, range) in [
            ("0.1.2.3", "0.0.0.0/8"),
            ("10.1.2.3", "10.0.0.0/8"),
            ("100.64.0.1", "100.64.0.0/10"),
            ("100.127.255.254", "100.64.0.0/10"),
            ("127.0.0.1", "127.0.0.0/8"),
            ("169.254.169.254", "169.254.0.0/16"),
            ("172.31.255.1", "172.16.0.0/12"),
            ("192.0.0.8", "192.0.0.0/24"),
            ("192.0.2.1", "192.0.2.0/24"),
            ("192.88.99.1", "192.88.99.0/24"),
            ("192.168.1.1", "192.168.0.0/16"),
            ("198.18.0.1", "198.18.0.0/15"),
            ("198.19.255.255", "198.18.0.0/15"),
            ("198.51.100.7", "198.51.100.0/24"),
            ("203.0.113.9", "203.0.113.0/24"),
            ("224.0.0.251", "224.0.0.0/4"),
            ("240.0.0.1", "240.0.0.0/4"),
            ("255.255.255.255", "240.0.0.0/4"),
            ("::", "::/96"),
            ("::1", "::/96"),
            ("::10.0.0.1", "::/96"),
            ("::127.0.0.1", "::/96"),
            ("64:ff9b::a00:1", "64:ff9b::/96"),
            ("64:ff9b::7f00:1", "64:ff9b::/96"),
            ("64:ff9b:1::1", "64:ff9b:1::/48"),
            ("100::1", "100::/64"),
            ("2001::1", "2001::/32"),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001::/32"),
            ("2001:2::1", "2001:2::/48"),
            ("2001:10::1", "2001:10::/28"),
            ("2001:20::1", "2001:20::/28"),
            ("2001:db8::1", "2001:db8::/32"),
            ("2002:a00:1::1", "2002::/16"),
            ("2002:7f00:1::", "2002::/16"),
            ("3fff::1", "3fff::/20"),
            ("5f00::1", "5f00::/16"),
            ("fd00::1", "fc00::/7"),
            ("fc00::1", "fc00::/7"),
            ("fe80::1", "fe80::/10"),
            ("febf::1", "fe80::/10"),
            ("fec0::1", "fec0::/10"),
            ("feff::1", "fec0::/10"),
            ("ff02::1", "ff00::/8"),
        ] {
            let refused = refused_range(&guard, addr).unwrap_or_else(|| panic!("{addr} should be refused"));
            assert!(refused.starts_with(&format!("{range} ")), "{addr}: refused as {refused}, expected {range}");
        }
    }

    #[test]
    fn ipv4_mapped_addresses_are_judged_as_their_ipv4_address() {
        let guard = AddressGuard::default();
        assert_eq!(refused_range(&guard, "::ffff:127.0.0.1"), Some("127.0.0.0/8 (loopback)"));
        assert_eq!(refused_range(&guard, "::ffff:10.0.0.1"), Some("10.0.0.0/8 (private)"));
        assert_eq!(refused_range(&guard, "::ffff:169.254.169.254"), Some("169.254.0.0/16 (link-local)"));
        assert_eq!(refused_range(&guard, "::ffff:93.184.216.34"), None);
    }

    #[test]
    fn public_addresses_pass() {
        let guard = AddressGuard::default();
        for addr in [
            "93.184.216.34",
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.0",
            "172.32.0.1",
            "192.0.1.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700::1111",
            "2a00:1450:4001::1",
            "2001:4860:4860::8888",
            "2003::1",
        ] {
            assert_eq!(refused_range(&guard, addr), None, "{addr} should pass");
        }
    }

    #[test]
    fn the_allow_list_opens_exactly_its_ranges() {
        let guard = AddressGuard::new(vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]);
        assert!(guard.check("h", ip("127.0.0.1")).is_ok());
        assert!(guard.check("h", ip("::ffff:127.0.0.1")).is_ok());
        assert!(guard.check("h", ip("::1")).is_ok());
        assert!(guard.check("h", ip("10.0.0.1")).is_err());
        assert!(guard.check("h", ip("::127.0.0.1")).is_err(), "IPv4-compatible is not IPv4-mapped");
        assert!(guard.check("h", ip("64:ff9b::7f00:1")).is_err(), "NAT64 is opened only by its own range");
    }

    #[test]
    fn the_tenant_is_told_only_that_the_address_is_not_allowed() {
        let error = AddressGuard::default().check("metadata.internal", ip("169.254.169.254")).unwrap_err();
        let message = error.to_string();
        assert_eq!(message, "the third party's address is not allowed");
        assert!(!message.contains("169.254") && !message.contains("metadata"));
        assert_eq!(error.range, "169.254.0.0/16 (link-local)");
    }

    #[test]
    fn ip_literal_urls_are_checked_before_connecting() {
        let guard = AddressGuard::default();
        assert!(guard.check_url(&url::Url::parse("http://127.0.0.1:9/Users").unwrap()).is_err());
        assert!(guard.check_url(&url::Url::parse("http://[::ffff:7f00:1]:9/Users").unwrap()).is_err());
        assert!(guard.check_url(&url::Url::parse("http://[64:ff9b::a00:1]/Users").unwrap()).is_err());
        assert!(guard.check_url(&url::Url::parse("http://93.184.216.34/Users").unwrap()).is_ok());
    }
}
