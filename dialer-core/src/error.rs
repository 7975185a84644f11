//! Every error the core hands out: what [`Dialer::dial`](crate::Dialer::dial) refuses at
//! once, how a started request fails, why one dial failed, and the answers to bad reports.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use multiaddr::Multiaddr;

use crate::ids::{CallerId, DialId, ResolveId};
use crate::names::BadRecord;

/// Why [`Dialer::dial`](crate::Dialer::dial) refused a request at once. Nothing was
/// spent: no token was taken and no dial started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DialRefused {
    /// The address list was empty.
    #[error("no addresses to dial")]
    NoAddresses,
    /// More addresses than `max_addrs_per_request` (R-R9).
    #[error("{given} addresses given, at most {max} allowed per request")]
    TooManyAddresses {
        /// Addresses given.
        given: usize,
        /// The configured maximum.
        max: usize,
    },
    /// Every address was dropped before dialing (R-R2): duplicates, undialable by the
    /// runtime, or pruned for this peer. None of them will become dialable by waiting.
    #[error("no dialable address: {}", list(skipped))]
    NoDialableAddresses {
        /// Each address and why it was dropped.
        skipped: Vec<Skipped>,
    },
    /// Nothing was left to dial, and at least one address was skipped only because it
    /// failed recently (R-D6): waiting until `retry_at` makes it dialable again, and
    /// [`DialOpts::ignore_backoff`](crate::DialOpts::ignore_backoff) dials it now.
    #[error(
        "every dialable address is backed off, the first for {retry_in:?} more: {}",
        list(skipped)
    )]
    BackedOff {
        /// Each address and why it was dropped.
        skipped: Vec<Skipped>,
        /// When the first backed-off address becomes dialable again.
        retry_at: Instant,
        /// `retry_at`, counted from the `now` of the refused call.
        retry_in: Duration,
    },
    /// Nothing was left to dial, and at least one address was skipped only because its
    /// class is black-holed (R-B3): the node's own network seems unable to reach it (no
    /// IPv6 route, UDP blocked). A later request probes the class (R-B2);
    /// [`DialOpts::ignore_backoff`](crate::DialOpts::ignore_backoff) dials it now.
    #[error("every dialable address is black-holed: {}", list(skipped))]
    BlackHoled {
        /// Each address and why it was dropped.
        skipped: Vec<Skipped>,
    },
    /// The token pool was empty (R-T4). A [`Priority::High`](crate::Priority::High)
    /// request is never refused for this (R-P1).
    #[error("no dial tokens available")]
    NoTokens,
}

/// How a request that started dialing ended without a connection, as delivered in
/// [`Event::Finished`](crate::Event::Finished).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DialFailed {
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
    /// A request whose names brought addresses to dial found the pool empty (R-T4 for a
    /// request of names, which takes its tokens only when it has something to dial; see
    /// the `resolve` rules of [`Names`](crate::names::Names)). `attempts` lists what failed before.
    #[error(
        "no dial tokens available for the resolved addresses; attempts: {}",
        list(attempts)
    )]
    NoTokens {
        /// Dials and names that failed before.
        attempts: Vec<Attempt>,
    },
    /// The request waited for a token (R-Q1) for `max_wait` and got none; nothing was
    /// dialed.
    #[error("no token within {waited:?} of waiting")]
    NoTokensInTime {
        /// How long it waited.
        waited: Duration,
    },
}

impl DialFailed {
    /// The addresses tried and why each failed (empty for [`Cancelled`](Self::Cancelled)).
    pub fn attempts(&self) -> &[Attempt] {
        match self {
            Self::AllFailed { attempts }
            | Self::Timeout { attempts }
            | Self::NoTokens { attempts } => attempts,
            Self::Cancelled | Self::NoTokensInTime { .. } => &[],
        }
    }
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
#[non_exhaustive]
pub enum FailReason {
    /// The runtime reported an error (see [`TransportError`]).
    #[error("{0}")]
    Transport(TransportError),
    /// No answer within `address_timeout` (R-R6a).
    #[error("address timeout")]
    AddressTimeout,
    /// No answer within the adaptive address timeout (R-R6b), `after` this long: shorter
    /// than `address_timeout`, sized from measured connect times. The address's next dial
    /// gets the full `address_timeout`.
    #[error("adaptive address timeout after {after:?}")]
    AdaptiveTimeout {
        /// How long the dial ran.
        after: Duration,
    },
    /// Still in flight when the request reached `dial_timeout` (R-R6, R-C4); for a name,
    /// still resolving then.
    #[error("request timeout")]
    RequestTimeout,
    /// The resolver failed to look the name up (R-N4): no such name (NXDOMAIN), a server
    /// failure, no name server reachable.
    #[error("resolving failed: {0}")]
    Resolve(TransportError),
    /// The resolver did not answer within `address_timeout` (R-N1).
    #[error("resolving timed out")]
    ResolveTimeout,
    /// The name resolved, but to nothing this request may dial (R-N4): no record of the
    /// kind asked for, or every result left out (`skipped` says why: filtered, deny-listed,
    /// undialable, another peer's `/p2p/` id, …).
    #[error("resolved to nothing dialable: {}", list(skipped))]
    NothingResolved {
        /// The results left out, with their reasons.
        skipped: Vec<Skipped>,
    },
    /// A `dnsaddr` result that is a name again, one level deeper than
    /// [`Names::max_depth`](crate::names::Names::max_depth) allows: a resolution loop, or a
    /// chain too long (R-N3, R-N4).
    #[error("dnsaddr chain deeper than {max_depth}")]
    TooDeep {
        /// The depth limit.
        max_depth: u8,
    },
    /// Every `dnsaddr` record of the answer was malformed (R-N4); this is the first.
    #[error("{0}")]
    MalformedRecord(BadRecord),
}

impl FailReason {
    /// The kind of failure: the transport error's class, or
    /// [`ErrorClass::TimedOut`] for the core's own timeouts.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Transport(error) => error.class(),
            Self::AddressTimeout
            | Self::AdaptiveTimeout { .. }
            | Self::RequestTimeout
            | Self::ResolveTimeout => ErrorClass::TimedOut,
            Self::Resolve(error) => match error.class() {
                ErrorClass::Other => ErrorClass::Resolve,
                class => class,
            },
            Self::NothingResolved { .. } | Self::TooDeep { .. } | Self::MalformedRecord(_) => {
                ErrorClass::Resolve
            }
        }
    }

    /// The transport's error, if the runtime reported one.
    pub fn transport_error(&self) -> Option<&TransportError> {
        match self {
            Self::Transport(error) | Self::Resolve(error) => Some(error),
            _ => None,
        }
    }
}

/// The kind of a failed dial, for decisions and metrics that must not parse messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The peer answered and refused (`ECONNREFUSED`, a TCP reset).
    Refused,
    /// No answer in time: the transport's own timeout, or the core's address or request
    /// timeout.
    TimedOut,
    /// The network says the host or network cannot be reached.
    Unreachable,
    /// A name could not be resolved, or resolved to nothing usable.
    Resolve,
    /// Anything else.
    Other,
}

impl ErrorClass {
    /// The class of an I/O error kind.
    pub fn of_io(kind: io::ErrorKind) -> Self {
        match kind {
            io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset => Self::Refused,
            io::ErrorKind::TimedOut => Self::TimedOut,
            io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => Self::Unreachable,
            _ => Self::Other,
        }
    }

    /// The class of the first [`io::Error`] in `error`'s chain of sources (itself
    /// included), or [`Other`](Self::Other) if there is none.
    pub fn of_error(error: &(dyn StdError + 'static)) -> Self {
        chain(error)
            .find_map(|e| e.downcast_ref::<io::Error>())
            .map_or(Self::Other, |e| Self::of_io(e.kind()))
    }
}

/// The error a runtime reported for a failed dial: a [class](ErrorClass), the message
/// with its whole chain of sources, and the original error value, kept so that the
/// embedder can ask what exactly went wrong.
///
/// `Display` prints the message, which already holds the chain (`connecting to
/// 127.0.0.1:9: Connection refused (os error 111)`); [`source`](StdError::source) is
/// therefore `None`, so that chain printers do not repeat it. The original is reached
/// with [`get_ref`](Self::get_ref), [`downcast_ref`](Self::downcast_ref) (which searches
/// its chain) and [`io_kind`](Self::io_kind).
///
/// Two values are equal when class and message are.
#[derive(Clone)]
pub struct TransportError {
    class: ErrorClass,
    message: String,
    error: Option<Arc<dyn StdError + Send + Sync + 'static>>,
}

impl TransportError {
    /// Wraps `error` with its class; the message is its chain of sources.
    pub fn new(class: ErrorClass, error: impl StdError + Send + Sync + 'static) -> Self {
        let message = chain(&error)
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(": ");
        Self {
            class,
            message,
            error: Some(Arc::new(error)),
        }
    }

    /// Wraps `error`, classified by the first [`io::Error`] in its chain.
    pub fn from_error(error: impl StdError + Send + Sync + 'static) -> Self {
        let class = ErrorClass::of_error(&error);
        Self::new(class, error)
    }

    /// An error that is only a message (no original value to downcast).
    pub fn msg(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
            error: None,
        }
    }

    /// What kind of failure this is.
    pub fn class(&self) -> ErrorClass {
        self.class
    }

    /// The message, with the original error's chain of sources.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The original error, if the runtime gave one.
    pub fn get_ref(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        self.error.as_deref()
    }

    /// The first error of type `E` in the original error's chain (itself included).
    pub fn downcast_ref<E: StdError + 'static>(&self) -> Option<&E> {
        let error: &(dyn StdError + 'static) = self.error.as_deref()?;
        chain(error).find_map(|e| e.downcast_ref::<E>())
    }

    /// The kind of the first [`io::Error`] in the original error's chain.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        self.downcast_ref::<io::Error>().map(io::Error::kind)
    }
}

impl fmt::Debug for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportError")
            .field("class", &self.class)
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for TransportError {}

impl PartialEq for TransportError {
    fn eq(&self, other: &Self) -> bool {
        self.class == other.class && self.message == other.message
    }
}

impl Eq for TransportError {}

/// A message alone, of class [`ErrorClass::Other`].
impl From<&str> for TransportError {
    fn from(message: &str) -> Self {
        Self::msg(ErrorClass::Other, message)
    }
}

/// A message alone, of class [`ErrorClass::Other`].
impl From<String> for TransportError {
    fn from(message: String) -> Self {
        Self::msg(ErrorClass::Other, message)
    }
}

/// Classified by its kind.
impl From<io::Error> for TransportError {
    fn from(error: io::Error) -> Self {
        Self::new(ErrorClass::of_io(error.kind()), error)
    }
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
#[non_exhaustive]
pub enum SkipReason {
    /// It appeared earlier in the list.
    #[error("duplicate")]
    Duplicate,
    /// The runtime cannot dial it (see [`Dialer::with_dialable`](crate::Dialer::with_dialable)).
    #[error("undialable by this transport")]
    Undialable,
    /// It failed recently and is on the deny list (R-D2).
    #[error("deny-listed")]
    DenyListed,
    /// It was pruned for this peer (R-C5).
    #[error("pruned")]
    Pruned,
    /// Its address class is black-holed (R-B2), and this request is not a probe.
    #[error("black-holed")]
    BlackHoled,
    /// The embedder's address filter refused it (R-R10, see
    /// [`Dialer::set_address_filter`](crate::Dialer::set_address_filter)).
    #[error("refused by the address filter")]
    Filtered,
    /// An unspecified (`0.0.0.0`, `::`), multicast or broadcast address: never dialed
    /// (R-R10).
    #[error("unspecified, multicast or broadcast address")]
    Unroutable,
    /// A `dnsaddr` result for another peer: the dialed address ends in `/p2p/<id>` and
    /// this result does not end in the same (R-N3).
    #[error("for another peer")]
    OtherPeer,
}

/// A report named a dial or a resolution the core does not know: never started, already
/// reported, or aborted. Nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The dial is unknown (late, duplicated or never issued).
    #[error("unknown or finished dial {0}")]
    UnknownDial(DialId),
    /// The resolution is unknown: late, duplicated, aborted or never issued (R-N1).
    #[error("unknown or finished resolution {0}")]
    UnknownResolve(ResolveId),
}

/// A cancel named a caller the core does not know: it already finished or never existed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CancelError {
    /// The caller is unknown (already finished or never issued).
    #[error("unknown or finished caller {0}")]
    UnknownCaller(CallerId),
}

/// `error`, then each of its sources in turn.
fn chain<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&e| e.source())
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
