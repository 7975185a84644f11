//! Settings of a [`Dialer`](crate::Dialer), with the SPEC's defaults and their validation.

use std::time::Duration;

/// How a [`Dialer`](crate::Dialer) behaves. Build one with [`Config::default`] and change
/// the fields you need; [`Dialer::new`](crate::Dialer::new) validates it.
///
/// | field | default | rule |
/// |---|---|---|
/// | `max_tokens` | 100 | R-T6: caps parallel dials (sockets) across all requests |
/// | `max_per_peer_dials` | 4 | R-T2: most tokens one request asks for |
/// | `dial_timeout` | 30 s | R-R6: the whole request |
/// | `address_timeout` | 10 s | R-R6a: one dial |
/// | `max_addrs_per_request` | 25 | R-R9 |
/// | `deny_duration` | 60 s | R-D2 |
/// | `stagger` | off | R-S1 |
/// | `confidence_capacity` | 65 536 | R-C6: entries in the confidence table (a few MB at most) |
/// | `deny_list_capacity` | 4 096 | R-D3: entries in the deny list |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Size of the global token pool: the most dials in flight at once (R-T6).
    pub max_tokens: usize,
    /// The most tokens (parallel dials) one request asks for (R-T2).
    pub max_per_peer_dials: usize,
    /// Deadline of a whole request, from its start (R-R6).
    pub dial_timeout: Duration,
    /// Deadline of a single dial, from its start (R-R6a).
    pub address_timeout: Duration,
    /// Requests with more addresses than this are rejected (R-R9). When callers join a
    /// request (R-R8), the merged list is also capped at this size; extra addresses of a
    /// joining caller are dropped (and counted in [`Stats::addresses_skipped`](crate::Stats)).
    pub max_addrs_per_request: usize,
    /// How long a failed address stays on the deny list (R-D2).
    pub deny_duration: Duration,
    /// Happy-eyeballs delay between the dials of one request (R-S1); `None` starts all of a
    /// request's dials at once, as the seed design does.
    pub stagger: Option<Duration>,
    /// Most entries in the confidence table, least recently used go first (R-C6).
    /// `0` turns confidence learning off: every address then keeps confidence 1.
    pub confidence_capacity: usize,
    /// Most entries in the deny list (R-D3); when full, the entry closest to expiry goes
    /// first. `0` turns the deny list off.
    pub deny_list_capacity: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_tokens: 100,
            max_per_peer_dials: 4,
            dial_timeout: Duration::from_secs(30),
            address_timeout: Duration::from_secs(10),
            max_addrs_per_request: 25,
            deny_duration: Duration::from_secs(60),
            stagger: None,
            // Sized for a node that dials ~10,000 peers of ~4 addresses each: the dialing
            // benchmark's population learns ~23,000 addresses, and a table that evicts them
            // forgets what it learned (first-try wins fell from 85% to 72% at 16,384).
            confidence_capacity: 65_536,
            deny_list_capacity: 4_096,
        }
    }
}

/// Why a [`Config`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `max_tokens` is 0: no request could ever dial.
    #[error("max_tokens must be at least 1")]
    ZeroTokens,
    /// `max_per_peer_dials` is 0: no request could ever dial.
    #[error("max_per_peer_dials must be at least 1")]
    ZeroPerPeerDials,
    /// `max_addrs_per_request` is 0: every request would be rejected.
    #[error("max_addrs_per_request must be at least 1")]
    ZeroAddrsPerRequest,
    /// A duration that must be positive is zero: a zero timeout would fail every dial at
    /// once, and a zero stagger is "no stagger", which is spelt `None`.
    #[error("{0} must be greater than zero")]
    ZeroDuration(&'static str),
    /// A duration so large that `now + duration` cannot be represented.
    #[error("{0} is too large to add to an Instant")]
    DurationTooLarge(&'static str),
}

/// Longest duration accepted: ~31 years, far from `Instant` overflow on every platform.
const MAX_DURATION: Duration = Duration::from_secs(1 << 30);

impl Config {
    /// Checks the settings; [`Dialer::new`](crate::Dialer::new) calls this for you.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_tokens == 0 {
            return Err(ConfigError::ZeroTokens);
        }
        if self.max_per_peer_dials == 0 {
            return Err(ConfigError::ZeroPerPeerDials);
        }
        if self.max_addrs_per_request == 0 {
            return Err(ConfigError::ZeroAddrsPerRequest);
        }
        let durations = [
            ("dial_timeout", Some(self.dial_timeout)),
            ("address_timeout", Some(self.address_timeout)),
            ("deny_duration", Some(self.deny_duration)),
            ("stagger", self.stagger),
        ];
        for (name, value) in durations {
            match value {
                Some(d) if d.is_zero() => return Err(ConfigError::ZeroDuration(name)),
                Some(d) if d > MAX_DURATION => return Err(ConfigError::DurationTooLarge(name)),
                _ => {}
            }
        }
        Ok(())
    }
}
