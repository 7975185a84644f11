//! A global allocator that counts allocations: the one place this crate uses `unsafe`.
//!
//! `core_allocs_per_request` needs to know how many times the core allocates, and the
//! only way to see every allocation of a dependency is to sit under it as the process's
//! `#[global_allocator]`. Implementing [`GlobalAlloc`] is `unsafe` by definition (the
//! trait's contract cannot be checked by the compiler), so this module allows
//! `unsafe_code`; every other module of the crate forbids it.
//!
//! The wrapper adds no logic of its own: each method forwards its arguments unchanged to
//! [`System`], so it upholds `GlobalAlloc`'s contract exactly as far as `System` does, and
//! only bumps a relaxed atomic counter on the way (allocation and reallocation; freeing is
//! not an allocation).

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// [`System`], counting every `alloc`, `alloc_zeroed` and `realloc`.
pub(crate) struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// layout, alignment and ownership requirements are exactly `System`'s; the counter is a
// lock-free atomic and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract for `layout`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was returned by this allocator, i.e. by `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `ptr` was returned by `System` with `layout`; the caller upholds the rest.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations (and reallocations) made by the whole process so far.
pub(crate) fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

#[global_allocator]
static GLOBAL: Counting = Counting;
