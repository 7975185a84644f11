//! Resolvers behind one type: [`AnyResolver`], which the driver holds, and the answers the
//! driver gives itself for `localhost` (RFC 6761).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use dialer_core::{Answer, ErrorClass, RecordKind, TransportError};
use futures::future::BoxFuture;
use futures::FutureExt;

use crate::Resolver;

/// The object-safe half of [`Resolver`], with the error already classed.
trait DynResolver: Send + Sync + 'static {
    fn resolve(
        self: Arc<Self>,
        name: &str,
        kind: RecordKind,
    ) -> BoxFuture<'static, Result<Answer, TransportError>>;
}

impl<R: Resolver> DynResolver for R {
    fn resolve(
        self: Arc<Self>,
        name: &str,
        kind: RecordKind,
    ) -> BoxFuture<'static, Result<Answer, TransportError>> {
        let lookup = Resolver::resolve(&*self, name, kind);
        async move {
            lookup
                .await
                .map_err(|error| TransportError::new(self.error_class(&error), error))
        }
        .boxed()
    }
}

/// Any [`Resolver`], behind one type: what a
/// [`DialerBuilder::with_resolver`](crate::DialerBuilder::with_resolver) takes and what
/// [`Runtime::default_resolver`](crate::Runtime::default_resolver) returns. Cheap to clone
/// (an `Arc`); the lookups of every clone go to the same resolver (and its cache).
#[derive(Clone)]
pub struct AnyResolver {
    inner: Arc<dyn DynResolver>,
}

impl AnyResolver {
    /// Wraps `resolver`.
    pub fn new(resolver: impl Resolver) -> Self {
        Self {
            inner: Arc::new(resolver),
        }
    }
}

impl fmt::Debug for AnyResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnyResolver").finish_non_exhaustive()
    }
}

impl Resolver for AnyResolver {
    type Error = TransportError;
    type Lookup = BoxFuture<'static, Result<Answer, TransportError>>;

    fn resolve(&self, name: &str, kind: RecordKind) -> Self::Lookup {
        Arc::clone(&self.inner).resolve(name, kind)
    }

    /// The class the wrapped resolver gave the error.
    fn error_class(&self, error: &TransportError) -> ErrorClass {
        error.class()
    }
}

/// What a dialer without a resolver answers for a name that is not `localhost`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no resolver: this dialer was built without one, so it resolves only localhost")]
pub struct NoResolver;

/// The answer to a lookup of `name` if it is `localhost` or a name under `.localhost`
/// (RFC 6761, section 6.3: they resolve to loopback, and a resolver must not ask a name
/// server about them): `127.0.0.1` for `A`, `::1` for `AAAA`, no records for `TXT`.
/// `None` for every other name. The core hands names over lower-cased, without a
/// trailing dot; this accepts either anyway.
///
/// ```
/// use dialer_driver::{local_answer, Answer, RecordKind};
///
/// assert_eq!(
///     local_answer("localhost", RecordKind::A),
///     Some(Answer::Ips(vec!["127.0.0.1".parse().unwrap()]))
/// );
/// assert_eq!(
///     local_answer("_dnsaddr.node.localhost", RecordKind::Txt),
///     Some(Answer::Txt(Vec::new()))
/// );
/// assert_eq!(local_answer("localhost.example", RecordKind::A), None);
/// ```
pub fn local_answer(name: &str, kind: RecordKind) -> Option<Answer> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let local = name.eq_ignore_ascii_case("localhost")
        || name.len() > ".localhost".len()
            && name
                .get(name.len() - ".localhost".len()..)
                .is_some_and(|tail| tail.eq_ignore_ascii_case(".localhost"));
    if !local {
        return None;
    }
    Some(match kind {
        RecordKind::A => Answer::Ips(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]),
        RecordKind::Aaaa => Answer::Ips(vec![IpAddr::V6(Ipv6Addr::LOCALHOST)]),
        RecordKind::Txt => Answer::Txt(Vec::new()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_and_names_under_it_are_loopback() {
        for name in ["localhost", "LocalHost.", "a.localhost", "b.c.LOCALHOST"] {
            assert_eq!(
                local_answer(name, RecordKind::Aaaa),
                Some(Answer::Ips(vec![IpAddr::V6(Ipv6Addr::LOCALHOST)])),
                "{name}"
            );
        }
        for name in [
            "",
            ".localhost",
            "notlocalhost",
            "localhost.test",
            "xlocalhost",
        ] {
            assert_eq!(local_answer(name, RecordKind::A), None, "{name}");
        }
    }
}
