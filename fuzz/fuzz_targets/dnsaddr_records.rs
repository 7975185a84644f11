//! Bytes → `dnsaddr=` TXT records (R-N3, R-N4) through `parse_dnsaddr_record`, then served
//! as the answers to a dialer resolving `/dnsaddr/boot.test`: never a panic, every record
//! parses as the rule says, no lookup past `max_depth`, no more than `max_resolved`
//! results dialed, no other peer's address for a `/p2p/` name, every caller finished once
//! and nothing left in flight (`dialer_tests::targets::dnsaddr_records`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = dialer_tests::targets::dnsaddr_records(data) {
        panic!("{violation}");
    }
});
