//! Bytes → a config with names on and a sequence of dials, name-server answers (late,
//! twice, after an abort, hundreds at once, `dnsaddr` loops) and clock moves, with every
//! invariant and the names reference model checked after every step
//! (`dialer_tests::names::names_target`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = dialer_tests::names::names_target(data) {
        panic!("{violation}");
    }
});
