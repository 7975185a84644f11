//! What comes out of the core: actions for the runtime and events for the application.

use std::time::Duration;

use multiaddr::Multiaddr;

use crate::blackhole::BlackHoleState;
use crate::config::AddrClass;

use crate::error::{Attempt, DialFailed};
use crate::ids::{CallerId, DialId, RequestId};

/// Command to the runtime: dial `addr` and report the end with `dial`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartDial<P> {
    /// Names this attempt in every later report and [`AbortDial`].
    pub dial: DialId,
    /// The request the attempt belongs to.
    pub request: RequestId,
    /// The peer being dialed.
    pub peer: P,
    /// The address to dial. For an address a name resolved to (R-N1),
    /// [`Dialer::dial_name`](crate::Dialer::dial_name) gives the host it came from, for
    /// TLS SNI or a WebSocket `Host` header.
    pub addr: Multiaddr,
}

/// Command to the runtime: abandon the attempt `dial` (drop its socket or future).
///
/// The core has already forgotten the dial and released its token: no report is expected,
/// and one that arrives anyway (a connection that completed in the meantime) is answered
/// with [`ReportError::UnknownDial`](crate::ReportError::UnknownDial); the runtime must then close that connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortDial {
    /// The attempt to abandon.
    pub dial: DialId,
    /// The request it belonged to.
    pub request: RequestId,
    /// Why it is abandoned.
    pub reason: AbortReason,
}

/// Why the core aborts a dial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AbortReason {
    /// Another dial of the same request connected first (R-R4).
    Superseded,
    /// The last caller of the request cancelled (R-R7).
    Cancelled,
    /// The dial reached `address_timeout` (R-R6a); it counts as a failure.
    AddressTimeout,
    /// The request reached `dial_timeout` (R-R6); the dial counts as a failure.
    RequestTimeout,
}

/// An I/O command for the runtime, drained with [`Dialer::poll_action`](crate::Dialer::poll_action).
///
/// The enum is `#[non_exhaustive]`, but a `_ =>` arm can never silently drop a command
/// the runtime must carry out: every command added later is emitted only by a dialer
/// whose embedder turned it on in the [`Config`](crate::Config), knowing it must handle
/// it. A runtime that matches the two commands below handles everything a default dialer
/// emits. The name lookups of [`Config::names`](crate::Config::names) come from their own
/// queue, [`Dialer::poll_name_action`](crate::Dialer::poll_name_action): this enum is in
/// every dial's path, and two variants more made it half as large again and every dial
/// measurably slower (see `docs/design.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "the runtime must carry out every action"]
#[non_exhaustive]
pub enum Action<P> {
    /// Open a connection.
    StartDial(StartDial<P>),
    /// Abandon a connection attempt.
    AbortDial(AbortDial),
}

/// The winning dial of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Connected {
    /// The dial that connected: the runtime holds its connection.
    pub dial: DialId,
    /// The address that connected.
    pub addr: Multiaddr,
    /// How long the winning dial took, from its `StartDial` to its success report, by
    /// the `now`s the runtime passed in.
    pub connect_time: Duration,
    /// The request's dials that failed before this one won (refused, errored or past
    /// `address_timeout`), in the order they ended. Dials aborted because this one won
    /// are not failures and are not listed.
    pub failed: Vec<Attempt>,
}

/// What [`Dialer::dial`](crate::Dialer::dial) started: the caller's own wait, and the
/// request it waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Dialing {
    /// This caller; its outcome arrives as one [`Event::Finished`], and it can
    /// [`cancel`](crate::Dialer::cancel) its own wait.
    pub caller: CallerId,
    /// The request that dials: new, or the one in flight for the peer that the caller
    /// joined (R-R8). Every [`StartDial`] of it names it.
    pub request: RequestId,
    /// Whether the caller joined a request already in flight.
    pub joined: bool,
}

/// Something the application (or an observer) learns, drained with
/// [`Dialer::poll_event`](crate::Dialer::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "callers wait for their Finished event"]
#[non_exhaustive]
pub enum Event<P> {
    /// A request asked the pool for `requested` tokens and got `granted` (R-T1 … R-T3).
    /// `overdraft` marks a high-priority request that got none and proceeds anyway (R-P1).
    /// A request that gains addresses from a joining caller may ask again.
    RequestTokens {
        /// The request.
        request: RequestId,
        /// Tokens asked for.
        requested: usize,
        /// Tokens granted.
        granted: usize,
        /// Proceeding outside the pool.
        overdraft: bool,
    },
    /// A request found the pool empty and waits for tokens (R-Q1, with
    /// [`Config::wait_for_tokens`](crate::Config::wait_for_tokens) set), behind `ahead`
    /// others. Its [`RequestTokens`](Self::RequestTokens) follows when its turn comes.
    Queued {
        /// The request.
        request: RequestId,
        /// Requests waiting before it.
        ahead: usize,
    },
    /// A request gave `count` tokens back to the pool (R-T7, R-T8).
    Release {
        /// The request.
        request: RequestId,
        /// Tokens returned.
        count: usize,
    },
    /// The wait of `caller` is over. Every caller gets exactly one.
    Finished {
        /// The caller whose wait ended.
        caller: CallerId,
        /// The request it waited on.
        request: RequestId,
        /// The peer.
        peer: P,
        /// The winning dial, or why there is none.
        result: Result<Connected, DialFailed>,
    },
    /// An address class changed black-hole state (R-B4): it is [`Blocked`](BlackHoleState::Blocked)
    /// after a window of failures, back to [`Probing`](BlackHoleState::Probing) after a
    /// probe connected (or a [`network_changed`](crate::Dialer::network_changed)), or
    /// [`Allowed`](BlackHoleState::Allowed) once a full window has enough successes.
    BlackHole {
        /// The class.
        class: AddrClass,
        /// Its new state.
        state: BlackHoleState,
    },
    /// `addr` fell to confidence 0 while `peer` has a better address: the core skips it for
    /// that peer from now on, and the embedder may drop it from its peer store (R-C5).
    Pruned {
        /// The peer.
        peer: P,
        /// The pruned address.
        addr: Multiaddr,
    },
}
