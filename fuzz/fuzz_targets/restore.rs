//! Bytes → a saved state (R-C7) through `Snapshot::from_json_slice` and `Dialer::restore`:
//! a typed refusal that changes nothing, or a restore whose report accounts for every
//! entry and after which the invariants hold and the dialer still dials and ends cleanly
//! (`dialer_tests::targets::restore`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = dialer_tests::targets::restore(data) {
        panic!("{violation}");
    }
});
