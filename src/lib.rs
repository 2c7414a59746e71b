//! Odradek: a Kafka-compatible broker over a native, segmented, append-only log.

pub mod api;
pub mod broker;
pub mod config;
pub mod fuzz;
pub mod group;
pub mod internal_topic;
pub mod log;
pub mod meta;
pub mod request;
pub mod server;
pub mod txn;
pub mod util;

pub use config::Config;
pub use broker::Broker;
pub use server::Handle;
