//! What a partition's operations fail with.

use super::batch::BatchError;
use super::producer_state::SequenceError;
use super::validator::ValidationError;
use std::io;

/// Why an append, read or admin operation on a partition failed (mapped to a Kafka error code at
/// the API edge).
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The offset is outside [log start, log end].
    #[error("offset {offset} is out of range [{start}, {end}]")]
    OffsetOutOfRange {
        /// The offset asked for.
        offset: i64,
        /// The log start offset.
        start: i64,
        /// The log end offset.
        end: i64,
    },
    /// A batch's framing is bad.
    #[error("invalid batch: {0}")]
    Batch(#[from] BatchError),
    /// The partition was deleted under the caller.
    #[error("the partition was deleted")]
    Deleted,
    /// The validator refused the append.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The producer's sequence or epoch does not fit its state.
    #[error("{0}")]
    Sequence(#[from] SequenceError),
    /// The file system failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

