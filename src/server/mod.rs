//! The HTTP and WebSocket front end (`partybus serve`): tiny_http worker pool,
//! routing, JSON bodies and errors, limits, auth, and the WebSocket upgrade.
//!
//! Holds no party state of its own: every read comes from the [`crate::App`],
//! every write is a command to it.

pub mod ws;
