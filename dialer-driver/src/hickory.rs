//! [hickory-resolver](hickory_resolver) as a [`Resolver`] (feature `hickory`), written
//! once for every runtime: the adapters pick its runtime provider (`dialer-tokio`:
//! hickory's own tokio provider; `dialer-async-std`: one of its own over async-io) and
//! make it their default resolver. It is what rust-libp2p's `libp2p-dns` resolves with.
//!
//! Only plain DNS over UDP (and TCP for truncated answers) is built in: no DNS-over-TLS,
//! DNS-over-HTTPS or DNSSEC, so no TLS stack comes along. Answers are cached by their TTL
//! (hickory's response cache, 8 192 entries by default).

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use dialer_core::{Answer, ErrorClass, RecordKind};
use futures::future::BoxFuture;
pub use hickory_resolver;
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::NetError;
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use hickory_resolver::ConnectionProvider;

use crate::Resolver;

/// Where a [`HickoryResolver`] gets its configuration, once, at its first lookup.
enum Setup {
    /// The system's: `/etc/resolv.conf` (and the hosts file) on Unix, the registry on
    /// Windows.
    System,
    /// Given (boxed: both are large).
    Given(Box<(ResolverConfig, ResolverOpts)>),
}

struct Inner<P: ConnectionProvider> {
    provider: P,
    setup: Setup,
    /// Built at the first lookup, so that a dialer that never meets a name reads no
    /// configuration file.
    resolver: OnceLock<Result<hickory_resolver::Resolver<P>, Arc<NetError>>>,
}

impl<P: ConnectionProvider> Inner<P> {
    fn resolver(&self) -> Result<&hickory_resolver::Resolver<P>, HickoryError> {
        let built = self.resolver.get_or_init(|| {
            let builder = match &self.setup {
                Setup::System => hickory_resolver::Resolver::builder(self.provider.clone()),
                Setup::Given(given) => {
                    let (config, options) = &**given;
                    Ok(hickory_resolver::Resolver::builder_with_config(
                        config.clone(),
                        self.provider.clone(),
                    )
                    .with_options(options.clone()))
                }
            };
            builder.and_then(|b| b.build()).map_err(Arc::new)
        });
        built.as_ref().map_err(|source| HickoryError::Config {
            source: Arc::clone(source),
        })
    }
}

/// A [`Resolver`] over hickory-resolver on runtime provider `P`: the adapters' default
/// (`dialer_tokio::TokioResolver`, `dialer_async_std::AsyncStdResolver`).
///
/// - [`system`](Self::system): the system's configuration, as `getaddrinfo` would use it;
/// - [`with_name_server`](Self::with_name_server): one name server of your choice, over
///   UDP (TCP for large answers): a local resolver, a test server on loopback;
/// - [`from_resolver`](Self::from_resolver): a hickory resolver you configured yourself.
///
/// A name that exists without records of the kind asked for is an empty answer; a name
/// that does not exist fails with [`HickoryError::NoSuchName`]. Cloning is cheap and
/// shares the resolver and its cache.
pub struct HickoryResolver<P: ConnectionProvider> {
    inner: Arc<Inner<P>>,
}

impl<P: ConnectionProvider> Clone for HickoryResolver<P> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<P: ConnectionProvider> fmt::Debug for HickoryResolver<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let setup = match &self.inner.setup {
            Setup::System => "system",
            Setup::Given(_) => "given",
        };
        f.debug_struct("HickoryResolver")
            .field("config", &setup)
            .finish_non_exhaustive()
    }
}

impl<P: ConnectionProvider + Default> HickoryResolver<P> {
    /// The system's DNS configuration (`/etc/resolv.conf` and the hosts file on Unix),
    /// read at the first lookup; if it cannot be read, every lookup fails with
    /// [`HickoryError::Config`] (and `localhost` still resolves: the driver answers it).
    pub fn system() -> Self {
        Self::system_on(P::default())
    }

    /// Asks only the name server at `server`, over UDP (and over TCP for an answer too
    /// large for UDP, as any resolver does): no hosts file, no search domains. For a local
    /// caching resolver, a name server your network mandates, or a test server on
    /// loopback.
    pub fn with_name_server(server: SocketAddr) -> Self {
        Self::with_name_server_on(server, P::default())
    }
}

impl<P: ConnectionProvider> HickoryResolver<P> {
    /// [`system`](Self::system) on `provider`.
    pub fn system_on(provider: P) -> Self {
        Self::new(provider, Setup::System)
    }

    /// [`with_name_server`](Self::with_name_server) on `provider`.
    pub fn with_name_server_on(server: SocketAddr, provider: P) -> Self {
        let mut name_server = NameServerConfig::udp_and_tcp(server.ip());
        for connection in &mut name_server.connections {
            connection.port = server.port();
        }
        let mut options = ResolverOpts::default();
        options.use_hosts_file = ResolveHosts::Never;
        Self::new(
            provider,
            Setup::Given(Box::new((
                ResolverConfig::from_name_servers(vec![name_server]),
                options,
            ))),
        )
    }

    /// A resolver built from `config` and `options` on `provider`: any hickory
    /// configuration (several name servers, TCP, timeouts, cache size).
    pub fn from_config(config: ResolverConfig, options: ResolverOpts, provider: P) -> Self {
        Self::new(provider, Setup::Given(Box::new((config, options))))
    }

    /// Wraps a hickory resolver you built yourself.
    pub fn from_resolver(resolver: hickory_resolver::Resolver<P>) -> Self
    where
        P: Default,
    {
        let built = OnceLock::new();
        let _ = built.set(Ok(resolver));
        Self {
            inner: Arc::new(Inner {
                provider: P::default(),
                setup: Setup::Given(Box::default()),
                resolver: built,
            }),
        }
    }

    fn new(provider: P, setup: Setup) -> Self {
        Self {
            inner: Arc::new(Inner {
                provider,
                setup,
                resolver: OnceLock::new(),
            }),
        }
    }
}

impl<P: ConnectionProvider> Resolver for HickoryResolver<P> {
    type Error = HickoryError;
    type Lookup = BoxFuture<'static, Result<Answer, HickoryError>>;

    fn resolve(&self, name: &str, kind: RecordKind) -> Self::Lookup {
        let inner = Arc::clone(&self.inner);
        let name = name.to_owned();
        Box::pin(async move {
            let resolver = inner.resolver()?;
            let record_type = match kind {
                RecordKind::A => RecordType::A,
                RecordKind::Aaaa => RecordType::AAAA,
                RecordKind::Txt => RecordType::TXT,
            };
            match resolver.lookup(name.as_str(), record_type).await {
                Ok(lookup) => Ok(answer(kind, lookup.answers())),
                Err(error) => classify(name, kind, error),
            }
        })
    }

    fn error_class(&self, error: &HickoryError) -> ErrorClass {
        match error {
            HickoryError::Timeout { .. } => ErrorClass::TimedOut,
            _ => ErrorClass::Resolve,
        }
    }
}

/// The records of `kind` among `records` (an answer can hold CNAMEs too).
fn answer(kind: RecordKind, records: &[Record]) -> Answer {
    match kind {
        RecordKind::A | RecordKind::Aaaa => Answer::Ips(
            records
                .iter()
                .filter_map(|r| match &r.data {
                    RData::A(a) if kind == RecordKind::A => Some(a.0.into()),
                    RData::AAAA(aaaa) if kind == RecordKind::Aaaa => Some(aaaa.0.into()),
                    _ => None,
                })
                .collect(),
        ),
        RecordKind::Txt => Answer::Txt(
            records
                .iter()
                .filter_map(|r| match &r.data {
                    // One string per record, its character-strings joined (the dnsaddr
                    // convention: a long record is split into strings of 255 bytes).
                    RData::TXT(txt) => Some(
                        txt.txt_data
                            .iter()
                            .map(|part| String::from_utf8_lossy(part))
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect(),
        ),
    }
}

/// A lookup's error as an answer or a [`HickoryError`]: a name without records of the
/// kind (`NOERROR`, no data) is an empty answer, not an error.
fn classify(name: String, kind: RecordKind, error: NetError) -> Result<Answer, HickoryError> {
    if error.is_nx_domain() {
        return Err(HickoryError::NoSuchName { name });
    }
    if error.is_no_records_found() {
        return Ok(match kind {
            RecordKind::Txt => Answer::Txt(Vec::new()),
            _ => Answer::Ips(Vec::new()),
        });
    }
    let kind = kind.name();
    Err(match error {
        NetError::Timeout => HickoryError::Timeout { name, kind },
        source => HickoryError::Lookup {
            name,
            kind,
            source: Box::new(source),
        },
    })
}

/// Why a [`HickoryResolver`] lookup failed. The dialer records its message with its
/// sources among the request's attempts, as
/// [`FailReason::Resolve`](dialer_core::FailReason::Resolve).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum HickoryError {
    /// The name does not exist (`NXDOMAIN`).
    #[error("{name}: no such name (NXDOMAIN)")]
    NoSuchName {
        /// The name looked up.
        name: String,
    },
    /// The name servers did not answer in time (hickory's own timeout, 5 s and 2
    /// attempts by default; the dialer's `address_timeout` usually comes first).
    #[error("{name} ({kind}): the name servers did not answer in time")]
    Timeout {
        /// The name looked up.
        name: String,
        /// The record type: `A`, `AAAA` or `TXT`.
        kind: &'static str,
    },
    /// Any other failure: a server failure, a refused query, a malformed answer, no
    /// reachable name server.
    #[error("looking up {kind} records of {name}")]
    Lookup {
        /// The name looked up.
        name: String,
        /// The record type: `A`, `AAAA` or `TXT`.
        kind: &'static str,
        /// hickory's error.
        #[source]
        source: Box<NetError>,
    },
    /// The resolver's configuration could not be read or used (no `/etc/resolv.conf`, no
    /// name server in it).
    #[error("the DNS configuration is unusable")]
    Config {
        /// hickory's error.
        #[source]
        source: Arc<NetError>,
    },
}
