//! The global token pool (R-T1, R-T3, R-T6, R-T8).

/// Counts tokens; a token is the right to keep one dial in flight.
///
/// The pool never holds more than its size out (R-T6): it grants `min(requested,
/// available)` (R-T3) and a release makes tokens available to the very next request
/// (R-T8).
#[derive(Debug, Clone)]
pub(crate) struct TokenPool {
    size: usize,
    in_use: usize,
}

impl TokenPool {
    pub(crate) fn new(size: usize) -> Self {
        Self { size, in_use: 0 }
    }

    #[cfg(feature = "invariants")]
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    pub(crate) fn in_use(&self) -> usize {
        self.in_use
    }

    pub(crate) fn available(&self) -> usize {
        self.size - self.in_use
    }

    /// Grants `min(wanted, available)` tokens and returns how many.
    pub(crate) fn acquire(&mut self, wanted: usize) -> usize {
        let granted = wanted.min(self.available());
        self.in_use += granted;
        granted
    }

    /// Returns `n` tokens. Saturates rather than underflows: the caller tracks what each
    /// request holds, and a bookkeeping slip must not turn into a panic in production.
    pub(crate) fn release(&mut self, n: usize) {
        debug_assert!(n <= self.in_use, "released more tokens than are in use");
        self.in_use -= n.min(self.in_use);
    }
}
