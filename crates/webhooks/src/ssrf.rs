//! The SSRF guard: webhook targets on private, loopback, link-local and every other
//! non-public address are refused unless explicitly allowed (`webhooks.allow_private_targets`;
//! the demo and the tests set it).
//!
//! Checked twice: when a URL is registered (literal IPs and `localhost`), and when it is
//! called — the DNS resolver of the webhook client drops non-public addresses, so a public
//! name that resolves to `127.0.0.1` (DNS rebinding) is refused too. Redirects are not
//! followed. Both refusals are final: the worker gives the delivery up at once with a
//! `refused: …` error in the delivery log (waiting does not make a target acceptable).
//!
//! "Non-public" is every range of the IANA IPv4 and IPv6 special-purpose address registries
//! (plus multicast and the reserved 240.0.0.0/4), and every IPv6 form that carries an IPv4
//! address a webhook could be steered to: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
//! (`::a.b.c.d`, all of `::/96`), IPv4-translated (`::ffff:0:a.b.c.d`), NAT64 (all of
//! `64:ff9b::/96` and `64:ff9b:1::/48`: the translator sits inside the operator's network),
//! 6to4 (`2002:AABB:CCDD::/48` with a non-public `AA.BB.CC.DD`), ISATAP interface ids with a
//! non-public IPv4, and Teredo (inside `2001::/23`, refused whole).

use poigate_engine::TargetGuard;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether webhooks may go to non-public addresses.
#[derive(Clone, Copy, Debug, Default)]
pub struct TargetPolicy {
    pub allow_private: bool,
}

/// The resolver's refusal: a name that resolves only to non-public addresses. A distinct
/// type so that the worker can tell it from a DNS failure (which is worth a retry).
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to non-public addresses (webhooks.allow_private_targets)")]
pub struct TargetRefused {
    pub host: String,
}

/// True for addresses a webhook must not reach from a gateway on the internet.
pub fn is_non_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

/// `(network, prefix length)` of the IPv4 special-purpose registry (RFC 6890 and its
/// updates), multicast and the reserved block. All are refused, even the few the registry
/// marks globally reachable (AS112, AMT, the 6to4 relay anycast): none is a webhook receiver.
const SPECIAL_V4: &[([u8; 4], u8)] = &[
    ([0, 0, 0, 0], 8),       // "this network"
    ([10, 0, 0, 0], 8),      // private
    ([100, 64, 0, 0], 10),   // shared address space (CGNAT)
    ([127, 0, 0, 0], 8),     // loopback
    ([169, 254, 0, 0], 16),  // link-local (cloud metadata services)
    ([172, 16, 0, 0], 12),   // private
    ([192, 0, 0, 0], 24),    // IETF protocol assignments (DS-Lite, NAT64 discovery, …)
    ([192, 0, 2, 0], 24),    // documentation (TEST-NET-1)
    ([192, 31, 196, 0], 24), // AS112-v4
    ([192, 52, 193, 0], 24), // AMT
    ([192, 88, 99, 0], 24),  // deprecated 6to4 relay anycast
    ([192, 168, 0, 0], 16),  // private
    ([192, 175, 48, 0], 24), // direct delegation AS112
    ([198, 18, 0, 0], 15),   // benchmarking
    ([198, 51, 100, 0], 24), // documentation (TEST-NET-2)
    ([203, 0, 113, 0], 24),  // documentation (TEST-NET-3)
    ([224, 0, 0, 0], 4),     // multicast
    ([240, 0, 0, 0], 4),     // reserved, and the limited broadcast 255.255.255.255
];

/// `(network, prefix length)` of the IPv6 special-purpose registry (RFC 6890 and its
/// updates), plus multicast and the deprecated site-local block. The forms that embed an
/// IPv4 address are decided in [`non_public_v6`] before this table.
const SPECIAL_V6: &[([u16; 8], u8)] = &[
    ([0, 0, 0, 0, 0, 0, 0, 0], 96),      // ::/96: ::, ::1, IPv4-compatible
    ([0, 0, 0, 0, 0xffff, 0, 0, 0], 96), // IPv4-translated ::ffff:0:a.b.c.d
    ([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96), // NAT64 well-known prefix
    ([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48), // NAT64 local-use prefixes
    ([0x100, 0, 0, 0, 0, 0, 0, 0], 64),  // discard-only
    ([0x100, 0, 0, 1, 0, 0, 0, 0], 64),  // dummy IPv6 prefix
    ([0x2001, 0, 0, 0, 0, 0, 0, 0], 23), // IETF protocol assignments, Teredo
    ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), // documentation
    ([0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0], 48), // direct delegation AS112
    ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), // documentation
    ([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16), // segment routing SIDs
    ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),  // unique local
    ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), // link-local
    ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), // site-local (deprecated)
    ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),  // multicast
];

fn in_v4(ip: Ipv4Addr, (net, len): ([u8; 4], u8)) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn in_v6(ip: Ipv6Addr, (net, len): ([u16; 8], u8)) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    u128::from(ip) & mask == u128::from(Ipv6Addr::from(net)) & mask
}

fn non_public_v4(ip: Ipv4Addr) -> bool {
    SPECIAL_V4.iter().any(|range| in_v4(ip, *range))
}

fn non_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // IPv4-mapped ::ffff:a.b.c.d: a dual-stack socket connects to the IPv4 address itself.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return non_public_v4(v4);
    }
    // 6to4 2002:AABB:CCDD::/48 routes to the IPv4 address AA.BB.CC.DD.
    if s[0] == 0x2002 {
        let [a, b] = s[1].to_be_bytes();
        let [c, d] = s[2].to_be_bytes();
        return non_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    // ISATAP interface identifiers (::0:5efe:a.b.c.d, ::200:5efe:a.b.c.d) under any prefix.
    if (s[4] & 0xfdff) == 0 && s[5] == 0x5efe {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        if non_public_v4(Ipv4Addr::new(a, b, c, d)) {
            return true;
        }
    }
    SPECIAL_V6.iter().any(|range| in_v6(ip, *range))
}

impl TargetPolicy {
    /// Checks a URL before it is stored or called.
    pub fn check_url(&self, raw: &str) -> Result<url::Url, String> {
        let url = url::Url::parse(raw).map_err(|e| format!("not a valid URL: {e}"))?;
        if url.scheme() != "https" && url.scheme() != "http" {
            return Err("the URL must use https or http".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("credentials in webhook URLs are not allowed; use the signature".into());
        }
        let host = url.host().ok_or("the URL has no host")?;
        if self.allow_private {
            return Ok(url);
        }
        let forbidden = match host {
            url::Host::Ipv4(ip) => is_non_public(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => is_non_public(IpAddr::V6(ip)),
            url::Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                name == "localhost" || name.ends_with(".localhost") || name.ends_with(".internal")
            }
        };
        if forbidden {
            Err("private, loopback and link-local targets are not allowed (webhooks.allow_private_targets)".into())
        } else {
            Ok(url)
        }
    }
}

impl TargetGuard for TargetPolicy {
    fn check(&self, url: &str) -> Result<(), String> {
        self.check_url(url).map(|_| ())
    }
}

/// The resolver's refusal in the source chain of a failed request, if that is why it failed.
pub fn refusal_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a TargetRefused> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(refused) = e.downcast_ref::<TargetRefused>() {
            return Some(refused);
        }
        current = e.source();
    }
    None
}

/// A DNS resolver that drops non-public addresses (unless allowed).
#[derive(Clone, Copy, Debug)]
pub struct GuardedResolver {
    pub policy: TargetPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.policy.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed: Vec<std::net::SocketAddr> = resolved
                .filter(|a| allow || !is_non_public(a.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(TargetRefused { host }) as _);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every form the issue names, and one address of every registry entry.
    const REFUSED: &[&str] = &[
        // IPv4 special-purpose registry
        "0.0.0.0",
        "0.1.2.3",
        "10.1.2.3",
        "100.64.0.1",
        "100.127.255.254",
        "127.0.0.1",
        "127.255.255.254",
        "169.254.169.254",
        "172.16.0.1",
        "172.31.255.255",
        "192.0.0.1",
        "192.0.0.8",
        "192.0.0.170",
        "192.0.0.255",
        "192.0.2.1",
        "192.31.196.1",
        "192.52.193.1",
        "192.88.99.1",
        "192.168.1.1",
        "192.175.48.1",
        "198.18.0.1",
        "198.19.255.255",
        "198.51.100.7",
        "203.0.113.9",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        // IPv6 special-purpose registry
        "::",
        "::1",
        "100::1",
        "100:0:0:1::1",
        "2001::1",
        "2001:1::1",
        "2001:2::1",
        "2001:3::1",
        "2001:4:112::1",
        "2001:10::1",
        "2001:20::1",
        "2001:30::1",
        "2001:db8::1",
        "2620:4f:8000::1",
        "3fff::1",
        "5f00::1",
        "fc00::1",
        "fd00::1",
        "fe80::1",
        "fec0::1",
        "ff02::1",
        // IPv4-compatible ::a.b.c.d (all of ::/96), in both spellings
        "::127.0.0.1",
        "::7f00:1",
        "::10.0.0.1",
        "::8.8.8.8",
        // IPv4-mapped ::ffff:a.b.c.d
        "::ffff:127.0.0.1",
        "::ffff:7f00:1",
        "::ffff:169.254.169.254",
        "::ffff:192.0.0.1",
        // IPv4-translated ::ffff:0:a.b.c.d
        "::ffff:0:127.0.0.1",
        "::ffff:0:8.8.8.8",
        // 6to4 with an embedded non-public IPv4
        "2002:7f00:1::1",
        "2002:a00:1::",
        "2002:c0a8:101::1",
        "2002:a9fe:a9fe::1",
        // NAT64: the whole well-known /96 (even with a public IPv4) and the local-use /48
        "64:ff9b::127.0.0.1",
        "64:ff9b::7f00:1",
        "64:ff9b::8.8.8.8",
        "64:ff9b::",
        "64:ff9b:1::a00:1",
        // Teredo (2001::/32), whatever it embeds
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        "2001:0:7f00:1::1",
        // ISATAP interface ids with a non-public IPv4
        "2600::5efe:7f00:1",
        "2600::200:5efe:a00:1",
    ];

    const ACCEPTED: &[&str] = &[
        "93.184.216.34",
        "8.8.8.8",
        "1.1.1.1",
        "100.63.255.255",
        "100.128.0.1",
        "172.32.0.1",
        "192.0.1.1",
        "198.20.0.1",
        "223.255.255.254",
        "2606:4700::1111",
        "2a00:1450:4001:80b::200e",
        "::ffff:8.8.8.8",
        "2002:808:808::1",
        "2600::5efe:808:808",
    ];

    #[test]
    fn refuses_every_special_purpose_and_embedded_form() {
        for ip in REFUSED {
            let parsed: IpAddr = ip.parse().expect("ip");
            assert!(is_non_public(parsed), "{ip} should be refused");
        }
        for ip in ACCEPTED {
            let parsed: IpAddr = ip.parse().expect("ip");
            assert!(!is_non_public(parsed), "{ip} should be accepted");
        }
    }

    #[test]
    fn refuses_every_form_as_a_url_literal() {
        let strict = TargetPolicy {
            allow_private: false,
        };
        for ip in REFUSED {
            let url = match ip.contains(':') {
                true => format!("http://[{ip}]:8080/hook"),
                false => format!("http://{ip}:8080/hook"),
            };
            assert!(strict.check_url(&url).is_err(), "{url}");
        }
        // The URL parser's other spellings of 127.0.0.1 (decimal, hex, octal, short forms).
        for url in [
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0x7f.0.0.1/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://127.0.1/",
            "http://[0:0:0:0:0:ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://192.0.0.1/",
        ] {
            assert!(strict.check_url(url).is_err(), "{url}");
        }
        for ip in ACCEPTED {
            let url = match ip.contains(':') {
                true => format!("https://[{ip}]/hook"),
                false => format!("https://{ip}/hook"),
            };
            assert!(strict.check_url(&url).is_ok(), "{url}");
        }
    }

    #[test]
    fn refuses_private_urls_unless_allowed() {
        let strict = TargetPolicy {
            allow_private: false,
        };
        for url in [
            "http://127.0.0.1:8080/hook",
            "https://[::1]/x",
            "http://localhost/x",
            "http://10.0.0.5/",
            "http://metadata.internal/",
        ] {
            assert!(strict.check_url(url).is_err(), "{url}");
        }
        assert!(strict.check_url("https://example.com/hook").is_ok());
        assert!(strict.check_url("ftp://example.com/").is_err());
        assert!(strict.check_url("https://user:pw@example.com/").is_err());
        assert!(strict.check_url("not a url").is_err());
        let relaxed = TargetPolicy {
            allow_private: true,
        };
        assert!(relaxed.check_url("http://127.0.0.1:8080/hook").is_ok());
    }

    #[tokio::test]
    async fn the_resolver_refuses_private_answers_with_its_own_error() {
        let strict = GuardedResolver {
            policy: TargetPolicy {
                allow_private: false,
            },
        };
        let name: Name = "localhost".parse().expect("name");
        let error = match strict.resolve(name).await {
            Ok(_) => panic!("localhost resolved through the strict resolver"),
            Err(e) => e,
        };
        assert!(refusal_in(error.as_ref()).is_some(), "{error}");
        let relaxed = GuardedResolver {
            policy: TargetPolicy {
                allow_private: true,
            },
        };
        let name: Name = "localhost".parse().expect("name");
        assert!(relaxed.resolve(name).await.is_ok());
    }
}
