//! The three seams an adapter fills in: how to open a connection, how to look a name up,
//! and how to run tasks and timers.

use std::future::Future;
use std::time::Instant;

use dialer_core::{Answer, ErrorClass, RecordKind};
use multiaddr::Multiaddr;

use crate::resolver::AnyResolver;

/// Opens connections (R-A3): TCP by default in the adapters, or QUIC, WebSocket, a test
/// double, anything that turns a [`Multiaddr`] into a connection.
///
/// Dropping a [`Dial`](Self::Dial) future must abandon the attempt (close its socket): that
/// is how the driver carries out an `AbortDial`. Dropping an [`Output`](Self::Output) must
/// close the connection: that is how a connection that completes after its abort is closed
/// (R-A1).
pub trait Transport: Send + Sync + 'static {
    /// The connection.
    type Output: Send + Sync + 'static;
    /// Why a dial failed. Its message, with its chain of sources, is what the core stores
    /// for the address and what [`DialFailed::AllFailed`](dialer_core::DialFailed::AllFailed)
    /// lists, so make it say what went wrong where.
    type Error: std::error::Error + Send + Sync + 'static;
    /// One connection attempt.
    type Dial: Future<Output = Result<Self::Output, Self::Error>> + Send + 'static;

    /// Whether this transport can dial `addr` at all (R-A2). The driver hands this to the
    /// core as its dialable predicate, so no token is spent on an address it rejects.
    fn can_dial(&self, addr: &Multiaddr) -> bool;

    /// Starts dialing `addr`. Only called for addresses [`can_dial`](Self::can_dial)
    /// accepted. The attempt should do no work until polled.
    fn dial(&self, addr: &Multiaddr) -> Self::Dial;

    /// Starts dialing `addr`, which the dialer resolved from the host `name` (R-N1): a
    /// transport that needs the name (TLS SNI, a WebSocket `Host` header) overrides this.
    /// `name` is `None` for an address the caller passed as it is, or one a `dnsaddr`
    /// record held literally. The driver always calls this method; by default it is
    /// [`dial`](Self::dial), so a transport that has no use for the name implements only
    /// that.
    fn dial_named(&self, addr: &Multiaddr, name: Option<&str>) -> Self::Dial {
        let _ = name;
        self.dial(addr)
    }

    /// The class of a failure, for the core and for metrics. By default the class of the
    /// first [`std::io::Error`] in `error`'s chain ([`ErrorClass::of_error`]); override it
    /// where the transport knows better (a resolver error, a protocol error).
    fn error_class(&self, error: &Self::Error) -> ErrorClass {
        ErrorClass::of_error(error)
    }
}

/// Looks names up (R-N1): the core asks for one record kind of one name at a time
/// ([`dialer_core::Resolve`]) and the driver runs the lookup next to the dials, reporting
/// its answer with [`dialer_core::Dialer::handle_resolved`]. The adapters ship a default
/// one (hickory-resolver with the system's configuration); a test double, a resolver with a
/// name server of your choice or a DNS-over-HTTPS client fit here too.
///
/// Dropping a [`Lookup`](Self::Lookup) must abandon it: that is how the driver carries out
/// an `AbortResolve` (the core bounds every lookup by `address_timeout`). `localhost` and
/// names under `.localhost` are answered by the driver itself (RFC 6761) and never reach a
/// resolver.
pub trait Resolver: Send + Sync + 'static {
    /// Why a lookup failed. Its message, with its chain of sources, is what the core
    /// records for the name ([`FailReason::Resolve`](dialer_core::FailReason::Resolve)).
    type Error: std::error::Error + Send + Sync + 'static;
    /// One lookup.
    type Lookup: Future<Output = Result<Answer, Self::Error>> + Send + 'static;

    /// Looks up the records of `kind` at `name` (a host without a trailing dot, or
    /// `_dnsaddr.<host>` for [`RecordKind::Txt`]): [`Answer::Ips`] for `A` and `AAAA`,
    /// [`Answer::Txt`] (one string per record, its character-strings joined) for `TXT`.
    /// A name that exists without records of that kind is an empty answer, not an error;
    /// a name that does not exist (`NXDOMAIN`) is an error. The lookup should do no work
    /// until polled.
    fn resolve(&self, name: &str, kind: RecordKind) -> Self::Lookup;

    /// The class of a failure, for the core and for metrics: by default
    /// [`ErrorClass::TimedOut`] if the first [`std::io::Error`] in `error`'s chain says so,
    /// and [`ErrorClass::Resolve`] otherwise. Override it where the resolver knows better.
    fn error_class(&self, error: &Self::Error) -> ErrorClass {
        match ErrorClass::of_error(error) {
            ErrorClass::TimedOut => ErrorClass::TimedOut,
            _ => ErrorClass::Resolve,
        }
    }
}

/// What the driver needs from an async runtime: spawn, a timer and a clock (the shape of
/// quinn's `Runtime`), and the resolver a dialer uses unless it is given one.
/// `dialer-tokio` and `dialer-async-std` each implement it in a few lines.
pub trait Runtime: Clone + Send + Sync + 'static {
    /// The runtime's current time. Every `now` the driver gives the core comes from here,
    /// so a runtime with a simulated clock (tokio's paused time) runs the dialer on it.
    fn now(&self) -> Instant;

    /// Runs `future` to completion in the background. The driver spawns its own task with
    /// it, and, under load only, tasks for dial attempts beyond the few it polls itself.
    fn spawn(&self, future: impl Future<Output = ()> + Send + 'static);

    /// Completes at `deadline` (as measured by [`now`](Self::now)) or later. Completing
    /// early is harmless but wasteful: the driver checks the clock and sleeps again.
    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send + 'static;

    /// The resolver a dialer on this runtime uses when none is given to its
    /// [`DialerBuilder`](crate::DialerBuilder) (R-N1). The adapters return hickory-resolver
    /// on their runtime, with the system's configuration. By default `None`: such a dialer
    /// answers `localhost` itself and fails every other name with a reason saying that it
    /// has no resolver.
    fn default_resolver(&self) -> Option<AnyResolver> {
        None
    }
}
