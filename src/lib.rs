//! o365sync: an idempotent, incremental collector of Microsoft 365 audit logs (Office 365 Management Activity API)
//! that normalizes records to OCSF 1.8.0 and delivers them to sinks. See ARCHITECTURE.md for the map.

pub mod api;
pub mod auth;
pub mod cli;
pub mod cloud;
pub mod content_type;
pub mod docs;
pub mod doctor;
pub mod emulator;
pub mod exec;
pub mod exit;
pub mod global;
pub mod job;
pub mod logging;
pub mod normalize;
pub mod plan;
pub mod reconcile;
pub mod shard;
pub mod sink;
pub mod state;
