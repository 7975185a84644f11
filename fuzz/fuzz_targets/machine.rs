//! Bytes → a valid config and a sequence of API calls, with every SPEC invariant and the
//! reference model checked after every step (`dialer_tests::targets::machine`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = dialer_tests::targets::machine(data) {
        panic!("{violation}");
    }
});
