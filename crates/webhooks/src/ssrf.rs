//! The SSRF guard: webhook targets on private, loopback, link-local and other non-public
//! addresses are refused unless explicitly allowed (`webhooks.allow_private_targets`; the
//! demo and the tests set it).
//!
//! Checked twice: when a URL is registered (literal IPs and `localhost`), and when it is
//! called — the DNS resolver of the webhook client drops non-public addresses, so a public
//! name that resolves to `127.0.0.1` (DNS rebinding) is refused too. Redirects are not
//! followed.

use poigate_engine::TargetGuard;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether webhooks may go to non-public addresses.
#[derive(Clone, Copy, Debug, Default)]
pub struct TargetPolicy {
    pub allow_private: bool,
}

/// True for addresses a webhook must not reach from a gateway on the internet.
pub fn is_non_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return non_public_v4(v4);
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || v6 == Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0) // NAT64 well-known prefix
        }
    }
}

fn non_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..=127).contains(&b)) // shared address space (CGNAT)
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
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
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_non_public(ip.parse().expect("ip")), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(!is_non_public(ip.parse().expect("ip")), "{ip}");
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
    async fn the_resolver_drops_private_answers() {
        let strict = GuardedResolver {
            policy: TargetPolicy {
                allow_private: false,
            },
        };
        let name: Name = "localhost".parse().expect("name");
        assert!(strict.resolve(name).await.is_err());
        let relaxed = GuardedResolver {
            policy: TargetPolicy {
                allow_private: true,
            },
        };
        let name: Name = "localhost".parse().expect("name");
        assert!(relaxed.resolve(name).await.is_ok());
    }
}
