//! The storage engine: record batches, segments, indexes, partitions. Knows bytes, files and
//! offsets; nothing of the network.

pub mod batch;
pub mod cleaner;
pub mod compression;
pub mod config;
pub mod index;
pub mod manager;
pub mod partition;
pub mod producer_state;
pub mod records;
pub mod segment;
pub mod validator;

pub use manager::{LogManager, LogManagerConfig, Topic, TopicError};
pub use partition::{LogError, Partition, LEADER_EPOCH};
pub use segment::FileSlice;

/// The names of the entries of `dir`.
pub(crate) fn list_dir(dir: &std::path::Path) -> std::io::Result<Vec<String>> {
    std::fs::read_dir(dir)?.map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned())).collect()
}
