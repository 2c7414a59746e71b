//! Odradek: a Kafka-compatible broker over a native, segmented, append-only log.
//!
//! # The map
//!
//! Each module owns one thing, and depends only on the modules below it (an arrow `a -> b`
//! means `a` imports `b`; `cargo test --test module_graph -- --nocapture` prints the graph and
//! fails on a cycle):
//!
//! ```text
//! server -> api -> broker -> config -> txn -> group -> internal_topic -> log -> util
//!                                        |      |                        |  -> config_def
//!                                        v      +-> request (context,    |
//!                                       meta        Answer, splicing) ---+
//! ```
//!
//! Each arrow stands for "and everything below it may be imported too" (`api` also imports
//! `log` and `request` directly); nothing points up. The leaves: `util` (clock, atomic writes,
//! the periodic task), `config_def` (Kafka's ConfigDef: typed key rows, value parsing) and
//! `meta` (above those two only).
//!
//! - `server`: the network edge, Kafka's SocketServer: `listener` accepts (connection quotas),
//!   `connection` frames requests and writes responses in order (sendfile for file ranges),
//!   `dispatch` routes an API key to its handler and builds ApiVersions from the same table.
//! - `api`: one file per API family (Kafka's KafkaApis): decoded request in, response out.
//! - `request`: what `server` and `api` share: `RequestContext`, `Answer` (now or later), and
//!   the response encoder that splices file ranges in place of record bytes.
//! - `broker`: the `Broker`, the parts a handler reaches (config, logs, coordinators).
//! - `config`: the broker's settings (Kafka's KafkaConfig), from file, environment and flags;
//!   its key rows and `log::config`'s topic rows drive parsing, DescribeConfigs and the README.
//! - `txn`: the transaction coordinator, over `__transaction_state`.
//! - `group`: the classic group coordinator (as Kafka's group-coordinator: `classic/` state
//!   machine, `group_metadata_manager`, `offset_metadata_manager`, `records`, `timer`), over
//!   `__consumer_offsets`; it writes a change's records before applying it.
//! - `internal_topic`: a compacted topic a coordinator keeps its state in, replayed at start.
//! - `log`: the storage engine, knowing bytes, files and offsets and nothing of the network:
//!   `LogManager` (topics, the data dir) -> `Partition` (Kafka's UnifiedLog) -> `LocalLog`
//!   (segments) -> `Segment` (a `.log` with its `.index` and `.timeindex`); `validator`,
//!   `log_loader`, `group_commit`, `producer_state`, `cleaner` with `cleaner_manager`, `config`
//!   (LogConfig and the topic key rows), `batch` and `records` (the v2 format).
//! - `meta`: `meta.properties` and the producer id blocks.
//! - `fuzz`: the fuzz targets' entry points (used by `fuzz/` and the corpus test only).
//!
//! # A produce, socket to disk
//! `server::listener` -> `server::connection::serve` (reads a size-prefixed frame) ->
//! `server::dispatch::handle` (header, version check, decode) -> `api::produce::handle` (per
//! partition) -> `log::Partition::append`: `log::validator::validate` (Kafka's LogValidator) ->
//! producer sequence checks (`LocalLog::check_sequences`) -> per batch `LocalLog::maybe_roll`,
//! `Segment::append` (`pwritev`, then the indexes) -> the new log end offset is published on a
//! watch channel. With `acks.all.fsync` the handler answers `Answer::Later`, after
//! `Partition::sync_upto` (group commit); the connection keeps reading meanwhile.
//!
//! # A fetch, disk to socket
//! `dispatch` -> `api::fetch::handle` -> `Partition::read` (lock, pick the segment,
//! `Segment::read` via the offset index) -> a `FileSlice` -> `request::Splicer::records` puts a
//! placeholder of that length in the response -> kafka-protocol encodes it -> the connection
//! sends the bytes around it and the file range with sendfile(2). Too little data: the handler
//! waits on the partitions' watch channels until `max_wait_ms`.

#![warn(missing_docs, unreachable_pub)]

pub mod api;
pub mod broker;
pub mod config;
pub mod config_def;
pub mod fuzz;
pub mod group;
pub mod internal_topic;
pub mod log;
pub mod meta;
pub mod request;
pub mod security;
pub mod server;
pub mod txn;
pub mod util;

pub use broker::Broker;
pub use config::Config;
pub use server::Handle;
