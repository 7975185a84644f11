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

/// Hasher for the core's own `u64` ids: a multiply is enough for ids that are handed
/// out in sequence, and it is several times cheaper than SipHash on the hot path.
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
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
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
