//! Bytes → config values and multiaddrs (binary and text) through `Config::validate`,
//! `Dialer::new` and `dial`: typed errors or valid requests, never a panic, nothing leaked
//! (`dialer_tests::targets::config_and_addrs`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = dialer_tests::targets::config_and_addrs(data) {
        panic!("{violation}");
    }
});
