//! A sans-IO, token-based multiaddr dialer: the js-libp2p Dialer design as a state machine.
//!
//! The core makes every decision of dialing a peer and performs none of the I/O: it never
//! opens a socket, never reads a clock and never starts a thread. A runtime (your event
//! loop, or the `dialer-tokio` / `dialer-async-std` adapters) feeds it inputs and carries
//! out the commands it emits.
//!
//! # What it does
//!
//! - **Tokens** (R-T): a global pool of `max_tokens` caps the dials in flight. A request
//!   asks for up to `max_per_peer_dials` tokens (never more than it has addresses), gets
//!   what is available, and fails at once with [`DialRefused::NoTokens`] when none is left;
//!   [`Priority::High`] requests proceed anyway, one address at a time (R-P1).
//! - **Requests** (R-R): addresses are ordered by learned confidence, filtered (duplicates,
//!   deny-listed, pruned, undialable), dialed in parallel one per token; the first success
//!   aborts the rest; a failure moves its token to the next address or releases it. An
//!   address the core has seen connect dials alone first for a head start sized by its
//!   learned connect time, so a known-good peer costs one socket, not four
//!   ([`HeadStart`]; `Config::head_start: None` restores the seed's parallel start). Requests
//!   time out as a whole (`dial_timeout`) and per address (`address_timeout`), can be
//!   cancelled, and a second request for the same peer joins the first.
//! - **Errors**: [`Dialer::dial`] either starts (or joins) a request, returning
//!   [`Dialing`], or refuses it at once with a [`DialRefused`] that spent nothing; a
//!   started request ends with [`Connected`] (the winner, its connect time and the dials
//!   that failed before it) or a [`DialFailed`]. Each failed dial keeps the runtime's
//!   error as a [`TransportError`]: an [`ErrorClass`] to decide on, the message, and the
//!   original error value to downcast.
//! - **Learning** (R-C, R-D): confidence 0..=10 per address in a bounded LRU table that can
//!   be exported and imported; failed addresses are deny-listed for a while; hopeless
//!   addresses are pruned for their peer (only beside an address that has connected, after
//!   repeated failures, and for `prune_duration`, an hour by default, so a peer whose
//!   better address later dies is not shut out for good).
//! - **Learning from the network** (issue 11): address timeouts sized by measured connect
//!   times ([`AdaptiveTimeout`], R-R6b), so a dial that will never answer gives its token
//!   back in about a second, not ten; a deny time that grows with failures in a row
//!   (R-D4), lifted by [`Dialer::handle_peer_connected`] and reset by
//!   [`Dialer::network_changed`]; black-hole detection per address class ([`BlackHoles`],
//!   R-B: with no IPv6 route or UDP blocked, their addresses are skipped but for a probe);
//!   and equal-confidence addresses interleaved IPv6 / IPv4, relays last (R-R1a).
//!   [`Config::seed`] switches all of it off.
//! - **Names** (R-N, opt-in with [`Config::names`]): `/dns`, `/dns4`, `/dns6` and
//!   `/dnsaddr` addresses are resolved as core commands ([`NameAction::Resolve`], from
//!   [`Dialer::poll_name_action`], answered with [`Dialer::handle_resolved`]); what they resolve to joins the request's
//!   candidates, each IP ranked, deny-listed and learned on its own, so a name whose first
//!   IP hangs costs nothing when its second answers. `dnsaddr` chains are followed to
//!   depth 4 with at most 100 results, `/p2p/<id>` filtered (see the [`names`] module).
//! - **Address filter** (R-R10): [`Dialer::set_address_filter`] vets every candidate,
//!   resolved ones included (DNS rebinding); unspecified, multicast and broadcast
//!   addresses are never dialed.
//! - **Saved state** (R-C7, feature `serde`): [`Dialer::snapshot`] takes everything learned
//!   about addresses as one versioned snapshot (JSON through `serde_json`), and
//!   [`Dialer::restore`] loads it into a new dialer after a restart; see the `snapshot`
//!   module.
//!
//! # The vocabulary
//!
//! | design card | here |
//! |---|---|
//! | RequestTokens | [`Event::RequestTokens`], emitted when [`Dialer::dial`] takes tokens |
//! | StartDial | [`Action::StartDial`]: the runtime opens a connection |
//! | AbortDial | [`Action::AbortDial`]: the runtime drops an attempt |
//! | Release | [`Event::Release`]: tokens go back to the pool |
//! | (names) | [`NameAction::Resolve`] / [`NameAction::AbortResolve`] from [`Dialer::poll_name_action`]: the runtime looks a name up, with [`Config::names`] set |
//!
//! # The drive loop and its contract
//!
//! After **every** input (a command such as [`Dialer::dial`] or [`Dialer::cancel`], a
//! `handle_*` report, or [`Dialer::handle_timeout`]), drain in this order:
//!
//! 1. [`Dialer::poll_action`] until `None`: carry out each [`StartDial`] / [`AbortDial`]
//!    (and, with [`Config::names`] set, [`Dialer::poll_name_action`] until `None`: start
//!    or drop each name lookup);
//! 2. [`Dialer::poll_event`] until `None`: hand [`Event::Finished`] to the waiting caller;
//! 3. [`Dialer::poll_timeout`]: (re-)arm your one timer; when it fires, call
//!    [`Dialer::handle_timeout`] with the current time.
//!
//! Outputs queue up, so nothing is lost if two inputs come before a drain, but commands
//! are then carried out later than they could be. The runtime keeps this contract:
//!
//! - every `now` it passes is its current time; a `now` earlier than one already seen is
//!   treated as no time passing;
//! - each started dial ends with exactly one report: [`Dialer::handle_dial_succeeded`] or
//!   [`Dialer::handle_dial_failed`], unless the core aborted it first. After an
//!   [`AbortDial`] no report is due; a report that arrives anyway (late, duplicated, or for
//!   an id the core never issued) returns [`ReportError::UnknownDial`] and changes nothing,
//!   and a connection it carries must be closed by the runtime;
//! - a spurious or early [`Dialer::handle_timeout`] is harmless.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use dialer_core::{Action, Config, DialOpts, Dialer, Event};
//!
//! let mut dialer = Dialer::<u32>::new(Config::default()).unwrap();
//! let mut now = Instant::now(); // the runtime's clock; the core never reads one
//! let good: multiaddr::Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().unwrap();
//! let bad: multiaddr::Multiaddr = "/ip4/127.0.0.1/tcp/4002".parse().unwrap();
//!
//! let dialing = dialer.dial(now, 7, [bad.clone(), good.clone()], DialOpts::default()).unwrap();
//! let mut outcome = None;
//! for _ in 0..100 {
//!     // 1. actions: here a fake network where only `good` answers, 5 ms later
//!     while let Some(action) = dialer.poll_action() {
//!         if let Action::StartDial(start) = action {
//!             now += Duration::from_millis(5);
//!             if start.addr == good {
//!                 dialer.handle_dial_succeeded(now, start.dial).unwrap();
//!             } else {
//!                 dialer.handle_dial_failed(now, start.dial, "connection refused").unwrap();
//!             }
//!         }
//!     }
//!     // 2. events
//!     while let Some(event) = dialer.poll_event() {
//!         if let Event::Finished { caller: c, result, .. } = event {
//!             assert_eq!(c, dialing.caller);
//!             outcome = Some(result);
//!         }
//!     }
//!     if outcome.is_some() {
//!         break;
//!     }
//!     // 3. timer
//!     match dialer.poll_timeout() {
//!         Some(deadline) => {
//!             now = now.max(deadline);
//!             dialer.handle_timeout(now);
//!         }
//!         None => break,
//!     }
//! }
//! let connected = outcome.expect("finished").expect("connected");
//! assert_eq!(connected.addr, good);
//! assert_eq!(connected.failed.len(), 1); // `bad` failed before `good` won
//! // Both started at once; the fake network answered `good` second, 10 ms in.
//! assert_eq!(connected.connect_time, Duration::from_millis(10));
//! assert_eq!(dialer.tokens_in_use(), 0);
//! assert_eq!(dialer.confidence(&good), 2);
//! assert_eq!(dialer.confidence(&bad), 0);
//! ```
//!
//! # Costs
//!
//! Per-event work does not grow with the number of requests in flight: requests, dials
//! and callers live in slabs indexed by their newtype ids (a slot index and a generation,
//! with freed slots reused first, so a request's entries stay in cache however many others
//! are in flight), and timers in per-kind FIFO queues that are sorted by construction. A request of up to 8 addresses allocates nothing on
//! the success path beyond what its multiaddrs hold once the maps and queues have warmed up.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod adaptive;
mod blackhole;
mod confidence;
mod config;
mod deny;
mod dialer;
mod error;
mod ids;
pub mod names;
mod opts;
mod output;
mod pool;
mod request;
mod resolve;
mod slab;
#[cfg(feature = "serde")]
pub mod snapshot;
mod stats;
mod timers;

#[cfg(feature = "invariants")]
pub mod check;

pub use blackhole::BlackHoleState;
pub use confidence::{INITIAL_CONFIDENCE, MAX_CONFIDENCE};
pub use config::{
    AdaptiveTimeout, AddrClass, BlackHoles, Config, ConfigError, HeadStart, WaitForTokens,
};
pub use dialer::Dialer;
pub use error::{
    Attempt, CancelError, DialFailed, DialRefused, ErrorClass, FailReason, ReportError, SkipReason,
    Skipped, TransportError,
};
pub use ids::{CallerId, DialId, RequestId, ResolveId};
pub use multiaddr::Multiaddr;
pub use names::{AbortResolve, Answer, Host, NameAction, Names, RecordKind, Resolve};
pub use opts::{DialOpts, Priority};
pub use output::{AbortDial, AbortReason, Action, Connected, Dialing, Event, StartDial};
#[cfg(feature = "serde")]
pub use snapshot::{
    ConnectTimeHistogram, DenyEntry, LearnedAddress, PruneMark, RestoreError, RestoreReport,
    Snapshot, SNAPSHOT_VERSION,
};
pub use stats::Stats;
