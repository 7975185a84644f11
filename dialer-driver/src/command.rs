//! What a handle asks of the driver task.

use dialer_core::{DialOpts, Stats};
use futures::channel::{mpsc, oneshot};
use multiaddr::Multiaddr;

use crate::{Dialed, Error};

/// Names one `dial` call, so that its drop guard can cancel exactly that wait. Handed out
/// by the handle, not the core, because the guard must exist before the core answers.
pub(crate) type Ticket = u64;

pub(crate) type DialReply<C> = oneshot::Sender<Result<Dialed<C>, Error>>;

/// What a handle asks of the driver task.
pub(crate) enum Command<P, C> {
    Dial {
        ticket: Ticket,
        peer: P,
        addrs: Vec<Multiaddr>,
        opts: DialOpts,
        reply: DialReply<C>,
    },
    /// The `dial` future of `ticket` was dropped before its answer came (R-R7, R-R8).
    Cancel {
        ticket: Ticket,
    },
    Stats(oneshot::Sender<Stats>),
    ExportConfidence(oneshot::Sender<Vec<(Multiaddr, u8)>>),
    ImportConfidence(Vec<(Multiaddr, u8)>, oneshot::Sender<()>),
    WatchPruned(mpsc::UnboundedSender<(P, Multiaddr)>),
    /// R-D4b.
    NetworkChanged(oneshot::Sender<()>),
    /// R-D4a: a connection to the peer came another way; its known addresses.
    PeerConnected(P, Vec<Multiaddr>, oneshot::Sender<()>),
    /// R-C5a.
    LiftPrune(P, Multiaddr, oneshot::Sender<bool>),
    /// R-C7.
    #[cfg(feature = "serde")]
    Snapshot(oneshot::Sender<dialer_core::Snapshot<P>>),
    /// R-C7.
    #[cfg(feature = "serde")]
    Restore(
        dialer_core::Snapshot<P>,
        oneshot::Sender<Result<dialer_core::RestoreReport, dialer_core::RestoreError>>,
    ),
}
