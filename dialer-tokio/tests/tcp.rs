//! The tokio adapter against real loopback peers. The cross-runtime conformance suite lives
//! in the workspace's `tests/`; these check what is tokio-specific: sockets, DNS, timers.

use std::time::Duration;

use dialer_driver::testing::{Listener, Refusing, Tarpit};
use dialer_tokio::{Config, DialError, Dialer, Error, Multiaddr, SkipReason, TcpTransport};

fn dialer() -> Dialer<&'static str> {
    Dialer::new(Config::default(), TcpTransport).expect("valid config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_over_loopback_with_nodelay() {
    // R-A1, R-A2
    let peer = Listener::accepting().expect("listener");
    let dialed = dialer()
        .dial("peer", [peer.multiaddr()])
        .await
        .expect("connected");
    assert_eq!(dialed.addr, peer.multiaddr());
    let stream = dialed.into_connection().expect("sole caller");
    assert_eq!(stream.peer_addr().expect("peer addr"), peer.addr());
    assert!(stream.nodelay().expect("nodelay"));
}

#[tokio::test]
async fn resolves_dns_names_and_accepts_a_p2p_suffix() {
    // R-A2
    let peer = Listener::accepting().expect("listener");
    let with_p2p: Multiaddr = format!(
        "{}/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC",
        peer.dns_multiaddr()
    )
    .parse()
    .expect("multiaddr");
    let dialed = dialer()
        .dial("peer", [with_p2p.clone()])
        .await
        .expect("connected");
    assert_eq!(dialed.addr, with_p2p);
}

#[tokio::test]
async fn a_refused_port_fails_with_the_socket_error() {
    // R-R5: the reason names the socket address and the OS error.
    let refusing = Refusing::new().expect("refusing port");
    let error = dialer()
        .dial("peer", [refusing.multiaddr()])
        .await
        .expect_err("refused");
    let Error::Dial(DialFailed::AllFailed { attempts }) = error else {
        panic!("expected AllFailed, got {error:?}");
    };
    let reason = attempts[0].reason.to_string();
    assert!(
        reason.starts_with(&format!("connecting to {}: ", refusing.addr())),
        "{reason}"
    );
}

#[tokio::test]
async fn non_tcp_addresses_are_skipped_before_any_token() {
    // R-A2
    let quic: Multiaddr = "/ip4/127.0.0.1/udp/4001/quic-v1"
        .parse()
        .expect("multiaddr");
    let dialer = dialer();
    let error = dialer
        .dial("peer", [quic.clone()])
        .await
        .expect_err("undialable");
    assert!(
        matches!(&error, Error::Dial(DialRefused::NoDialableAddresses { skipped })
            if skipped[0].reason == SkipReason::Undialable),
        "{error:?}"
    );
    let stats = dialer.stats().await.expect("stats");
    assert_eq!(stats.dials_started, 0);
    assert_eq!(stats.tokens_in_use, 0);
}

#[tokio::test]
async fn a_hanging_address_times_out_and_its_socket_is_closed() {
    // R-R6a, R-A1, R-A4: a real timer moves the only token on, and the aborted connect
    // leaves no socket behind.
    let tarpit = Tarpit::new().expect("tarpit");
    let peer = Listener::accepting().expect("listener");
    let config = Config::default()
        .with_max_per_peer_dials(1)
        .with_address_timeout(Duration::from_millis(200));
    let dialer: Dialer<&str> = Dialer::new(config, TcpTransport).expect("valid config");
    let dialed = dialer
        .dial("peer", [tarpit.multiaddr(), peer.multiaddr()])
        .await
        .expect("connected");
    assert_eq!(dialed.addr, peer.multiaddr());
    let stats = dialer.stats().await.expect("stats");
    assert_eq!(stats.dials_timed_out, 1);
    // The abort dropped the connect future, closing its socket; the aborted task may need
    // a turn of the scheduler to see its abort.
    let mut pending = tarpit.pending_connects().expect("proc");
    for _ in 0..100 {
        if pending == 0 {
            break;
        }
        tokio::task::yield_now().await;
        pending = tarpit.pending_connects().expect("proc");
    }
    assert_eq!(pending, 0, "the aborted connect left its socket open");
}

#[tokio::test(start_paused = true)]
async fn the_runtime_clock_and_timer_follow_paused_time() {
    // R-A4: the driver's clock is tokio's, so paused time drives every dialer timeout.
    use dialer_tokio::{Runtime, TokioRuntime};
    let start = TokioRuntime.now();
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(TokioRuntime.now() - start, Duration::from_secs(5));
    let deadline = TokioRuntime.now() + Duration::from_secs(3600);
    TokioRuntime.sleep_until(deadline).await;
    assert_eq!(TokioRuntime.now(), deadline);
}
