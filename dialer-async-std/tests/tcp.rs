//! The async-std adapter against real loopback peers, on async-std and under smol. The
//! cross-runtime conformance suite lives in the workspace's `tests/`; these check what is
//! runtime-specific: sockets, DNS, timers, and that smol can drive it.

use std::time::Duration;

use dialer_async_std::{Config, DialError, Dialer, Error, Multiaddr, SkipReason, TcpTransport};
use dialer_driver::testing::{Listener, Refusing, Tarpit};

fn dialer() -> Dialer<&'static str> {
    Dialer::new(Config::default(), TcpTransport).expect("valid config")
}

#[async_std::test]
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

#[async_std::test]
async fn resolves_dns_names_and_reports_refusals() {
    // R-A2, R-R5
    let peer = Listener::accepting().expect("listener");
    let refusing = Refusing::new().expect("refusing port");
    let dialer = dialer();
    let dialed = dialer
        .dial("a", [peer.dns_multiaddr()])
        .await
        .expect("connected");
    assert_eq!(dialed.addr, peer.dns_multiaddr());
    let error = dialer
        .dial("b", [refusing.multiaddr()])
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

#[async_std::test]
async fn non_tcp_addresses_are_skipped_before_any_token() {
    // R-A2
    let quic: Multiaddr = "/ip4/127.0.0.1/udp/4001/quic-v1"
        .parse()
        .expect("multiaddr");
    let error = dialer().dial("peer", [quic]).await.expect_err("undialable");
    assert!(
        matches!(&error, Error::Dial(DialRefused::NoDialableAddresses { skipped })
            if skipped[0].reason == SkipReason::Undialable),
        "{error:?}"
    );
}

/// Everything from inside `smol::block_on`: no async-std entry point, smol's executor
/// drives the caller, async-io's reactor the sockets and timers.
#[test]
fn runs_under_smol() {
    smol::block_on(async {
        let tarpit = Tarpit::new().expect("tarpit");
        let peer = Listener::accepting().expect("listener");
        let config = Config::default()
            .with_max_per_peer_dials(1)
            .with_address_timeout(Duration::from_millis(200));
        let dialer: Dialer<&str> = Dialer::new(config, TcpTransport).expect("valid config");
        // One token: the tarpit must time out (a real async-io timer) before the good
        // address is tried (R-R6a).
        let dialed = dialer
            .dial("peer", [tarpit.multiaddr(), peer.multiaddr()])
            .await
            .expect("connected");
        assert_eq!(dialed.addr, peer.multiaddr());
        let stream = dialed.into_connection().expect("sole caller");
        assert_eq!(stream.peer_addr().expect("peer addr"), peer.addr());
        let stats = dialer.stats().await.expect("stats");
        assert_eq!(stats.dials_timed_out, 1);
        assert_eq!(stats.requests_succeeded, 1);
        assert_eq!(stats.tokens_in_use, 0);
    });
}

/// A dial dropped mid-flight under smol cancels the request (R-R7).
#[test]
fn dropping_a_dial_under_smol_cancels_it() {
    smol::block_on(async {
        let tarpit = Tarpit::new().expect("tarpit");
        let dialer = dialer();
        let dial = async { Some(dialer.dial("peer", [tarpit.multiaddr()]).await) };
        let give_up = async {
            smol::Timer::after(Duration::from_millis(100)).await;
            None
        };
        // The timer wins and the dial future is dropped, still waiting.
        let outcome = smol::future::or(dial, give_up).await;
        assert!(outcome.is_none(), "the tarpit answered: {outcome:?}");
        let stats = dialer.stats().await.expect("stats");
        assert_eq!(stats.requests_cancelled, 1);
        assert_eq!(stats.tokens_in_use, 0);
    });
}
