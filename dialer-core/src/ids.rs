//! Newtype identifiers and the cheap hasher the core uses for its id-keyed maps.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(u64);

        impl $name {
            /// Builds an id from its raw value.
            ///
            /// Ids are handed out by the core and never reused; building one by hand is
            /// only useful to runtimes that keep ids in their own tables, and to tests that
            /// report on ids the core never issued (which the core answers with an error).
            pub const fn from_raw(raw: u64) -> Self {
                Self(raw)
            }

            /// The raw value of this id.
            pub const fn into_raw(self) -> u64 {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}#{}", stringify!($name), self.0)
            }
        }
    };
}

id_type!(
    /// One dial request: the shared unit that holds tokens and dials a peer's addresses.
    ///
    /// Several callers may wait on one request (R-R8), each with its own [`CallerId`].
    RequestId
);
id_type!(
    /// One attempt to dial one multiaddr, named in [`StartDial`](crate::StartDial) and in
    /// every report the runtime makes about it.
    DialId
);
id_type!(
    /// One caller waiting on a request. Each caller receives exactly one
    /// [`Event::Finished`](crate::Event::Finished) and can cancel only its own wait.
    CallerId
);

/// Hasher for the core's own `u64` ids, which are handed out in sequence and never come
/// from outside: nearly free, and it keeps recent ids close together in memory.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached if an id type ever hashes as bytes; keep it correct anyway.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        // Ids come in sequence, so the low bits alone spread them over the buckets, and
        // ids made close in time (a request and its dials) land in neighbouring buckets:
        // with 100,000 requests in flight the hot entries stay in a few cache lines
        // instead of being scattered over the whole table. The low 7 bits are copied to
        // the top as well, where hashbrown takes its per-bucket tag from, so neighbours
        // have distinct tags.
        self.0 = self.0.rotate_left(5) ^ n ^ (n << 57);
    }
}

/// A map keyed by one of the core's ids.
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// A map keyed by multiaddrs or peer ids. Hashing them dominated the core's cost with
/// SipHash; foldhash is several times faster and still seeded per process, so keys that
/// arrive from remote peers cannot be chosen to collide in advance.
pub(crate) type KeyMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Hands out ids in sequence; ids are never reused, so a late report cannot hit a newer dial.
#[derive(Debug, Default)]
pub(crate) struct IdSource(u64);

impl IdSource {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
}
