//! partybus: plans parties with a team of event-driven agents and streams
//! every step to its clients live.
//!
//! # Layout
//! - [`build_info`]: the version and commit this binary was built from.
//! - [`event`]: the envelope, topics and typed payloads.
//! - [`domain`]: agent names, money ranges and agent results.
//! - [`bus`]: sequencing, fan-out, history, dead letters, metrics.
//! - [`journal`]: durable append and replay (SQLite, or in memory).
//! - [`recovery`]: rebuilding state from the journal, resuming interrupted
//!   planning, compaction snapshots.
//! - [`idempotency`]: `Idempotency-Key` records.
//! - [`export`]: a party's plan as JSON or CSV.
//! - [`diff`]: the semantic difference of two parties' plans (what-if).
//! - [`digest`]: per-party chain and state digests (canonical form).
//! - [`verify`]: `partybus verify`, replaying a journal to check every digest.
//! - [`healthcheck`]: `partybus healthcheck`, one HTTP probe of a running server.
//! - [`logging`]: the binary's log formats (text, JSON lines).
//! - [`notify`]: systemd's readiness protocol (`NOTIFY_SOCKET`).
//! - [`progress`]: showing a journal replay's progress.
//! - [`store`]: the read model, a pure fold over events.
//! - [`deferred`]: results restored from a snapshot, decoded on first read.
//! - [`catalog`]: the supplier data set and its search.
//! - [`cluster`]: a cluster node's leases on partitions of the shared log.
//! - [`agents`]: the pure agents, the scheduler and their thread runtime.
//! - [`server`]: HTTP routes and WebSocket streams.
//! - [`app`]: the wired system, as the binary, the tests and the benches start it.
//! - [`loadgen`]: re-export of the `loadgen` crate (crates/loadgen), the load
//!   generator behind `partybus loadgen`; a client of the API only, it
//!   depends on nothing here.
#![deny(unsafe_code)]
#![warn(missing_docs)]
#![warn(unreachable_pub)]

pub mod agents;
pub mod app;
pub mod build_info;
pub mod bus;
pub mod catalog;
pub mod cluster;
mod deferred;
pub mod diff;
pub mod digest;
pub mod domain;
pub mod eval;
pub mod event;
pub mod export;
pub mod fork;
pub mod healthcheck;
mod idempotency;
pub mod journal;
pub mod logging;
pub mod notify;
pub mod progress;
pub mod recovery;
pub mod server;
pub mod store;
pub mod verify;

pub use app::{App, AppError, Config};
