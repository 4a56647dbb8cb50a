//! Pure product rules, no I/O: field paths and diffs, field mappings,
//! eligibility, integration specs, the debounce planner, the status badge
//! and the retry schedule. Everything here is decided from values and a
//! `now`, so it is tested without a store, a clock or a network.

pub mod badge;
pub mod eligibility;
pub mod fields;
pub mod integration;
pub mod mapping;
pub mod numbers;
pub mod planner;
pub mod retry;
