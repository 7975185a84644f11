//! R-R5: a failed dial keeps the runtime's error as a value: its class, its message with
//! the chain of sources, and the original error to downcast.

use std::io;

use dialer_core::{DialFailed, ErrorClass, FailReason, TransportError};

use crate::harness::{addr, ms, Outcome, Sim};

/// An error with a source, as a transport's would be.
#[derive(Debug, thiserror::Error)]
#[error("connecting to 127.0.0.1:9")]
struct Connecting(#[source] io::Error);

// R-R5
#[test]
fn a_transport_error_keeps_its_class_its_chain_and_its_value() {
    let error = TransportError::from_error(Connecting(io::ErrorKind::ConnectionRefused.into()));
    assert_eq!(
        error.class(),
        ErrorClass::Refused,
        "classed by the io::Error in its chain"
    );
    assert_eq!(error.io_kind(), Some(io::ErrorKind::ConnectionRefused));
    assert!(error.downcast_ref::<Connecting>().is_some());
    assert_eq!(
        error.message(),
        format!(
            "connecting to 127.0.0.1:9: {}",
            io::Error::from(io::ErrorKind::ConnectionRefused)
        )
    );
    assert_eq!(error.to_string(), error.message());
    // The chain is in the message, so chain printers do not see it twice.
    assert!(std::error::Error::source(&error).is_none());

    let text = TransportError::from("refused");
    assert_eq!(
        (text.class(), text.message()),
        (ErrorClass::Other, "refused")
    );
    assert!(text.get_ref().is_none() && text.io_kind().is_none());
    let timed_out = TransportError::from(io::Error::from(io::ErrorKind::TimedOut));
    assert_eq!(timed_out.class(), ErrorClass::TimedOut);
    assert_eq!(FailReason::AddressTimeout.class(), ErrorClass::TimedOut);
}

// R-R5: the error a runtime reports reaches the caller's AllFailed unchanged.
#[test]
fn the_reported_error_reaches_the_request_outcome() {
    let mut sim = Sim::new(dialer_core::Config::default());
    sim.script(&addr(1), Outcome::Hang);
    let caller = sim.dial(1, &[addr(1)]).expect("dial");
    let dial = crate::harness::dial_ids(sim.log())[0];
    sim.run_for(ms(1));
    sim.fail_with(
        dial,
        TransportError::from_error(Connecting(io::ErrorKind::ConnectionRefused.into())),
    )
    .expect("open dial");
    let Some(Err(DialFailed::AllFailed { attempts })) = sim.outcome(caller) else {
        panic!("expected AllFailed");
    };
    let error = attempts[0]
        .reason
        .transport_error()
        .expect("transport error");
    assert_eq!(error.class(), ErrorClass::Refused);
    assert!(error.downcast_ref::<Connecting>().is_some());
    sim.finish();
}
