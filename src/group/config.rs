//! The group coordinator's settings, after Kafka's `GroupCoordinatorConfig` (the broker's
//! `config` reads them; the coordinator owns their meaning).

/// Group coordinator settings (Kafka's `group.*` and `offsets.*`).
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// `group.min.session.timeout.ms`: shorter session timeouts are refused.
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`: longer session timeouts are refused.
    pub max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`: how long an empty group waits for more members.
    pub initial_rebalance_delay_ms: u64,
    /// `offsets.topic.num.partitions`.
    pub offsets_topic_partitions: i32,
    /// `offsets.topic.segment.bytes`.
    pub offsets_topic_segment_bytes: u64,
    /// `offsets.retention.minutes`, in milliseconds.
    pub offsets_retention_ms: i64,
    /// `offsets.retention.check.interval.ms`: how often expired offsets are removed.
    pub offsets_retention_check_interval_ms: u64,
    /// `offset.metadata.max.bytes`: longer commit metadata is refused.
    pub offset_metadata_max_bytes: usize,
}
