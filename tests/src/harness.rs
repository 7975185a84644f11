//! One conformance suite, three runtimes: what a scenario needs from a runtime, and its
//! implementations for tokio, async-std and smol (R-A1: the adapters offer the same API).
//!
//! A scenario is an `async fn` generic over [`Harness`]; each test runs it with
//! [`Harness::block_on`]. Under smol the async-std adapter is used, driven by
//! `smol::block_on`: that is how the adapter runs under smol.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use dialer_driver::tcp::TcpError;
use dialer_driver::{AnyResolver, Config, Dialer, Runtime, Transport};
use futures::future::{self, Either};

use crate::doubles::ReadByte;

/// A runtime under test: its adapter's [`Runtime`] and TCP transport, and a way to run a
/// future to completion on it.
pub trait Harness: Sized + 'static {
    /// Shown in failure messages.
    const NAME: &'static str;
    /// The adapter's runtime.
    type Runtime: Runtime + Default;
    /// The adapter's default TCP transport (R-A2).
    type Tcp: Transport<Output = Self::Stream, Error = TcpError> + Default;
    /// The adapter's TCP connection.
    type Stream: ReadByte;

    /// Runs `future` to completion on this runtime, with at least two worker threads for
    /// spawned tasks.
    fn block_on<F: Future>(future: F) -> F::Output;

    /// A dialer on this runtime with `transport`, built inside [`block_on`](Self::block_on).
    fn dialer<T: Transport>(config: Config, transport: T) -> Dialer<u32, T, Self::Runtime> {
        match Dialer::with_runtime(config, transport, Self::Runtime::default()) {
            Ok(dialer) => dialer,
            Err(e) => panic!("{}: config refused: {e}", Self::NAME),
        }
    }

    /// The adapter's default resolver (hickory-resolver on this runtime), asking only the
    /// name server at `server` (R-N1).
    fn name_server(server: SocketAddr) -> AnyResolver;

    /// Whether `TCP_NODELAY` is set on `stream`.
    fn nodelay(stream: &Self::Stream) -> bool;

    /// The adapter's TCP transport.
    fn tcp() -> Self::Tcp {
        Self::Tcp::default()
    }
}

/// Awaits `future`, failing the test if it takes longer than `limit` on `H`'s clock.
///
/// This bounds a wait (a hang fails instead of blocking the suite); it never orders events.
pub async fn within<H: Harness, F: Future>(limit: Duration, what: &str, future: F) -> F::Output {
    let deadline = H::Runtime::default().now() + limit;
    let timer = H::Runtime::default().sleep_until(deadline);
    match future::select(Box::pin(future), Box::pin(timer)).await {
        Either::Left((output, _)) => output,
        Either::Right(((), _)) => panic!("{}: {what} did not happen within {limit:?}", H::NAME),
    }
}

/// Milliseconds, for short configs.
pub const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// tokio: a multi-threaded runtime with four workers, one per test.
#[derive(Debug)]
pub enum Tokio {}

impl Harness for Tokio {
    const NAME: &'static str = "tokio";
    type Runtime = dialer_tokio::TokioRuntime;
    type Tcp = dialer_tokio::TcpTransport;
    type Stream = tokio::net::TcpStream;

    fn name_server(server: SocketAddr) -> AnyResolver {
        AnyResolver::new(dialer_tokio::TokioResolver::with_name_server(server))
    }

    fn nodelay(stream: &Self::Stream) -> bool {
        stream.nodelay().unwrap_or(false)
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(future),
            Err(e) => panic!("tokio runtime: {e}"),
        }
    }
}

/// async-std: its global executor, driven by `async_std::task::block_on`.
#[derive(Debug)]
pub enum AsyncStd {}

impl Harness for AsyncStd {
    const NAME: &'static str = "async-std";
    type Runtime = dialer_async_std::AsyncStdRuntime;
    type Tcp = dialer_async_std::TcpTransport;
    type Stream = async_std::net::TcpStream;

    fn name_server(server: SocketAddr) -> AnyResolver {
        AnyResolver::new(dialer_async_std::AsyncStdResolver::with_name_server(server))
    }

    fn nodelay(stream: &Self::Stream) -> bool {
        stream.nodelay().unwrap_or(false)
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        async_std::task::block_on(future)
    }
}

/// smol: the async-std adapter driven by `smol::block_on` (async-std's I/O and timers are
/// async-io's, smol's reactor).
#[derive(Debug)]
pub enum Smol {}

impl Harness for Smol {
    const NAME: &'static str = "smol";
    type Runtime = dialer_async_std::AsyncStdRuntime;
    type Tcp = dialer_async_std::TcpTransport;
    type Stream = async_std::net::TcpStream;

    fn name_server(server: SocketAddr) -> AnyResolver {
        AnyResolver::new(dialer_async_std::AsyncStdResolver::with_name_server(server))
    }

    fn nodelay(stream: &Self::Stream) -> bool {
        stream.nodelay().unwrap_or(false)
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        smol::block_on(future)
    }
}

type ReadFuture<'a> = Pin<Box<dyn Future<Output = io::Result<u8>> + Send + 'a>>;

impl ReadByte for tokio::net::TcpStream {
    fn read_byte(&self) -> ReadFuture<'_> {
        Box::pin(async move {
            let mut buf = [0u8; 1];
            loop {
                self.readable().await?;
                match self.try_read(&mut buf) {
                    Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                    Ok(_) => return Ok(buf[0]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
        })
    }
}

impl ReadByte for async_std::net::TcpStream {
    fn read_byte(&self) -> ReadFuture<'_> {
        Box::pin(async move {
            use futures::AsyncReadExt;
            let mut buf = [0u8; 1];
            let mut stream = self;
            match stream.read(&mut buf).await? {
                0 => Err(io::ErrorKind::UnexpectedEof.into()),
                _ => Ok(buf[0]),
            }
        })
    }
}

/// Runs each named `async fn scenario<H: Harness>()` of the calling file as a test on every
/// runtime: `on_tokio::scenario` (multi-threaded), `on_async_std::scenario` and
/// `on_smol::scenario` (the async-std adapter under `smol::block_on`). One suite, three
/// runtimes, the same code: the conformance and names suites both use it.
#[macro_export]
macro_rules! on_every_runtime {
    ($($scenario:ident),* $(,)?) => {
        /// The suite on tokio (multi-threaded runtime).
        mod on_tokio {
            $(#[test]
            fn $scenario() {
                <$crate::harness::Tokio as $crate::harness::Harness>::block_on(
                    super::$scenario::<$crate::harness::Tokio>(),
                );
            })*
        }
        /// The suite on async-std.
        mod on_async_std {
            $(#[test]
            fn $scenario() {
                <$crate::harness::AsyncStd as $crate::harness::Harness>::block_on(
                    super::$scenario::<$crate::harness::AsyncStd>(),
                );
            })*
        }
        /// The suite on smol (the async-std adapter under `smol::block_on`).
        mod on_smol {
            $(#[test]
            fn $scenario() {
                <$crate::harness::Smol as $crate::harness::Harness>::block_on(
                    super::$scenario::<$crate::harness::Smol>(),
                );
            })*
        }
    };
}
