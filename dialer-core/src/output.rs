//! What comes out of the core: actions for the runtime, events for the application, and
//! the errors of every input.

use std::fmt;

use multiaddr::Multiaddr;

use crate::ids::{CallerId, DialId, RequestId};

/// How urgent a request is (R-P1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Priority {
    /// Fails fast with [`DialError::NoTokens`] when the pool is empty (R-T4).
    #[default]
    Normal,
    /// Proceeds without tokens when the pool is empty, one address at a time (R-P1).
    High,
}

/// Command to the runtime: dial `addr` and report the end with `dial`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartDial<P> {
    /// Names this attempt in every later report and [`AbortDial`].
    pub dial: DialId,
    /// The request the attempt belongs to.
    pub request: RequestId,
    /// The peer being dialed.
    pub peer: P,
    /// The address to dial.
    pub addr: Multiaddr,
}

/// Command to the runtime: abandon the attempt `dial` (drop its socket or future).
///
/// The core has already forgotten the dial and released its token: no report is expected,
/// and one that arrives anyway (a connection that completed in the meantime) is answered
/// with [`ReportError::UnknownDial`]; the runtime must then close that connection.
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
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "the runtime must carry out every action"]
pub enum Action<P> {
    /// Open a connection.
    StartDial(StartDial<P>),
    /// Abandon a connection attempt.
    AbortDial(AbortDial),
}

/// The winning dial of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    /// The dial that connected: the runtime holds its connection.
    pub dial: DialId,
    /// The address that connected.
    pub addr: Multiaddr,
}

/// Something the application (or an observer) learns, drained with
/// [`Dialer::poll_event`](crate::Dialer::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "callers wait for their Finished event"]
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
        result: Result<Connected, DialError>,
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

/// Why a dial request did not produce a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DialError {
    /// The address list was empty.
    #[error("no addresses to dial")]
    NoAddresses,
    /// More addresses than `max_addrs_per_request` (R-R9); nothing was spent.
    #[error("{given} addresses given, at most {max} allowed per request")]
    TooManyAddresses {
        /// Addresses given.
        given: usize,
        /// The configured maximum.
        max: usize,
    },
    /// Every address was dropped before dialing (R-R2); nothing was spent.
    #[error("no dialable address: {}", list(skipped))]
    NoDialableAddresses {
        /// Each address and why it was dropped.
        skipped: Vec<Skipped>,
    },
    /// The token pool was empty (R-T4).
    #[error("no dial tokens available")]
    NoTokens,
    /// Every dial failed (R-R5).
    #[error("all dials failed: {}", list(attempts))]
    AllFailed {
        /// Each address tried and why it failed, in the order they ended.
        attempts: Vec<Attempt>,
    },
    /// The request reached `dial_timeout` (R-R6).
    #[error("dial request timed out; attempts: {}", list(attempts))]
    Timeout {
        /// Each address tried and why it failed, in the order they ended.
        attempts: Vec<Attempt>,
    },
    /// The caller cancelled (R-R7).
    #[error("dial request cancelled")]
    Cancelled,
}

/// One address that was dialed and failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The address.
    pub addr: Multiaddr,
    /// Why it failed.
    pub reason: FailReason,
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.addr, self.reason)
    }
}

/// Why one dial failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FailReason {
    /// The runtime reported an error (its message).
    #[error("{0}")]
    Transport(String),
    /// No answer within `address_timeout` (R-R6a).
    #[error("address timeout")]
    AddressTimeout,
    /// Still in flight when the request reached `dial_timeout` (R-R6, R-C4).
    #[error("request timeout")]
    RequestTimeout,
}

/// One address left out of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The address.
    pub addr: Multiaddr,
    /// Why it was left out.
    pub reason: SkipReason,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.addr, self.reason)
    }
}

/// Why an address was left out of a request (R-R1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum SkipReason {
    /// It appeared earlier in the list.
    #[error("duplicate")]
    Duplicate,
    /// The runtime cannot dial it (see [`Dialer::with_dialable`](crate::Dialer::with_dialable)).
    #[error("undialable by this transport")]
    Undialable,
    /// It failed recently (R-D2).
    #[error("deny-listed")]
    DenyListed,
    /// It was pruned for this peer (R-C5).
    #[error("pruned")]
    Pruned,
}

/// A report named a dial the core does not know: never started, already reported, or
/// aborted. Nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// The dial is unknown (late, duplicated or never issued).
    #[error("unknown or finished dial {0}")]
    UnknownDial(DialId),
}

/// A cancel named a caller the core does not know: it already finished or never existed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CancelError {
    /// The caller is unknown (already finished or never issued).
    #[error("unknown or finished caller {0}")]
    UnknownCaller(CallerId),
}

fn list<T: fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "none".to_owned();
    }
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
