//! Runs the fuzz targets' logic under `cargo test`, on stable: every committed corpus
//! file, then a few thousand inputs from a seeded PRNG. The targets themselves live in
//! `dialer_tests::targets`, so this is exactly the code libFuzzer drives.

use std::path::{Path, PathBuf};

use dialer_core::check::Violation;
use dialer_tests::targets::{config_and_addrs, dnsaddr_records, machine, restore};

type Target = fn(&[u8]) -> Result<(), Violation>;

/// Random inputs per target; a seeded PRNG keeps every run (and every failure) the same.
const GENERATED: usize = 2_000;

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(name: &str, target: Target) -> usize {
    let files = corpus(name);
    for file in &files {
        let data = std::fs::read(file).expect("readable corpus file");
        if let Err(v) = target(&data) {
            panic!("{} fails: {v}", file.display());
        }
    }
    files.len()
}

/// xorshift64*: tiny, deterministic, good enough to spread bytes.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = (self.next() as usize) % max;
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn generated(seed: u64, target: Target) {
    let mut rng = XorShift(seed);
    for i in 0..GENERATED {
        let data = rng.bytes(1024);
        if let Err(v) = target(&data) {
            panic!("generated input #{i} (seed {seed:#x}) fails: {v}\ninput: {data:?}");
        }
    }
}

#[test]
fn machine_corpus_replays_clean() {
    let n = replay("machine", machine);
    assert!(n >= 5, "the machine seed corpus is missing ({n} files)");
}

#[test]
fn config_and_addrs_corpus_replays_clean() {
    let n = replay("config_and_addrs", config_and_addrs);
    assert!(
        n >= 5,
        "the config_and_addrs seed corpus is missing ({n} files)"
    );
}

#[test]
fn machine_holds_on_generated_inputs() {
    generated(0x9E37_79B9_7F4A_7C15, machine);
}

#[test]
fn config_and_addrs_holds_on_generated_inputs() {
    generated(0xD1B5_4A32_D192_ED03, config_and_addrs);
}

// R-C7
#[test]
fn restore_corpus_replays_clean() {
    let n = replay("restore", restore);
    assert!(n >= 5, "the restore seed corpus is missing ({n} files)");
}

// R-C7
#[test]
fn restore_holds_on_generated_inputs() {
    generated(0x2545_F491_4F6C_DD1D, restore);
}

// R-N1 … R-N4, R-R10
#[test]
fn names_corpus_replays_clean() {
    let n = replay("names", dialer_tests::names::names_target);
    assert!(n >= 5, "the names seed corpus is missing ({n} files)");
}

// R-N1 … R-N4, R-R10
#[test]
fn names_holds_on_generated_inputs() {
    generated(0x94D0_49BB_1331_11EB, dialer_tests::names::names_target);
}

// R-N3, R-N4
#[test]
fn dnsaddr_records_corpus_replays_clean() {
    let n = replay("dnsaddr_records", dnsaddr_records);
    assert!(
        n >= 5,
        "the dnsaddr_records seed corpus is missing ({n} files)"
    );
}

// R-N3, R-N4
#[test]
fn dnsaddr_records_holds_on_generated_inputs() {
    generated(0x6A09_E667_F3BC_C908, dnsaddr_records);
}

/// Pieces of a `dnsaddr` zone, for inputs shaped like records: random bytes seldom start
/// with `dnsaddr=`, so they rarely reach the dialer half of `dnsaddr_records`.
const ZONE_PIECES: &[&str] = &[
    "dnsaddr=",
    "dnsaddr=",
    "/dnsaddr/boot.test",
    "/dnsaddr/a.test",
    "/dns4/x.test",
    "/dns/y.test",
    "/dns6/z.test",
    "/ip4/127.0.0.1",
    "/ip4/127.0.0.2",
    "/ip6/::1",
    "/ip4/0.0.0.0",
    "/tcp/1",
    "/tcp/4001",
    "/udp/1/quic-v1",
    "/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN",
    "/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN",
    "!",
    "\n",
    "\n",
    "\n",
    "\n\n",
    "/",
    "x",
];

// R-N3, R-N4
#[test]
fn dnsaddr_records_holds_on_generated_zones() {
    let seed = 0xBB67_AE85_84CA_A73B;
    let mut rng = XorShift(seed);
    for i in 0..GENERATED {
        let mut data: Vec<u8> = (0..7).map(|_| rng.next() as u8).collect();
        for _ in 0..rng.next() % 48 {
            let piece = ZONE_PIECES[(rng.next() as usize) % ZONE_PIECES.len()];
            data.extend_from_slice(piece.as_bytes());
        }
        if let Err(v) = dnsaddr_records(&data) {
            panic!(
                "generated zone #{i} (seed {seed:#x}) fails: {v}\ninput: {:?}",
                String::from_utf8_lossy(&data)
            );
        }
    }
}
