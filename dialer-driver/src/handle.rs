//! The cloneable handle callers use.

use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use std::future::Future;

use dialer_core::{Config, ConfigError, DialOpts, Stats};
use futures::channel::{mpsc, oneshot};
use futures::Stream;
use multiaddr::Multiaddr;

use crate::command::{Command, Ticket};
use crate::driver::Driver;
use crate::resolver::AnyResolver;
use crate::{Dialed, Error, Resolver, Runtime, Transport};

/// A token dialer running on runtime `R` with transport `T`, for peers named by `P`.
///
/// This is a cheap, cloneable handle. One driver task, spawned by the constructor, owns
/// the [`dialer_core::Dialer`] and makes every decision (R-A5); the handle only sends it
/// requests. When the last handle and the last pending `dial` future are dropped, the driver
/// ends and drops every attempt in flight.
///
/// The command channel is unbounded: each call waits for its answer, so the queue holds at
/// most one command per pending call (plus one cancel per dropped `dial`), and a drop guard
/// must be able to send without waiting.
pub struct Dialer<P, T: Transport, R: Runtime> {
    commands: mpsc::UnboundedSender<Command<P, T::Output>>,
    tickets: Arc<AtomicU64>,
    runtime: R,
}

impl<P, T: Transport, R: Runtime> Clone for Dialer<P, T, R> {
    fn clone(&self) -> Self {
        Self {
            commands: self.commands.clone(),
            tickets: Arc::clone(&self.tickets),
            runtime: self.runtime.clone(),
        }
    }
}

impl<P, T: Transport, R: Runtime> fmt::Debug for Dialer<P, T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dialer")
            .field("running", &!self.commands.is_closed())
            .finish_non_exhaustive()
    }
}

impl<P, T, R> Dialer<P, T, R>
where
    P: Clone + Eq + Hash + fmt::Debug + Send + 'static,
    T: Transport,
    R: Runtime,
{
    /// Validates `config`, builds the core with `transport`'s
    /// [`can_dial`](Transport::can_dial) as its dialable predicate (R-A2), and spawns the
    /// driver task on `runtime`. Names resolve with the runtime's
    /// [`default_resolver`](Runtime::default_resolver); see [`builder`](Self::builder) for
    /// another resolver or an address filter.
    pub fn with_runtime(config: Config, transport: T, runtime: R) -> Result<Self, ConfigError> {
        Self::builder(config, transport, runtime).build()
    }

    /// A [`DialerBuilder`]: [`with_runtime`](Self::with_runtime) with a resolver of your
    /// choice ([`DialerBuilder::with_resolver`]), an address filter
    /// ([`DialerBuilder::with_address_filter`], R-R10) and, with the `metrics` feature,
    /// metrics ([`DialerBuilder::build_with_metrics`]).
    pub fn builder(config: Config, transport: T, runtime: R) -> DialerBuilder<P, T, R> {
        DialerBuilder {
            config,
            transport,
            runtime,
            resolver: None,
            filter: None,
        }
    }

    /// [`with_runtime`](Self::with_runtime), with Prometheus metrics (R-O3) registered in
    /// `registry` under the prefix `dialer_` (after the registry's own prefix, if it has
    /// one) and kept up to date by the driver task. Needs the `metrics` feature.
    ///
    /// The metrics are listed in the repository's `docs/metrics.md`: requests and dials by
    /// outcome, dials per request, time to connect, tokens in use, the wait queue,
    /// black-hole states and skipped addresses. No label carries a peer id or an address.
    /// Register each dialer in a registry of its own, or in a sub-registry with a label of
    /// its own ([`Registry::sub_registry_with_label`]): two dialers in one registry would
    /// repeat each other's series.
    ///
    /// ```
    /// # use std::future::Future;
    /// # use std::time::Instant;
    /// # use dialer_driver::{Config, Dialer, Multiaddr, Runtime, Transport};
    /// # #[derive(Clone, Default)]
    /// # struct Tokio;
    /// # impl Runtime for Tokio {
    /// #     fn now(&self) -> Instant { tokio::time::Instant::now().into_std() }
    /// #     fn spawn(&self, future: impl Future<Output = ()> + Send + 'static) { tokio::spawn(future); }
    /// #     fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send + 'static {
    /// #         tokio::time::sleep_until(deadline.into())
    /// #     }
    /// # }
    /// # struct Memory;
    /// # impl Transport for Memory {
    /// #     type Output = ();
    /// #     type Error = std::io::Error;
    /// #     type Dial = std::future::Ready<Result<(), std::io::Error>>;
    /// #     fn can_dial(&self, _: &Multiaddr) -> bool { true }
    /// #     fn dial(&self, _: &Multiaddr) -> Self::Dial { std::future::ready(Ok(())) }
    /// # }
    /// use dialer_driver::prometheus_client::{encoding::text::encode, registry::Registry};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut registry = Registry::default();
    /// // As a rust-libp2p node does: one sub-registry per component.
    /// let dialer: Dialer<u32, Memory, Tokio> = Dialer::with_metrics(
    ///     Config::default(),
    ///     Memory,
    ///     Tokio,
    ///     registry.sub_registry_with_prefix("libp2p"),
    /// )?;
    /// dialer.dial(7, ["/ip4/127.0.0.1/tcp/1".parse()?]).await?;
    ///
    /// let mut text = String::new();
    /// encode(&mut text, &registry)?;
    /// assert!(text.contains("libp2p_dialer_requests_total{outcome=\"connected\"} 1\n"));
    /// assert!(text.contains("libp2p_dialer_tokens_in_use 0\n"));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// [`Registry::sub_registry_with_label`]: prometheus_client::registry::Registry::sub_registry_with_label
    #[cfg(feature = "metrics")]
    pub fn with_metrics(
        config: Config,
        transport: T,
        runtime: R,
        registry: &mut prometheus_client::registry::Registry,
    ) -> Result<Self, ConfigError> {
        Self::builder(config, transport, runtime).build_with_metrics(registry)
    }

    /// [`with_runtime`](Self::with_runtime), with `setup` applied to the driver before it
    /// is spawned (tests use it to change how the driver runs attempts).
    #[cfg(test)]
    pub(crate) fn build(
        config: Config,
        transport: T,
        runtime: R,
        setup: impl FnOnce(&mut Driver<P, T, R>),
    ) -> Result<Self, ConfigError> {
        Self::builder(config, transport, runtime).spawn(setup)
    }

    /// [`with_runtime`](Self::with_runtime) on the runtime's default instance: with the
    /// adapters, `dialer_tokio::Dialer::new(config, transport)` and
    /// `dialer_async_std::Dialer::new(config, transport)`.
    pub fn new(config: Config, transport: T) -> Result<Self, ConfigError>
    where
        R: Default,
    {
        Self::with_runtime(config, transport, R::default())
    }

    /// The runtime this dialer runs on.
    pub fn runtime(&self) -> &R {
        &self.runtime
    }

    /// Connects to `peer` at one of `addrs`, with the default [`DialOpts`].
    ///
    /// If a request for `peer` is in flight, this call joins it and its new addresses are
    /// merged in (R-R8); every caller of a request gets the same connection (see
    /// [`Dialed`]). Dropping the returned future cancels this caller's wait (R-R7); the
    /// request is cancelled, its dials aborted and its tokens released, only when its last
    /// caller has gone. The future owns what it needs (it is `'static`), so it can be
    /// spawned; the request is sent to the driver when it is first polled.
    pub fn dial(
        &self,
        peer: P,
        addrs: impl IntoIterator<Item = Multiaddr>,
    ) -> impl Future<Output = Result<Dialed<T::Output>, Error>> + Send + 'static {
        self.dial_with(peer, addrs, DialOpts::default())
    }

    /// [`dial`](Self::dial) with options: [`Priority::High`](dialer_core::Priority::High)
    /// proceeds outside the token pool, one address at a time, when the pool is empty
    /// (R-P1); [`ignore_backoff`](DialOpts::ignore_backoff) dials deny-listed addresses too
    /// (R-D7).
    pub fn dial_with(
        &self,
        peer: P,
        addrs: impl IntoIterator<Item = Multiaddr>,
        opts: DialOpts,
    ) -> impl Future<Output = Result<Dialed<T::Output>, Error>> + Send + 'static {
        let commands = self.commands.clone();
        let ticket = self.tickets.fetch_add(1, Ordering::Relaxed);
        let addrs: Vec<Multiaddr> = addrs.into_iter().collect();
        async move {
            let (reply, answer) = oneshot::channel();
            commands
                .unbounded_send(Command::Dial {
                    ticket,
                    peer,
                    addrs,
                    opts,
                    reply,
                })
                .map_err(|_| Error::Shutdown)?;
            let guard = CancelOnDrop { commands, ticket };
            let result = answer.await;
            // The answer came: there is nothing left to cancel.
            guard.disarm();
            result.unwrap_or(Err(Error::Shutdown))
        }
    }

    /// A snapshot of the core's counters (R-O1).
    pub async fn stats(&self) -> Result<Stats, Error> {
        self.ask(Command::Stats).await
    }

    /// Every learned confidence, least recently used first (R-C6): feed it to
    /// [`import_confidence`](Self::import_confidence) after a restart.
    pub async fn export_confidence(&self) -> Result<Vec<(Multiaddr, u8)>, Error> {
        self.ask(Command::ExportConfidence).await
    }

    /// Loads learned confidence (R-C6), in [`export_confidence`](Self::export_confidence)
    /// order.
    pub async fn import_confidence(&self, entries: Vec<(Multiaddr, u8)>) -> Result<(), Error> {
        self.ask(|reply| Command::ImportConfidence(entries, reply))
            .await
    }

    /// Every address the core prunes from now on, with its peer (R-C5): it fell to
    /// confidence 0 while the peer has a better one, so the dialer skips it for that peer.
    /// Apply these to your peer store. The stream ends when the driver does; dropping it
    /// unsubscribes.
    pub fn pruned(&self) -> Result<impl Stream<Item = (P, Multiaddr)> + Send + Unpin, Error> {
        let (tx, rx) = mpsc::unbounded();
        self.send(Command::WatchPruned(tx))?;
        Ok(rx)
    }

    /// Tells the dialer the node's network changed (a new interface or default route, a
    /// wake from sleep): it forgets its deny entries, failure counts, connect-time
    /// estimates and black-hole windows, which described the old network (R-D4b).
    pub async fn network_changed(&self) -> Result<(), Error> {
        self.ask(Command::NetworkChanged).await
    }

    /// Tells the dialer the application has a connection to `peer` it got another way (an
    /// inbound one): `addrs` (its known addresses) and those of a dial in flight for it
    /// leave the deny list (R-D4a).
    pub async fn peer_connected(&self, peer: P, addrs: Vec<Multiaddr>) -> Result<(), Error> {
        self.ask(|reply| Command::PeerConnected(peer, addrs, reply))
            .await
    }

    /// Lifts the prune mark of `addr` for `peer` (R-C5a): the peer store learned it again.
    /// Returns whether there was a mark.
    pub async fn lift_prune(&self, peer: P, addr: Multiaddr) -> Result<bool, Error> {
        self.ask(|reply| Command::LiftPrune(peer, addr, reply))
            .await
    }

    /// Everything the dialer learned about addresses, as one versioned
    /// [`Snapshot`](dialer_core::Snapshot) (R-C7, feature `serde`): save it with
    /// [`Snapshot::to_json`](dialer_core::Snapshot::to_json) and give it to
    /// [`restore`](Self::restore) after a restart. Expiries are durations from now, so the
    /// runtime's clock need not carry over.
    #[cfg(feature = "serde")]
    pub async fn snapshot(&self) -> Result<dialer_core::Snapshot<P>, Error> {
        self.ask(Command::Snapshot).await
    }

    /// Loads a [`Snapshot`](dialer_core::Snapshot) (R-C7, feature `serde`), its expiries
    /// counted from now; the report says what did not fit the tables. A snapshot that
    /// fails validation is refused with [`Error::Restore`] and changes nothing.
    #[cfg(feature = "serde")]
    pub async fn restore(
        &self,
        snapshot: dialer_core::Snapshot<P>,
    ) -> Result<dialer_core::RestoreReport, Error> {
        self.ask(|reply| Command::Restore(snapshot, reply))
            .await?
            .map_err(Error::Restore)
    }

    async fn ask<A>(
        &self,
        command: impl FnOnce(oneshot::Sender<A>) -> Command<P, T::Output>,
    ) -> Result<A, Error> {
        let (reply, answer) = oneshot::channel();
        self.send(command(reply))?;
        answer.await.map_err(|_| Error::Shutdown)
    }

    fn send(&self, command: Command<P, T::Output>) -> Result<(), Error> {
        self.commands
            .unbounded_send(command)
            .map_err(|_| Error::Shutdown)
    }
}

/// The embedder's address filter (R-R10), as the builder keeps it.
type AddressFilter<P> = Box<dyn Fn(&P, &Multiaddr) -> bool + Send + Sync + 'static>;

/// Builds a [`Dialer`] with more than [`Dialer::with_runtime`] offers: made by
/// [`Dialer::builder`], ended by [`build`](Self::build) (or
/// [`build_with_metrics`](Self::build_with_metrics)).
///
/// Whatever the config says, the dialer resolves names in the core (R-N1): the builder
/// turns [`Config::names`] on (with [`Names::default`](dialer_core::Names::default) if it
/// is `None`), and the driver runs each lookup the core asks for on the resolver, answering
/// `localhost` itself.
///
/// ```
/// # use std::future::Future;
/// # use std::time::Instant;
/// # use dialer_driver::{Config, Dialer, Multiaddr, Runtime, Transport};
/// # #[derive(Clone, Default)]
/// # struct Tokio;
/// # impl Runtime for Tokio {
/// #     fn now(&self) -> Instant { tokio::time::Instant::now().into_std() }
/// #     fn spawn(&self, future: impl Future<Output = ()> + Send + 'static) { tokio::spawn(future); }
/// #     fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send + 'static {
/// #         tokio::time::sleep_until(deadline.into())
/// #     }
/// # }
/// # struct Memory;
/// # impl Transport for Memory {
/// #     type Output = ();
/// #     type Error = std::io::Error;
/// #     type Dial = std::future::Ready<Result<(), std::io::Error>>;
/// #     fn can_dial(&self, _: &Multiaddr) -> bool { true }
/// #     fn dial(&self, _: &Multiaddr) -> Self::Dial { std::future::ready(Ok(())) }
/// # }
/// use dialer_driver::{Answer, RecordKind, Resolver};
///
/// /// Every name is 127.0.0.2 (a test double; the adapters ship hickory-resolver).
/// struct Fixed;
///
/// impl Resolver for Fixed {
///     type Error = std::io::Error;
///     type Lookup = std::future::Ready<Result<Answer, std::io::Error>>;
///     fn resolve(&self, _name: &str, kind: RecordKind) -> Self::Lookup {
///         std::future::ready(Ok(match kind {
///             RecordKind::A => Answer::Ips(vec!["127.0.0.2".parse().unwrap()]),
///             _ => Answer::Ips(Vec::new()),
///         }))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dialer: Dialer<&str, Memory, Tokio> = Dialer::builder(Config::default(), Memory, Tokio)
///     .with_resolver(Fixed)
///     // R-R10: nothing on 127.0.0.3, whatever a name resolves to.
///     .with_address_filter(|_peer, addr| !addr.to_string().starts_with("/ip4/127.0.0.3/"))
///     .build()?;
/// let dialed = dialer.dial("peer-a", ["/dns4/node.test/tcp/1".parse()?]).await?;
/// assert_eq!(dialed.addr.to_string(), "/ip4/127.0.0.2/tcp/1");
/// # Ok(())
/// # }
/// ```
pub struct DialerBuilder<P, T: Transport, R: Runtime> {
    config: Config,
    transport: T,
    runtime: R,
    resolver: Option<AnyResolver>,
    filter: Option<AddressFilter<P>>,
}

impl<P, T: Transport, R: Runtime> fmt::Debug for DialerBuilder<P, T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DialerBuilder")
            .field("config", &self.config)
            .field("resolver", &self.resolver.is_some())
            .field("filter", &self.filter.is_some())
            .finish_non_exhaustive()
    }
}

impl<P, T, R> DialerBuilder<P, T, R>
where
    P: Clone + Eq + Hash + fmt::Debug + Send + 'static,
    T: Transport,
    R: Runtime,
{
    /// Looks names up with `resolver` instead of the runtime's
    /// [`default_resolver`](Runtime::default_resolver) (R-N1). `localhost` never reaches
    /// it.
    pub fn with_resolver(mut self, resolver: impl Resolver) -> Self {
        self.resolver = Some(AnyResolver::new(resolver));
        self
    }

    /// Dials an address only if `filter(peer, addr)` returns `true` (R-R10): the
    /// caller's addresses and every address a name resolves to, so that a name cannot make
    /// the node dial a range it must not (DNS rebinding), or a peer's address another
    /// peer's `/p2p/` id. A refused address is skipped as
    /// [`SkipReason::Filtered`](dialer_core::SkipReason::Filtered). Unspecified, multicast
    /// and broadcast addresses are refused whatever the filter says.
    pub fn with_address_filter(
        mut self,
        filter: impl Fn(&P, &Multiaddr) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.filter = Some(Box::new(filter));
        self
    }

    /// Validates the config, builds the core and spawns the driver task on the runtime.
    pub fn build(self) -> Result<Dialer<P, T, R>, ConfigError> {
        self.spawn(|_| {})
    }

    /// [`build`](Self::build), with Prometheus metrics registered in `registry` (R-O3):
    /// see [`Dialer::with_metrics`]. Needs the `metrics` feature.
    #[cfg(feature = "metrics")]
    pub fn build_with_metrics(
        self,
        registry: &mut prometheus_client::registry::Registry,
    ) -> Result<Dialer<P, T, R>, ConfigError> {
        self.spawn(|driver| driver.register_metrics(registry))
    }

    /// Builds the core and the driver, applies `setup` to the driver and spawns it.
    pub(crate) fn spawn(
        self,
        setup: impl FnOnce(&mut Driver<P, T, R>),
    ) -> Result<Dialer<P, T, R>, ConfigError> {
        let Self {
            mut config,
            transport,
            runtime,
            resolver,
            filter,
        } = self;
        // The adapters resolve in the core (R-N1): the transport sees IP addresses, each
        // ranked, deny-listed and filtered on its own.
        config.names.get_or_insert_with(Default::default);
        let transport = Arc::new(transport);
        let dialable = Arc::clone(&transport);
        let mut core =
            dialer_core::Dialer::new(config)?.with_dialable(move |addr| dialable.can_dial(addr));
        if let Some(filter) = filter {
            core.set_address_filter(filter);
        }
        let resolver = resolver.or_else(|| runtime.default_resolver());
        let (commands, rx) = mpsc::unbounded();
        let mut driver = Driver::new(core, transport, resolver, runtime.clone(), rx);
        setup(&mut driver);
        runtime.spawn(driver.run());
        Ok(Dialer {
            commands,
            tickets: Arc::new(AtomicU64::new(0)),
            runtime,
        })
    }
}

/// Sends `Cancel` for its ticket unless disarmed: armed while a `dial` future waits, so
/// that dropping the future ends that caller's wait in the core (R-R7, R-R8).
struct CancelOnDrop<P, C> {
    commands: mpsc::UnboundedSender<Command<P, C>>,
    ticket: Ticket,
}

impl<P, C> CancelOnDrop<P, C> {
    fn disarm(mut self) {
        // A closed sender sends nothing on drop.
        self.commands.disconnect();
    }
}

impl<P, C> Drop for CancelOnDrop<P, C> {
    fn drop(&mut self) {
        // A closed channel means the driver is gone, and with it the request.
        let _ = self.commands.unbounded_send(Command::Cancel {
            ticket: self.ticket,
        });
    }
}
