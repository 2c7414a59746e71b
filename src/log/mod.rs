//! The storage engine: record batches, segments, indexes, partitions. Knows bytes, files and
//! offsets; nothing of the network.

pub mod batch;
pub mod cleaner;
pub mod compression;
pub mod index;
pub mod manager;
pub mod partition;
pub mod producer_state;
pub mod records;
pub mod segment;
pub mod topics_file;
pub mod validator;

pub use manager::{LogManager, Topic, TopicError};
pub use partition::{LogError, Partition, LEADER_EPOCH};
pub use segment::FileSlice;
