//! What a caller gets back: the connection, or why there is none.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use dialer_core::{Attempt, Connected, DialFailed, DialId, DialRefused};
use multiaddr::Multiaddr;

/// A successful dial: the address that won and its connection.
///
/// Callers that joined one request (R-R8) all receive the same connection, so it comes in
/// an [`Arc`]. A lone caller, the common case, holds the only reference and takes the
/// connection out with [`into_connection`](Self::into_connection) (or
/// [`Arc::into_inner`]); joined callers share it, or agree on who takes it.
pub struct Dialed<C> {
    /// The address that connected.
    pub addr: Multiaddr,
    /// The connection, shared by every caller of the request.
    pub connection: Arc<C>,
    /// How long the winning attempt took, from its start to its connection (the core's
    /// [`Connected::connect_time`]).
    pub connect_time: Duration,
    /// The winning attempt, as named in the `dial` tracing span.
    pub dial: DialId,
    /// The request's dials that failed before this one won (refused, errored or past
    /// `address_timeout`), in the order they ended. Dials aborted because this one won are
    /// not failures and are not listed.
    pub failed: Vec<Attempt>,
}

impl<C> Dialed<C> {
    /// The outcome the core reported, with the connection of its winning dial.
    pub(crate) fn new(connected: Connected, connection: Arc<C>) -> Self {
        Self {
            addr: connected.addr,
            connection,
            connect_time: connected.connect_time,
            dial: connected.dial,
            failed: connected.failed,
        }
    }

    /// The connection itself, if no other caller holds it; otherwise the shared handle.
    pub fn into_connection(self) -> Result<C, Arc<C>> {
        Arc::try_unwrap(self.connection)
    }
}

impl<C> Clone for Dialed<C> {
    fn clone(&self) -> Self {
        Self {
            addr: self.addr.clone(),
            connection: Arc::clone(&self.connection),
            connect_time: self.connect_time,
            dial: self.dial,
            failed: self.failed.clone(),
        }
    }
}

impl<C> fmt::Debug for Dialed<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dialed")
            .field("addr", &self.addr)
            .field("connect_time", &self.connect_time)
            .field("dial", &self.dial)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

/// Why a call on a [`Dialer`](crate::Dialer) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The core refused the request at once; nothing was spent (no token, no dial).
    #[error(transparent)]
    Refused(#[from] DialRefused),
    /// The request dialed and ended without a connection; it lists every address tried
    /// and why it failed ([`DialFailed::AllFailed`], [`DialFailed::Timeout`]).
    #[error(transparent)]
    Failed(#[from] DialFailed),
    /// The driver task is gone (its runtime shut down), so nothing can be dialed.
    #[error("the dialer's driver task has stopped")]
    Shutdown,
    /// [`Dialer::restore`](crate::Dialer::restore) refused the snapshot; nothing changed
    /// (R-C7, feature `serde`).
    #[cfg(feature = "serde")]
    #[error(transparent)]
    Restore(#[from] dialer_core::RestoreError),
}
