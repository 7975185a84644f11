//! hickory-resolver on async-std and smol: a hickory [`RuntimeProvider`] over async-io's
//! sockets and timers (the reactor both runtimes use), with background tasks on
//! async-std's executor. hickory 0.25 and later ship a tokio provider only.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use async_io::{Async, Timer};
use async_trait::async_trait;
use futures::future::{self, Either};
use futures::io::{AsyncRead, AsyncWrite};
use hickory_resolver::net::runtime::{DnsTcpStream, DnsUdpSocket, RuntimeProvider, Spawn, Time};

/// How long a TCP connect to a name server may take when hickory sets no limit.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// hickory's runtime on async-std (and smol): UDP and TCP sockets of [`async_io`], its
/// [`Timer`], and async-std's executor for the resolver's background tasks. It needs no
/// runtime context, like [`AsyncStdRuntime`](crate::AsyncStdRuntime).
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStdProvider;

/// Spawns hickory's background tasks on async-std's executor, detached.
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStdHandle;

impl Spawn for AsyncStdHandle {
    fn spawn_bg(&mut self, future: impl Future<Output = ()> + Send + 'static) {
        drop(async_std::task::spawn(future));
    }
}

/// hickory's timer on async-io.
#[derive(Debug, Clone, Copy)]
pub struct AsyncIoTime;

#[async_trait]
impl Time for AsyncIoTime {
    async fn delay_for(duration: Duration) {
        Timer::after(duration).await;
    }

    async fn timeout<F: 'static + Future + Send>(
        duration: Duration,
        future: F,
    ) -> Result<F::Output, io::Error> {
        match future::select(Box::pin(future), Timer::after(duration)).await {
            Either::Left((output, _)) => Ok(output),
            Either::Right(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "timed out")),
        }
    }
}

/// A UDP socket for hickory, on async-io.
#[derive(Debug)]
pub struct AsyncUdpSocket(Async<UdpSocket>);

impl DnsUdpSocket for AsyncUdpSocket {
    type Time = AsyncIoTime;

    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        loop {
            match self.0.get_ref().recv_from(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(self.0.poll_readable(cx))?;
                }
                other => return Poll::Ready(other),
            }
        }
    }

    fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        loop {
            match self.0.get_ref().send_to(buf, target) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(self.0.poll_writable(cx))?;
                }
                other => return Poll::Ready(other),
            }
        }
    }
}

/// A TCP stream for hickory, on async-io.
#[derive(Debug)]
pub struct AsyncTcpStream(Async<TcpStream>);

impl DnsTcpStream for AsyncTcpStream {
    type Time = AsyncIoTime;
}

impl AsyncRead for AsyncTcpStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for AsyncTcpStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

impl RuntimeProvider for AsyncStdProvider {
    type Handle = AsyncStdHandle;
    type Timer = AsyncIoTime;
    type Udp = AsyncUdpSocket;
    type Tcp = AsyncTcpStream;

    fn create_handle(&self) -> Self::Handle {
        AsyncStdHandle
    }

    fn connect_tcp(
        &self,
        server_addr: SocketAddr,
        bind_addr: Option<SocketAddr>,
        timeout: Option<Duration>,
    ) -> Pin<Box<dyn Send + Future<Output = io::Result<Self::Tcp>>>> {
        Box::pin(async move {
            if let Some(bind_addr) = bind_addr {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("binding a name server connection to {bind_addr} is not supported on async-std"),
                ));
            }
            let connect = Async::<TcpStream>::connect(server_addr);
            let stream =
                AsyncIoTime::timeout(timeout.unwrap_or(CONNECT_TIMEOUT), connect).await??;
            stream.get_ref().set_nodelay(true)?;
            Ok(AsyncTcpStream(stream))
        })
    }

    fn bind_udp(
        &self,
        local_addr: SocketAddr,
        _server_addr: SocketAddr,
    ) -> Pin<Box<dyn Send + Future<Output = io::Result<Self::Udp>>>> {
        // Ready at once, as hickory asks: binding does not block.
        Box::pin(future::ready(
            Async::<UdpSocket>::bind(local_addr).map(AsyncUdpSocket),
        ))
    }
}
