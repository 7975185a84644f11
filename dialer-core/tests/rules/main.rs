//! The SPEC's rules, one by one, on simulated time.
//!
//! Every test names the rule it checks in a comment (`// R-T7`), so `grep -rn 'R-T7'`
//! finds where a rule is covered. All tests run through the harness in `../harness`:
//! a fake clock, a scripted network and the invariant monitor after every step.

#[path = "../harness/mod.rs"]
mod harness;

mod backoff;
mod bad_input;
mod errors;
mod head_start;
mod learning;
mod names;
mod network;
mod observability;
mod queue;
mod requests;
mod saved_state;
mod stagger_priority;
mod time;
mod tokens;
