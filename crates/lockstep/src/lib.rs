//! Lockstep, the app: configuration, domain rules, the engine's workers,
//! connectors to third parties, and the HTTP server.
//!
//! The data flows one way: the API stores a change and the sync states it
//! implies in one transaction ([`domain::planner`] decides, the store
//! writes); workers ([`engine`]) claim due work from the store; connectors
//! ([`connectors`]) talk to third parties; results go back to the store.
//! Nothing but the store holds state, so any number of processes can share
//! one PostgreSQL.

mod allocator;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connectors;
pub mod console;
pub mod domain;
pub mod engine;
pub mod http;
pub mod metrics;
pub mod secrets;
pub mod store;
pub mod telemetry;

pub use app::App;
pub use engine::Engine;
pub use http::AppState;
