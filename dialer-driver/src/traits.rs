//! The two seams an adapter fills in: how to open a connection, and how to run tasks and
//! timers.

use std::future::Future;
use std::time::Instant;

use dialer_core::ErrorClass;
use multiaddr::Multiaddr;

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

    /// The class of a failure, for the core and for metrics. By default the class of the
    /// first [`std::io::Error`] in `error`'s chain ([`ErrorClass::of_error`]); override it
    /// where the transport knows better (a resolver error, a protocol error).
    fn error_class(&self, error: &Self::Error) -> ErrorClass {
        ErrorClass::of_error(error)
    }
}

/// What the driver needs from an async runtime: spawn, a timer and a clock (the shape of
/// quinn's `Runtime`). `dialer-tokio` and `dialer-async-std` each implement it in a few
/// lines.
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
}
