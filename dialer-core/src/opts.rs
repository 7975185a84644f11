//! What a caller can ask of one dial request.

/// How urgent a request is (R-P1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Priority {
    /// Fails fast with [`DialRefused::NoTokens`](crate::DialRefused::NoTokens) when the
    /// pool is empty (R-T4).
    #[default]
    Normal,
    /// Proceeds without tokens when the pool is empty, one address at a time (R-P1).
    High,
}

/// Options of one [`Dialer::dial`](crate::Dialer::dial) call.
///
/// Built from [`DialOpts::default`] (a normal-priority request that respects the deny
/// list) with one `with_*` call per change, so new options never break a caller:
///
/// ```
/// use dialer_core::{DialOpts, Priority};
///
/// let opts = DialOpts::default().with_priority(Priority::High).with_ignore_backoff(true);
/// assert_eq!(opts.priority, Priority::High);
/// assert!(opts.ignore_backoff);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct DialOpts {
    /// [`Priority::High`] proceeds outside the pool when it is empty (R-P1). A caller that
    /// joins a request in flight (R-R8) does not change the request's priority.
    pub priority: Priority,
    /// Dial even addresses that are on the deny list (R-D7): a dial the user asked for
    /// explicitly, like go-libp2p's force-direct dial. The results still count: a failure
    /// lowers confidence and denies the address again, a success lifts its entry. A caller
    /// that joins a request in flight with this set makes the shared request ignore the
    /// deny list from then on (nothing is spent by it that the caller did not ask for).
    /// Pruned, duplicate and undialable addresses are still skipped.
    pub ignore_backoff: bool,
}

impl DialOpts {
    /// The defaults: normal priority, deny list respected.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`priority`](Self::priority).
    #[must_use]
    pub fn with_priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Sets [`ignore_backoff`](Self::ignore_backoff).
    #[must_use]
    pub fn with_ignore_backoff(mut self, ignore: bool) -> Self {
        self.ignore_backoff = ignore;
        self
    }
}

impl From<Priority> for DialOpts {
    fn from(priority: Priority) -> Self {
        Self::default().with_priority(priority)
    }
}
