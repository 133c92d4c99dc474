//! partybus's one integration-test binary: black-box tests of the library,
//! the in-process server on `127.0.0.1:0` and the built `partybus` binary.
//! One module per area, one shared harness ([`util`]): one link step for the
//! whole suite instead of one per file.
//!
//! # Layout
//! - [`util`]: the harness. The one wait constant and wait helper, the
//!   in-process server, the spawned binary, the HTTP and WebSocket clients,
//!   temp dirs; [`util::hub`] is a WebSocket hub behind a one-route server.
//! - [`cli`]: the built binary's commands, flags, environment and signals.
//! - [`catalog_cli`]: `partybus catalog import` and `check`, and serving the result.
//! - [`core_runtime`], [`scenarios`], [`event_serde`]: the app in process.
//! - [`store_replay`]: property tests of the read model against replay.
//! - [`durability`]: the SQLite journal, `kill -9`, restart and compaction.
//! - [`faults`]: a full disk, a read-only file system, no descriptors left.
//! - [`http_api`], [`cors`], [`limits`], [`http_docs`]: the REST API.
//! - [`diff`]: comparing two parties' plans, over HTTP and offline.
//! - [`replay`]: per-party digests across restarts and compactions; `partybus verify`.
//! - [`proxy`]: behind a reverse proxy (`--public-url`, `--trusted-proxy`).
//! - [`ws_stream`], [`ws_control`]: the WebSocket hub.
//! - [`loadgen`]: `partybus loadgen` against a real server.
//! - [`operations`]: exit codes, token files, the metrics token, draining.
//! - [`packaging`]: `--version`, `healthcheck`, systemd notifications, JSON logs.
//! - [`web_ui`]: the planning page in headless Chromium.
//! - [`redis_fixture`]: the harness's own `redis-server` ([`util::redis`]).
//! - [`cluster`]: several nodes on one Redis (scale-out).
//! - [`deploy`]: the Grafana dashboard and Prometheus alerts against a live
//!   `/metrics`; the connection layer's refusals as JSON, counted and logged.
//!
//! Run one area with `cargo test --test it <module>::`.

mod util;

mod catalog_cli;
mod cli;
mod cluster;
mod core_runtime;
mod cors;
mod deploy;
mod diff;
mod durability;
mod event_serde;
mod faults;
mod fork;
mod http_api;
mod http_docs;
mod limits;
mod loadgen;
mod operations;
mod packaging;
mod proxy;
mod redis_fixture;
mod replay;
mod scenarios;
mod store_replay;
mod web_ui;
mod ws_control;
mod ws_stream;
