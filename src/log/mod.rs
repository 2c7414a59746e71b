//! The storage engine: record batches, segments, indexes, partitions. Knows bytes, files and
//! offsets; nothing of the network.

pub mod batch;
pub mod cleaner;
pub mod cleaner_manager;
pub mod compression;
pub mod config;
pub mod error;
mod group_commit;
pub mod index;
mod local_log;
pub mod log_dir;
pub mod log_loader;
pub mod manager;
pub mod partition;
pub mod producer_state;
pub mod records;
pub mod segment;
pub mod topic;
pub mod topics_file;
pub mod validator;

pub use error::LogError;
pub use group_commit::SyncStats;
pub use log_loader::Shutdown;
pub use manager::{LogManager, LogManagerConfig, Topic, TopicError};
pub use partition::{FetchIsolation, Partition, ReadLimit, LEADER_EPOCH};
pub use segment::FileSlice;
