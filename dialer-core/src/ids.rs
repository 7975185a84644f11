//! Newtype identifiers, and the hash map type for the core's multiaddr- and peer-keyed
//! tables. Id-keyed tables are slabs ([`crate::slab`]).

use std::collections::HashMap;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $name(u64);

        impl $name {
            /// Builds an id from its raw value.
            ///
            /// Ids are handed out by the core. An id names one entry of a table (one
            /// request, dial or caller) and never collides with an id still in use: the
            /// raw value is `generation << 32 | (slot + 1)`, and a slot's 32-bit
            /// generation moves on every time its entry ends. So an id that ended is
            /// handed out again only once its slot's generation wraps (2³² reuses of that
            /// one slot), and until then a report or cancel naming it is answered with an
            /// error ([`ReportError::UnknownDial`](crate::ReportError::UnknownDial),
            /// [`CancelError::UnknownCaller`](crate::CancelError::UnknownCaller)) and
            /// changes nothing. Ids are **not** a sequence: freed slots are reused first,
            /// so do not compare ids to tell which is older.
            ///
            /// Building one by hand is only useful to runtimes that keep ids in their own
            /// tables, and to tests that name an id the core never issued: the core never
            /// issues `0`, nor any value whose low 32 bits are 0 (`n << 32`).
            pub const fn from_raw(raw: u64) -> Self {
                Self(raw)
            }

            /// The raw value of this id.
            pub const fn into_raw(self) -> u64 {
                self.0
            }
        }

        impl crate::slab::SlabKey for $name {
            fn from_raw(raw: u64) -> Self {
                Self(raw)
            }

            fn into_raw(self) -> u64 {
                self.0
            }
        }

        /// `DialId#3` for the first use of a slot, `DialId#3.2` for its third (the
        /// generation after the dot), so that logs stay readable after slots are reused.
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let (generation, low) = (self.0 >> 32, self.0 & u64::from(u32::MAX));
                if generation == 0 {
                    write!(f, "{}#{}", stringify!($name), low)
                } else {
                    write!(f, "{}#{}.{}", stringify!($name), low, generation)
                }
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
    /// One resolution of one name for one record kind (R-N1), named in
    /// [`Resolve`](crate::names::Resolve) and in the runtime's report
    /// ([`Dialer::handle_resolved`](crate::Dialer::handle_resolved)).
    ResolveId
);
id_type!(
    /// One caller waiting on a request. Each caller receives exactly one
    /// [`Event::Finished`](crate::Event::Finished) and can cancel only its own wait.
    CallerId
);

/// A map keyed by multiaddrs or peer ids. Hashing them dominated the core's cost with
/// SipHash; foldhash is several times faster and still seeded per process, so keys that
/// arrive from remote peers cannot be chosen to collide in advance.
pub(crate) type KeyMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
