//! Pure product rules, no I/O: field paths and diffs, field mappings,
//! eligibility, integration specs, the debounce planner, the status badge,
//! the retry schedule, SCIM resources as JSON, and what a full sync does
//! with a record and its third-party user. Everything here is decided from values and a
//! `now`, so it is tested without a store, a clock or a network.

pub mod badge;
pub mod eligibility;
pub mod fields;
pub mod full_sync;
pub mod integration;
pub mod mapping;
pub mod numbers;
pub mod planner;
pub mod resource;
pub mod retry;
pub mod settings;
pub mod validity;
