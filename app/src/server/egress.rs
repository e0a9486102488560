//! Requests to addresses a user typed — a kubeconfig's server, a Slack webhook, an LLM
//! base URL, PagerDuty's API, anything later — under one policy, so that nobody can make
//! the server reach inside the network it runs in.
//!
//! The name is resolved here and every address it resolves to is checked: loopback,
//! private, link-local (cloud metadata at 169.254.169.254 included), carrier-grade NAT,
//! unique-local IPv6 and the other special ranges are refused unless the operator allows
//! private networks (`OUTBOUND_ALLOW_PRIVATE`, for self-hosted deployments). The client
//! then connects to the addresses that were checked (no second lookup, so no DNS
//! rebinding window), follows no redirects, uses no proxy, and is time-boxed. `http://`
//! is refused unless the operator allows it (`OUTBOUND_ALLOW_HTTP`): credentials travel
//! over TLS. What went wrong is told in classified words, never with the remote's body.
//! Providers' APIs at addresses the operator set (GitHub, Notion, PhonePe) need no
//! check: [`provider_client`] is their plain client.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::server::config::OutboundSettings;

/// What the operator allows beyond the public internet over TLS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// `OUTBOUND_ALLOW_HTTP`: plain `http://` destinations.
    pub allow_http: bool,
    /// `OUTBOUND_ALLOW_PRIVATE`: loopback, private and link-local destinations.
    pub allow_private: bool,
}

impl OutboundSettings {
    /// The policy for requests to addresses users typed.
    pub fn policy(&self) -> Policy {
        Policy { allow_http: self.allow_http, allow_private: self.allow_private }
    }
}

/// Why a destination was refused, before any byte was sent to it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the address is not a valid URL")]
    Malformed,
    #[error("only https:// addresses are allowed")]
    NotHttps,
    #[error("{host} does not resolve")]
    Unresolvable { host: String },
    #[error("{host} ({address}) is {kind} address, which DreamOps does not connect to")]
    Internal { host: String, address: IpAddr, kind: &'static str },
}

/// What kind of address `address` is, when it is not a public one.
pub fn internal_kind(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal_v4(v4);
            }
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("a loopback")
            } else if v6.is_unspecified() {
                Some("an unspecified")
            } else if first & 0xfe00 == 0xfc00 {
                Some("a unique-local")
            } else if first & 0xffc0 == 0xfe80 {
                Some("a link-local")
            } else if first & 0xff00 == 0xff00 {
                Some("a multicast")
            } else if v6.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                // NAT64: the IPv4 address it translates to decides.
                let [.., a, b] = v6.segments();
                internal_v4(Ipv4Addr::from((u32::from(a) << 16) | u32::from(b)))
            } else {
                None
            }
        }
    }
}

fn internal_v4(v4: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = v4.octets();
    if v4.is_loopback() {
        Some("a loopback")
    } else if v4.is_private() {
        Some("a private")
    } else if v4.is_link_local() {
        Some("a link-local (cloud metadata)")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a carrier-grade NAT")
    } else if a == 0 {
        Some("an unspecified")
    } else if v4.is_multicast() || a >= 240 {
        Some("a multicast or reserved")
    } else if (a, b, c) == (192, 0, 0) || (a == 198 && (b == 18 || b == 19)) {
        Some("a special-purpose")
    } else {
        None
    }
}

impl Policy {
    /// Checks `url`'s scheme and host (and, when the host is an IP address, the address);
    /// names are checked as they resolve, by [`Policy::client`]'s resolver.
    pub fn check_url(&self, url: &str) -> Result<reqwest::Url, Refused> {
        let url = reqwest::Url::parse(url).map_err(|_| Refused::Malformed)?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            _ => return Err(Refused::NotHttps),
        }
        let host = url.host_str().filter(|host| !host.is_empty()).ok_or(Refused::Malformed)?;
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(address) = literal.parse::<IpAddr>() {
            self.check_address(host, address)?;
        }
        Ok(url)
    }

    fn check_address(&self, host: &str, address: IpAddr) -> Result<(), Refused> {
        match internal_kind(address) {
            Some(kind) if !self.allow_private => Err(Refused::Internal { host: host.to_string(), address, kind }),
            _ => Ok(()),
        }
    }

    /// Resolves `host` and checks every address it resolves to: all must be allowed.
    /// The addresses to connect to, with `port`.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Refused> {
        let unresolvable = || Refused::Unresolvable { host: host.to_string() };
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        let addresses: Vec<SocketAddr> = match literal.parse::<IpAddr>() {
            Ok(address) => vec![SocketAddr::new(address, port)],
            Err(_) => tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((literal, port)))
                .await
                .map_err(|_| unresolvable())?
                .map_err(|_| unresolvable())?
                .collect(),
        };
        if addresses.is_empty() {
            return Err(unresolvable());
        }
        for address in &addresses {
            self.check_address(host, address.ip())?;
        }
        Ok(addresses)
    }

    /// An HTTP client for destinations users typed: it resolves through the policy and
    /// connects only to the addresses checked, follows no redirect, uses no proxy, and
    /// gives up after `timeout`. Check each URL with [`Policy::check_url`] before sending
    /// (an IP address in a URL is not resolved, so the resolver never sees it).
    pub fn client(&self, timeout: Duration) -> reqwest::Client {
        reqwest::Client::builder()
            .dns_resolver(Arc::new(Resolver(*self)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(timeout.min(CONNECT_TIMEOUT))
            .timeout(timeout)
            .build()
            .unwrap_or_default()
    }

    /// Sends `request` (built with a [`Policy::client`]) after checking its URL; a failure
    /// in classified words naming `what` ("the Slack webhook").
    pub async fn send(&self, request: reqwest::RequestBuilder, what: &str) -> Result<reqwest::Response, Failure> {
        let (client, request) = request.build_split();
        let request = request.map_err(|_| Failure::Refused(format!("{what}: {}", Refused::Malformed)))?;
        self.check_url(request.url().as_str()).map_err(|refused| Failure::Refused(format!("{what}: {refused}")))?;
        let response = client.execute(request).await.map_err(|error| Failure::classify(&error, what))?;
        if response.status().is_redirection() {
            return Err(Failure::Answered(format!(
                "{what} answered HTTP {} (a redirect, which DreamOps does not follow)",
                response.status().as_u16()
            )));
        }
        Ok(response)
    }
}

/// An HTTP client for a provider's API at an address the operator set, not a user
/// (GitHub, Notion, PhonePe): no redirect, no proxy, DreamOps' user agent, giving up
/// after `timeout`. Addresses users type go through [`Policy::client`] instead.
pub fn provider_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(timeout.min(CONNECT_TIMEOUT))
        .timeout(timeout)
        .user_agent(concat!("DreamOps/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// How long resolving a name may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A request that did not get an answer, in words an operator can act on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// Refused by the policy before any byte was sent: trying again will not help.
    #[error("{0}")]
    Refused(String),
    /// No connection, no answer in time, or TLS failed: trying again may help.
    #[error("{0}")]
    Unreachable(String),
    /// An answer that is not what was asked for (a redirect).
    #[error("{0}")]
    Answered(String),
}

impl Failure {
    fn classify(error: &reqwest::Error, what: &str) -> Failure {
        if let Some(refused) = causes(error).find_map(|cause| cause.downcast_ref::<Refused>()) {
            Failure::Refused(format!("{what}: {refused}"))
        } else if error.is_timeout() {
            Failure::Unreachable(format!("{what}: no answer in time"))
        } else if let Some(tls) = tls_failure(error) {
            Failure::Unreachable(format!("{what}: {tls}"))
        } else {
            Failure::Unreachable(format!("{what}: could not connect"))
        }
    }

    /// Whether trying again later may help.
    pub fn is_transient(&self) -> bool {
        matches!(self, Failure::Unreachable(_))
    }
}

/// `error` and its causes, outermost first.
fn causes<'e>(
    error: &'e (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'e (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |cause| cause.source())
}

/// "TLS failed: <the innermost cause>" when a connection failed in its TLS handshake or
/// over a certificate, `None` otherwise: every other failure to connect is reported as
/// such, without the transport's own words (refused, reset), which would make the
/// service a port scanner.
pub fn tls_failure(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let texts: Vec<String> = causes(error).map(ToString::to_string).collect();
    let tls = texts
        .iter()
        .map(|text| text.to_ascii_lowercase())
        .any(|text| text.contains("certificate") || text.contains("tls") || text.contains("handshake"));
    tls.then(|| format!("TLS failed: {}", texts.last().map_or("", String::as_str)))
}

/// The resolver behind [`Policy::client`].
struct Resolver(Policy);

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0;
        Box::pin(async move {
            let addresses = policy.resolve(name.as_str(), 0).await?;
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_told_from_public_ones() {
        for internal in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.100.100.200",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00:ec2::254",
            "fc00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(internal_kind(internal.parse().unwrap()).is_some(), "{internal} passed as public");
        }
        for public in ["1.1.1.1", "93.184.216.34", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "64:ff9b::101:101"] {
            assert_eq!(internal_kind(public.parse().unwrap()), None, "{public} refused");
        }
    }

    #[test]
    fn urls_are_checked_for_scheme_and_address_literals() {
        let strict = Policy::default();
        assert!(strict.check_url("https://hooks.slack.com/services/T/B/x").is_ok());
        assert_eq!(strict.check_url("http://hooks.slack.com/x").unwrap_err(), Refused::NotHttps);
        assert_eq!(strict.check_url("file:///etc/passwd").unwrap_err(), Refused::NotHttps);
        assert_eq!(strict.check_url("not a url").unwrap_err(), Refused::Malformed);
        for internal in
            ["https://127.0.0.1:6443", "https://[::1]/", "https://169.254.169.254/latest", "https://10.0.0.8"]
        {
            assert!(matches!(strict.check_url(internal), Err(Refused::Internal { .. })), "{internal}");
        }
        let open = Policy { allow_http: true, allow_private: true };
        assert!(open.check_url("http://127.0.0.1:8080/hook").is_ok());
    }
}
