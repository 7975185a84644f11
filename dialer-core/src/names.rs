//! Names in the core (R-N1 … R-N4): the commands and reports of a resolution, the
//! `dnsaddr` TXT record format, and the fixed refusals of the address filter (R-R10).
//!
//! With [`Config::names`](crate::Config::names) set, a multiaddr that starts with
//! `/dns/<host>`, `/dns4/<host>`, `/dns6/<host>` or `/dnsaddr/<host>` is not handed to the
//! transport: the core asks the runtime to look the host up ([`NameAction::Resolve`], one
//! per record kind, drained with [`Dialer::poll_name_action`]) and puts what comes back in
//! the name's place among the request's candidates, each address ranked, deny-listed,
//! black-hole-checked and learned on its own. The runtime answers every [`Resolve`]
//! exactly once with [`Dialer::handle_resolved`], unless the core aborts it first with
//! [`NameAction::AbortResolve`].
//!
//! With names on, the drive loop drains one more queue: after the actions
//! ([`Dialer::poll_action`]), the name actions ([`Dialer::poll_name_action`]), then the
//! events and the timer as usual.
//!
//! [`Dialer::poll_name_action`]: crate::Dialer::poll_name_action
//! [`Dialer::handle_resolved`]: crate::Dialer::handle_resolved
//! [`Dialer::poll_action`]: crate::Dialer::poll_action

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use multiaddr::{Multiaddr, Protocol};

use crate::ids::{RequestId, ResolveId};

/// How the core resolves names (R-N1 … R-N3); set [`Config::names`](crate::Config::names)
/// to turn it on. The adapters always do.
///
/// | field | default | rule |
/// |---|---|---|
/// | `resolution_delay` | 50 ms | R-N2, RFC 8305 section 3: an IPv4 answer of `/dns` waits this long for its IPv6 one |
/// | `max_depth` | 4 | R-N3: `dnsaddr` results that are names again are resolved this deep |
/// | `max_resolved` | 100 | R-N3: results one request keeps from its names |
///
/// # Tokens
///
/// A resolution takes no token. A request takes its tokens when it has addresses to
/// dial: at once for the addresses the caller passed, and when its names' answers bring
/// addresses for the rest (a request of names alone asks the pool only then, with a
/// [`RequestTokens`](crate::Event::RequestTokens) event, or when a caller joins it with
/// addresses of its own). A request whose dials are all over while a name still
/// resolves gives its tokens back (R-T7) and asks again when addresses come. If the pool
/// is empty then, a high-priority request proceeds as an overdraft (R-P1), one with a
/// wait queue waits in it (R-Q1; its `dial_timeout` still counts from the call), and any
/// other fails with [`DialFailed::NoTokens`](crate::DialFailed::NoTokens). A request of
/// names alone is refused with [`DialRefused::NoTokens`](crate::DialRefused::NoTokens) at
/// once if the pool is empty when it is made and there is no wait queue: fail-fast, as
/// for any request, and no lookup is spent on an answer that would find the pool empty too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Names {
    /// How long the IPv4 answer of a `/dns` name is held back for the IPv6 answer, so
    /// that the families interleave IPv6 first (RFC 8305's resolution delay); `None`
    /// dials each answer as it comes.
    pub resolution_delay: Option<Duration>,
    /// How many levels of `dnsaddr` indirection a request follows (go-libp2p: 4). A
    /// result one level deeper ends its name with [`FailReason::TooDeep`](crate::FailReason::TooDeep).
    pub max_depth: u8,
    /// Most results (addresses and names) one request keeps from its names' answers
    /// (go-libp2p: 100); the rest are dropped and counted in
    /// [`Stats::resolved_dropped`](crate::Stats::resolved_dropped). Separate from
    /// `max_addrs_per_request`, which bounds what the caller passes.
    pub max_resolved: usize,
}

impl Default for Names {
    fn default() -> Self {
        Self {
            resolution_delay: Some(Duration::from_millis(50)),
            max_depth: 4,
            max_resolved: 100,
        }
    }
}

/// A host name, as a [`Resolve`] asks for it and a [`StartDial`](crate::StartDial)
/// carries it: cheap to clone (one reference count) and one pointer wide, so that the
/// commands it rides in stay small. Reads as a `&str` (`Deref`, `AsRef`, `Display`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Host(Arc<String>);

impl Host {
    /// A host name from any string (the core lower-cases the names it takes from
    /// multiaddrs; this does not).
    pub fn new(name: impl Into<String>) -> Self {
        Self(Arc::new(name.into()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Host {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Host {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Host {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Host {
    fn eq(&self, other: &str) -> bool {
        *self.0 == other
    }
}

impl PartialEq<&str> for Host {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == *other
    }
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Host {
    fn from(name: &str) -> Self {
        Self::new(name)
    }
}

impl From<String> for Host {
    fn from(name: String) -> Self {
        Self::new(name)
    }
}

/// The record kind a [`Resolve`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// IPv4 addresses (`/dns4`, and half of `/dns`).
    A,
    /// IPv6 addresses (`/dns6`, and half of `/dns`).
    Aaaa,
    /// Text records, for `/dnsaddr` (at `_dnsaddr.<host>`).
    Txt,
}

impl RecordKind {
    /// The record type's name in DNS: `A`, `AAAA`, `TXT`.
    pub fn name(self) -> &'static str {
        match self {
            Self::A => "A",
            Self::Aaaa => "AAAA",
            Self::Txt => "TXT",
        }
    }
}

/// Command to the runtime: look `name` up for records of `kind`, and report the answer
/// with [`Dialer::handle_resolved`](crate::Dialer::handle_resolved) and `resolve`.
///
/// A resolution takes no token (it opens no connection) and is bounded by
/// `address_timeout`: at that deadline the core aborts it ([`AbortResolve`]) and the name
/// fails with [`FailReason::ResolveTimeout`](crate::FailReason::ResolveTimeout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolve<P> {
    /// Names this resolution in its report and its [`AbortResolve`].
    pub resolve: ResolveId,
    /// The request it resolves for.
    pub request: RequestId,
    /// The peer being dialed.
    pub peer: P,
    /// The name to look up, without a trailing dot: the host of a `/dns*` address, or
    /// `_dnsaddr.<host>` for `/dnsaddr/<host>`.
    pub name: Host,
    /// The records wanted.
    pub kind: RecordKind,
}

/// A name command for the runtime (R-N1), drained with
/// [`Dialer::poll_name_action`](crate::Dialer::poll_name_action). Only a dialer with
/// [`Config::names`](crate::Config::names) set emits any.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "the runtime must carry out every name action"]
#[non_exhaustive]
pub enum NameAction<P> {
    /// Look a name up.
    Resolve(Resolve<P>),
    /// Abandon a lookup.
    AbortResolve(AbortResolve),
}

/// Command to the runtime: abandon the resolution `resolve`. No report is expected; one
/// that comes anyway is answered with
/// [`ReportError::UnknownResolve`](crate::ReportError::UnknownResolve).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortResolve {
    /// The resolution to abandon.
    pub resolve: ResolveId,
    /// The request it belonged to.
    pub request: RequestId,
}

/// What a resolution found: the runtime's half of
/// [`Dialer::handle_resolved`](crate::Dialer::handle_resolved).
///
/// An answer of the wrong shape for its [`RecordKind`] (IPv6 addresses for an `A` lookup,
/// addresses for a `TXT` one) is not an error: what does not fit is ignored, and a name
/// left with nothing fails with
/// [`FailReason::NothingResolved`](crate::FailReason::NothingResolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The addresses of an `A` or `AAAA` lookup.
    Ips(Vec<IpAddr>),
    /// The strings of a `TXT` lookup, one per record (a record's character-strings
    /// joined). Those that start with `dnsaddr=` are `dnsaddr` records; the others are
    /// ignored.
    Txt(Vec<String>),
}

/// Why a `dnsaddr` TXT record could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed dnsaddr record {record:?}: {reason}")]
pub struct BadRecord {
    /// The record, cut to its first 100 characters.
    pub record: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Parses one TXT record of a `dnsaddr` lookup (R-N3): `None` if it is no `dnsaddr`
/// record (it does not start with `dnsaddr=`, and is ignored), else the multiaddr it
/// holds or why it holds none.
///
/// ```
/// use dialer_core::names::parse_dnsaddr_record;
///
/// let addr = parse_dnsaddr_record("dnsaddr=/ip4/127.0.0.1/tcp/4001").unwrap().unwrap();
/// assert_eq!(addr.to_string(), "/ip4/127.0.0.1/tcp/4001");
/// assert!(parse_dnsaddr_record("v=spf1 -all").is_none());
/// assert!(parse_dnsaddr_record("dnsaddr=/ip4/999.0.0.1/tcp/1").unwrap().is_err());
/// ```
pub fn parse_dnsaddr_record(record: &str) -> Option<Result<Multiaddr, BadRecord>> {
    let value = record.strip_prefix("dnsaddr=")?;
    let bad = |reason: String| BadRecord {
        record: record.chars().take(100).collect(),
        reason,
    };
    Some(match value.parse::<Multiaddr>() {
        Ok(addr) if addr.is_empty() => Err(bad("empty multiaddr".to_owned())),
        Ok(addr) => Ok(addr),
        Err(e) => Err(bad(e.to_string())),
    })
}

const CODE_IP4: u8 = 4;
const CODE_IP6: u8 = 41;
const CODE_DNS: u8 = 53;
const CODE_DNSADDR: u8 = 56;

/// Whether `addr` starts with a name (`/dns`, `/dns4`, `/dns6`, `/dnsaddr`): one byte
/// read, since the codes 53 … 56 are one-byte varints.
#[inline(always)]
pub(crate) fn is_name(addr: &Multiaddr) -> bool {
    matches!(addr.as_ref().first(), Some(&(CODE_DNS..=CODE_DNSADDR)))
}

/// R-R10: whether `addr` starts with an IP address no dial may target: unspecified
/// (`0.0.0.0`, `::`: Linux connects them to this host), multicast, or the IPv4 broadcast
/// address. Read from the encoded bytes; every admitted address passes here.
#[inline(always)]
pub(crate) fn unroutable(addr: &Multiaddr) -> bool {
    match addr.as_ref() {
        // The usual case, in two comparisons: a first octet in 1..=223 is none of them.
        [CODE_IP4, a, ..] if (1..224).contains(a) => false,
        [CODE_IP4, a, b, c, d, ..] => {
            let ip = Ipv4Addr::new(*a, *b, *c, *d);
            ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast()
        }
        // Neither `::`, nor `::ffff:…`, nor multicast (`ff…`).
        [CODE_IP6, first, ..] if *first != 0 && *first != 0xff => false,
        [CODE_IP6, rest @ ..] if rest.len() >= 16 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&rest[..16]);
            let ip = Ipv6Addr::from(octets);
            ip.is_unspecified()
                || ip.is_multicast()
                || ip
                    .to_ipv4_mapped()
                    .is_some_and(|v4| v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast())
        }
        _ => false,
    }
}

/// The kind of name a multiaddr starts with, its host, and the lookups it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameKind {
    /// `/dns`: A and AAAA.
    Any,
    /// `/dns4`: A.
    V4,
    /// `/dns6`: AAAA.
    V6,
    /// `/dnsaddr`: TXT at `_dnsaddr.<host>`.
    Dnsaddr,
}

impl NameKind {
    pub(crate) fn lookups(self) -> &'static [RecordKind] {
        match self {
            Self::Any => &[RecordKind::Aaaa, RecordKind::A],
            Self::V4 => &[RecordKind::A],
            Self::V6 => &[RecordKind::Aaaa],
            Self::Dnsaddr => &[RecordKind::Txt],
        }
    }
}

/// The name `addr` starts with, and its host (lower-cased, without a trailing dot), or
/// `None` if it starts with something else or the host is empty.
pub(crate) fn name_of(addr: &Multiaddr) -> Option<(NameKind, Host)> {
    let (kind, host) = match addr.iter().next()? {
        Protocol::Dns(h) => (NameKind::Any, h),
        Protocol::Dns4(h) => (NameKind::V4, h),
        Protocol::Dns6(h) => (NameKind::V6, h),
        Protocol::Dnsaddr(h) => (NameKind::Dnsaddr, h),
        _ => return None,
    };
    let host = host.trim_end_matches('.');
    if host.is_empty() {
        return None;
    }
    Some((kind, Host::new(host.to_ascii_lowercase())))
}

/// The query name of a lookup for `host`.
pub(crate) fn query_name(kind: NameKind, host: &Host) -> Host {
    match kind {
        NameKind::Dnsaddr => Host::new(format!("_dnsaddr.{host}")),
        _ => host.clone(),
    }
}

/// `name` (an address starting with a name) with that first component replaced by
/// `ip`: `/dns4/example.com/tcp/1` and `192.0.2.1` make `/ip4/192.0.2.1/tcp/1`.
pub(crate) fn substitute(name: &Multiaddr, ip: IpAddr) -> Multiaddr {
    let mut out = Multiaddr::with_capacity(name.len());
    out.push(match ip {
        IpAddr::V4(v4) => Protocol::Ip4(v4),
        IpAddr::V6(v6) => Protocol::Ip6(v6),
    });
    for p in name.iter().skip(1) {
        out.push(p);
    }
    out
}

/// The `/p2p/<id>` a multiaddr ends with, as its encoded bytes.
pub(crate) fn peer_suffix(addr: &Multiaddr) -> Option<Vec<u8>> {
    match addr.iter().last()? {
        Protocol::P2p(id) => Some(id.to_bytes()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ma(s: &str) -> Multiaddr {
        s.parse().expect("multiaddr")
    }

    #[test]
    fn the_first_byte_tells_a_name() {
        for s in [
            "/dns/a.test/tcp/1",
            "/dns4/a.test/tcp/1",
            "/dns6/a.test/tcp/1",
            "/dnsaddr/a.test",
        ] {
            assert!(is_name(&ma(s)), "{s}");
        }
        for s in ["/ip4/127.0.0.1/tcp/1", "/ip6/::1/tcp/1", "/unix/a"] {
            assert!(!is_name(&ma(s)), "{s}");
        }
    }

    // R-R10
    #[test]
    fn unspecified_multicast_and_broadcast_are_unroutable() {
        for s in [
            "/ip4/0.0.0.0/tcp/1",
            "/ip6/::/tcp/1",
            "/ip4/224.0.0.1/tcp/1",
            "/ip4/239.1.2.3/udp/1/quic-v1",
            "/ip4/255.255.255.255/tcp/1",
            "/ip6/ff02::1/tcp/1",
            "/ip6/::ffff:0.0.0.0/tcp/1",
        ] {
            assert!(unroutable(&ma(s)), "{s}");
        }
        for s in [
            "/ip4/127.0.0.1/tcp/1",
            "/ip4/10.0.0.1/tcp/1",
            "/ip6/::1/tcp/1",
            "/dns4/a.test/tcp/1",
        ] {
            assert!(!unroutable(&ma(s)), "{s}");
        }
    }

    #[test]
    fn a_resolved_ip_takes_the_names_place() {
        let name = ma(
            "/dns4/Example.COM./tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN",
        );
        let (kind, host) = name_of(&name).expect("a name");
        assert_eq!(kind, NameKind::V4);
        assert_eq!(&*host, "example.com");
        let out = substitute(&name, "127.0.0.1".parse().expect("ip"));
        assert_eq!(
            out,
            ma("/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN")
        );
        assert_eq!(peer_suffix(&out), peer_suffix(&name));
        assert!(peer_suffix(&out).is_some());
        assert_eq!(
            &*query_name(NameKind::Dnsaddr, &host),
            "_dnsaddr.example.com"
        );
    }

    // R-N4
    #[test]
    fn malformed_records_say_what_is_wrong() {
        assert!(parse_dnsaddr_record("dnsaddr=")
            .expect("a dnsaddr record")
            .is_err());
        assert!(parse_dnsaddr_record("dnsaddr=garbage")
            .expect("a dnsaddr record")
            .is_err());
        assert!(parse_dnsaddr_record("dnsaddr=/")
            .expect("a dnsaddr record")
            .is_err());
        let long = format!("dnsaddr={}", "x".repeat(500));
        let err = parse_dnsaddr_record(&long)
            .expect("a dnsaddr record")
            .expect_err("bad");
        assert_eq!(err.record.chars().count(), 100);
        assert!(parse_dnsaddr_record("DNSADDR=/ip4/1.2.3.4").is_none());
    }
}
