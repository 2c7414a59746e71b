//! Odradek: a Kafka-compatible broker over a native, segmented, append-only log.

pub mod api;
pub mod config;
pub mod config_def;
pub mod fuzz;
pub mod group;
pub mod log;
pub mod meta;
pub mod server;
pub mod txn;

pub use config::Config;
pub use server::{Broker, Handle};
