//! Writes the seed corpus, fuzz/seeds/<target>/, from real encodings: requests for every API the
//! broker advertises at every version kafka-protocol encodes, record batches of each codec, a
//! segment written by a real partition, internal-topic records, properties text.
//!
//!     cargo run --manifest-path fuzz/Cargo.toml --example gen_seeds
//!
//! Deterministic: running it again rewrites the same files (stale ones are removed first).

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::add_partitions_to_txn_request::*;
use kafka_protocol::messages::create_partitions_request::*;
use kafka_protocol::messages::create_topics_request::*;
use kafka_protocol::messages::delete_records_request::*;
use kafka_protocol::messages::delete_topics_request::*;
use kafka_protocol::messages::describe_configs_request::*;
use kafka_protocol::messages::describe_log_dirs_request::*;
use kafka_protocol::messages::fetch_request::*;
use kafka_protocol::messages::join_group_request::*;
use kafka_protocol::messages::leave_group_request::*;
use kafka_protocol::messages::list_offsets_request::*;
use kafka_protocol::messages::metadata_request::*;
use kafka_protocol::messages::offset_commit_request::*;
use kafka_protocol::messages::offset_fetch_request::*;
use kafka_protocol::messages::offset_for_leader_epoch_request::*;
use kafka_protocol::messages::produce_request::*;
use kafka_protocol::messages::sync_group_request::*;
use kafka_protocol::messages::txn_offset_commit_request::*;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, Message, StrBytes};
use kafka_protocol::records::{Compression, Record, TimestampType};
use odradek::config::LogConfig;
use odradek::log::validator::AppendOrigin;
use odradek::log::{records, segment, Partition};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const TOPIC: &str = "fuzz";
const GROUP: &str = "fuzz-group";
const TXN: &str = "fuzz-txn";
const TS: i64 = 1_700_000_000_000;

fn s(v: &'static str) -> StrBytes {
    StrBytes::from_static_str(v)
}
fn topic() -> TopicName {
    TopicName(s(TOPIC))
}
fn group() -> GroupId {
    GroupId(s(GROUP))
}
fn txn() -> TransactionalId {
    TransactionalId(s(TXN))
}

/// `n` records (keys k0.., values, one header) as the producer `pid` would send them.
fn client_records(n: i64, pid: i64, transactional: bool) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let mut r = Record {
                transactional,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: pid,
                producer_epoch: if pid >= 0 { 0 } else { -1 },
                timestamp_type: TimestampType::Creation,
                offset: i,
                // kafka-protocol starts a new batch where offset - sequence changes.
                sequence: if pid >= 0 { i as i32 } else { i as i32 - 1 },
                timestamp: TS + i,
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(format!("value {i}"))),
                headers: Default::default(),
            };
            r.headers.insert(s("h"), Some(Bytes::from_static(b"hv")));
            r
        })
        .collect()
}

fn batch(recs: &[Record], c: Compression) -> Vec<u8> {
    records::encode(recs, c).expect("encode batch").to_vec()
}

/// A transaction marker as the coordinator writes it.
fn marker(pid: i64, commit: bool) -> Vec<u8> {
    let mut key = BytesMut::new();
    key.put_i16(0);
    key.put_i16(commit as i16);
    let mut value = BytesMut::new();
    value.put_i16(0);
    value.put_i32(0);
    let r = Record {
        transactional: true,
        control: true,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: pid,
        producer_epoch: 0,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: TS,
        key: Some(key.freeze()),
        value: Some(value.freeze()),
        headers: Default::default(),
    };
    batch(&[r], Compression::None)
}

const CODECS: [Compression; 5] = [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];

struct Seeds {
    root: PathBuf,
    total: usize,
}

impl Seeds {
    fn target(&self, name: &str) -> PathBuf {
        let dir = self.root.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create seed dir");
        dir
    }
    fn write(&mut self, dir: &Path, name: &str, bytes: &[u8]) {
        std::fs::write(dir.join(name), bytes).expect("write seed");
        self.total += bytes.len();
    }
}

/// Encodes each variant at every version it encodes at; returns how many seeds were written.
fn requests<R: Encodable + Message>(seeds: &mut Seeds, dir: &Path, key: ApiKey, variants: Vec<(&str, R)>) -> usize {
    let mut written = BTreeSet::new();
    for version in R::VERSIONS.min..=R::VERSIONS.max {
        for (name, req) in &variants {
            let header = RequestHeader::default()
                .with_request_api_key(key as i16)
                .with_request_api_version(version)
                .with_correlation_id(key as i32 * 100 + version as i32)
                .with_client_id(Some(s("fuzz-client")));
            let mut buf = BytesMut::new();
            if header.encode(&mut buf, key.request_header_version(version)).is_err() || req.encode(&mut buf, version).is_err() {
                continue;
            }
            if written.insert(buf.to_vec()) {
                seeds.write(dir, &format!("{:02}-{key:?}-v{version}-{name}", key as i16), &buf);
            }
        }
    }
    written.len()
}

fn request_seeds(seeds: &mut Seeds) {
    let dir = seeds.target("request");
    let produce = |acks: i16, recs: Vec<u8>, txn_id: Option<TransactionalId>| {
        ProduceRequest::default().with_acks(acks).with_timeout_ms(1000).with_transactional_id(txn_id).with_topic_data(vec![TopicProduceData::default()
            .with_name(topic())
            .with_partition_data(vec![PartitionProduceData::default().with_index(0).with_records(Some(Bytes::from(recs)))])])
    };
    let fetch = |offset: i64, isolation: i8| {
        FetchRequest::default().with_replica_id(BrokerId(-1)).with_max_wait_ms(0).with_min_bytes(1).with_max_bytes(1 << 20).with_isolation_level(isolation).with_session_epoch(-1).with_topics(vec![
            FetchTopic::default().with_topic(topic()).with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_current_leader_epoch(-1)
                .with_last_fetched_epoch(-1)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(1 << 20)]),
        ])
    };
    let list_offsets = |ts: i64| {
        ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic())
            .with_partitions(vec![ListOffsetsPartition::default().with_partition_index(0).with_current_leader_epoch(-1).with_timestamp(ts)])])
    };
    let subscription = {
        let mut b = BytesMut::new();
        b.put_i16(1);
        ConsumerProtocolSubscription::default().with_topics(vec![s(TOPIC)]).encode(&mut b, 1).expect("subscription");
        b.freeze()
    };
    let assignment = {
        let mut b = BytesMut::new();
        b.put_i16(1);
        ConsumerProtocolAssignment::default()
            .with_assigned_partitions(vec![consumer_protocol_assignment::TopicPartition::default().with_topic(topic()).with_partitions(vec![0])])
            .encode(&mut b, 1)
            .expect("assignment");
        b.freeze()
    };
    let topic_resource = |t: i8, name: &'static str| DescribeConfigsResource::default().with_resource_type(t).with_resource_name(s(name));
    let mut count = std::collections::BTreeMap::new();
    let mut add = |key: ApiKey, n: usize| *count.entry(key as i16).or_insert(0) += n;

    let recs = client_records(3, -1, false);
    let idem = client_records(2, 4000, false);
    add(ApiKey::Produce, requests(seeds, &dir, ApiKey::Produce, vec![
        ("default", ProduceRequest::default()),
        ("acks1", produce(1, batch(&recs, Compression::None), None)),
        ("acksall-zstd", produce(-1, batch(&recs, Compression::Zstd), None)),
        ("acks0-lz4", produce(0, batch(&recs, Compression::Lz4), None)),
        ("idempotent", produce(-1, batch(&idem, Compression::Gzip), None)),
        ("transactional", produce(-1, batch(&client_records(2, 4001, true), Compression::Snappy), Some(txn()))),
    ]));
    add(ApiKey::Fetch, requests(seeds, &dir, ApiKey::Fetch, vec![("default", FetchRequest::default()), ("offset0", fetch(0, 0)), ("committed", fetch(1, 1))]));
    add(ApiKey::ListOffsets, requests(seeds, &dir, ApiKey::ListOffsets, vec![
        ("default", ListOffsetsRequest::default()),
        ("latest", list_offsets(-1)),
        ("earliest", list_offsets(-2)),
        ("max-timestamp", list_offsets(-3)),
        ("by-time", list_offsets(TS)),
    ]));
    add(ApiKey::Metadata, requests(seeds, &dir, ApiKey::Metadata, vec![
        ("default", MetadataRequest::default()),
        ("all", MetadataRequest::default().with_topics(None)),
        ("auto-create", MetadataRequest::default().with_allow_auto_topic_creation(true).with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(topic()))]))),
    ]));
    add(ApiKey::ApiVersions, requests(seeds, &dir, ApiKey::ApiVersions, vec![
        ("default", ApiVersionsRequest::default()),
        ("named", ApiVersionsRequest::default().with_client_software_name(s("fuzz")).with_client_software_version(s("1.0"))),
    ]));
    let creatable = |name: &'static str, n: i32, compact: bool| {
        let mut t = CreatableTopic::default().with_name(TopicName(s(name))).with_num_partitions(n).with_replication_factor(-1);
        if compact {
            t = t.with_configs(vec![
                CreatableTopicConfig::default().with_name(s("cleanup.policy")).with_value(Some(s("compact"))),
                CreatableTopicConfig::default().with_name(s("segment.bytes")).with_value(Some(s("4096"))),
            ]);
        }
        t
    };
    add(ApiKey::CreateTopics, requests(seeds, &dir, ApiKey::CreateTopics, vec![
        ("default", CreateTopicsRequest::default()),
        ("two", CreateTopicsRequest::default().with_timeout_ms(1000).with_topics(vec![creatable(TOPIC, 2, false), creatable("fuzz-compacted", 1, true)])),
        ("validate-only", CreateTopicsRequest::default().with_validate_only(true).with_topics(vec![creatable("fuzz-v", 3, false)])),
    ]));
    add(ApiKey::DeleteTopics, requests(seeds, &dir, ApiKey::DeleteTopics, vec![
        ("default", DeleteTopicsRequest::default()),
        ("names", DeleteTopicsRequest::default().with_topic_names(vec![TopicName(s("fuzz-compacted"))])),
        ("states", DeleteTopicsRequest::default().with_topics(vec![DeleteTopicState::default().with_name(Some(TopicName(s("fuzz-compacted"))))])),
    ]));
    add(ApiKey::OffsetForLeaderEpoch, requests(seeds, &dir, ApiKey::OffsetForLeaderEpoch, vec![
        ("default", OffsetForLeaderEpochRequest::default()),
        ("epoch0", OffsetForLeaderEpochRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![OffsetForLeaderTopic::default()
            .with_topic(topic())
            .with_partitions(vec![OffsetForLeaderPartition::default().with_partition(0).with_current_leader_epoch(-1).with_leader_epoch(0)])])),
    ]));
    add(ApiKey::FindCoordinator, requests(seeds, &dir, ApiKey::FindCoordinator, vec![
        ("default", FindCoordinatorRequest::default()),
        ("group", FindCoordinatorRequest::default().with_key(s(GROUP))),
        ("txn", FindCoordinatorRequest::default().with_key(s(TXN)).with_key_type(1)),
        ("keys", FindCoordinatorRequest::default().with_coordinator_keys(vec![s(GROUP)])),
        ("txn-keys", FindCoordinatorRequest::default().with_key_type(1).with_coordinator_keys(vec![s(TXN)])),
    ]));
    let join = |member: &'static str| {
        JoinGroupRequest::default()
            .with_group_id(group())
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_member_id(s(member))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default().with_name(s("range")).with_metadata(subscription.clone())])
    };
    add(ApiKey::JoinGroup, requests(seeds, &dir, ApiKey::JoinGroup, vec![
        ("default", JoinGroupRequest::default()),
        ("new-member", join("")),
        ("static", join("").with_group_instance_id(Some(s("instance-1")))),
    ]));
    add(ApiKey::SyncGroup, requests(seeds, &dir, ApiKey::SyncGroup, vec![
        ("default", SyncGroupRequest::default()),
        ("leader", SyncGroupRequest::default()
            .with_group_id(group())
            .with_generation_id(1)
            .with_member_id(s("member-1"))
            .with_protocol_type(Some(s("consumer")))
            .with_protocol_name(Some(s("range")))
            .with_assignments(vec![SyncGroupRequestAssignment::default().with_member_id(s("member-1")).with_assignment(assignment.clone())])),
    ]));
    add(ApiKey::Heartbeat, requests(seeds, &dir, ApiKey::Heartbeat, vec![
        ("default", HeartbeatRequest::default()),
        ("member", HeartbeatRequest::default().with_group_id(group()).with_generation_id(1).with_member_id(s("member-1"))),
    ]));
    add(ApiKey::LeaveGroup, requests(seeds, &dir, ApiKey::LeaveGroup, vec![
        ("default", LeaveGroupRequest::default()),
        ("member", LeaveGroupRequest::default().with_group_id(group()).with_member_id(s("member-1"))),
        ("members", LeaveGroupRequest::default().with_group_id(group()).with_members(vec![MemberIdentity::default().with_member_id(s("member-1"))])),
    ]));
    add(ApiKey::OffsetCommit, requests(seeds, &dir, ApiKey::OffsetCommit, vec![
        ("default", OffsetCommitRequest::default()),
        ("simple", OffsetCommitRequest::default()
            .with_group_id(group())
            .with_generation_id_or_member_epoch(-1)
            .with_retention_time_ms(-1)
            .with_topics(vec![OffsetCommitRequestTopic::default().with_name(topic()).with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(2)
                .with_committed_leader_epoch(-1)
                .with_committed_metadata(Some(s("meta")))])])),
    ]));
    add(ApiKey::OffsetFetch, requests(seeds, &dir, ApiKey::OffsetFetch, vec![
        ("default", OffsetFetchRequest::default()),
        ("all", OffsetFetchRequest::default().with_group_id(group()).with_topics(None)),
        ("topic", OffsetFetchRequest::default().with_group_id(group()).with_topics(Some(vec![OffsetFetchRequestTopic::default().with_name(topic()).with_partition_indexes(vec![0])]))),
        ("groups", OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default().with_group_id(group()).with_topics(None)])),
    ]));
    add(ApiKey::DescribeGroups, requests(seeds, &dir, ApiKey::DescribeGroups, vec![
        ("default", DescribeGroupsRequest::default()),
        ("group", DescribeGroupsRequest::default().with_groups(vec![group()])),
    ]));
    add(ApiKey::ListGroups, requests(seeds, &dir, ApiKey::ListGroups, vec![
        ("default", ListGroupsRequest::default()),
        ("filtered", ListGroupsRequest::default().with_states_filter(vec![s("Stable"), s("Empty")]).with_types_filter(vec![s("classic")])),
    ]));
    add(ApiKey::DeleteGroups, requests(seeds, &dir, ApiKey::DeleteGroups, vec![
        ("default", DeleteGroupsRequest::default()),
        ("group", DeleteGroupsRequest::default().with_groups_names(vec![group()])),
    ]));
    add(ApiKey::OffsetDelete, requests(seeds, &dir, ApiKey::OffsetDelete, vec![
        ("default", OffsetDeleteRequest::default()),
        ("partition", OffsetDeleteRequest::default().with_group_id(group()).with_topics(vec![
            offset_delete_request::OffsetDeleteRequestTopic::default().with_name(topic()).with_partitions(vec![offset_delete_request::OffsetDeleteRequestPartition::default().with_partition_index(0)]),
        ])),
    ]));
    add(ApiKey::InitProducerId, requests(seeds, &dir, ApiKey::InitProducerId, vec![
        ("default", InitProducerIdRequest::default()),
        ("idempotent", InitProducerIdRequest::default().with_transaction_timeout_ms(60_000).with_producer_id(ProducerId(-1)).with_producer_epoch(-1)),
        ("transactional", InitProducerIdRequest::default().with_transactional_id(Some(txn())).with_transaction_timeout_ms(60_000).with_producer_id(ProducerId(-1)).with_producer_epoch(-1)),
    ]));
    let txn_topics = vec![AddPartitionsToTxnTopic::default().with_name(topic()).with_partitions(vec![0])];
    add(ApiKey::AddPartitionsToTxn, requests(seeds, &dir, ApiKey::AddPartitionsToTxn, vec![
        ("default", AddPartitionsToTxnRequest::default()),
        ("v3", AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(txn())
            .with_v3_and_below_producer_id(ProducerId(0))
            .with_v3_and_below_producer_epoch(0)
            .with_v3_and_below_topics(txn_topics.clone())),
        ("batched", AddPartitionsToTxnRequest::default().with_transactions(vec![AddPartitionsToTxnTransaction::default()
            .with_transactional_id(txn())
            .with_producer_id(ProducerId(0))
            .with_producer_epoch(0)
            .with_verify_only(true)
            .with_topics(txn_topics)])),
    ]));
    add(ApiKey::AddOffsetsToTxn, requests(seeds, &dir, ApiKey::AddOffsetsToTxn, vec![
        ("default", AddOffsetsToTxnRequest::default()),
        ("group", AddOffsetsToTxnRequest::default().with_transactional_id(txn()).with_producer_id(ProducerId(0)).with_producer_epoch(0).with_group_id(group())),
    ]));
    add(ApiKey::TxnOffsetCommit, requests(seeds, &dir, ApiKey::TxnOffsetCommit, vec![
        ("default", TxnOffsetCommitRequest::default()),
        ("offsets", TxnOffsetCommitRequest::default()
            .with_transactional_id(txn())
            .with_group_id(group())
            .with_producer_id(ProducerId(0))
            .with_producer_epoch(0)
            .with_generation_id(-1)
            .with_topics(vec![TxnOffsetCommitRequestTopic::default().with_name(topic()).with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(1)
                .with_committed_leader_epoch(-1)])])),
    ]));
    add(ApiKey::EndTxn, requests(seeds, &dir, ApiKey::EndTxn, vec![
        ("default", EndTxnRequest::default()),
        ("commit", EndTxnRequest::default().with_transactional_id(txn()).with_producer_id(ProducerId(0)).with_producer_epoch(0).with_committed(true)),
        ("abort", EndTxnRequest::default().with_transactional_id(txn()).with_producer_id(ProducerId(0)).with_producer_epoch(0)),
    ]));
    add(ApiKey::DescribeProducers, requests(seeds, &dir, ApiKey::DescribeProducers, vec![
        ("default", DescribeProducersRequest::default()),
        ("partition", DescribeProducersRequest::default().with_topics(vec![describe_producers_request::TopicRequest::default().with_name(topic()).with_partition_indexes(vec![0])])),
    ]));
    add(ApiKey::ListTransactions, requests(seeds, &dir, ApiKey::ListTransactions, vec![
        ("default", ListTransactionsRequest::default()),
        ("filtered", ListTransactionsRequest::default().with_state_filters(vec![s("Ongoing")]).with_producer_id_filters(vec![ProducerId(0)]).with_duration_filter(1000).with_transactional_id_pattern(Some(s("fuzz.*")))),
    ]));
    add(ApiKey::DescribeTransactions, requests(seeds, &dir, ApiKey::DescribeTransactions, vec![
        ("default", DescribeTransactionsRequest::default()),
        ("id", DescribeTransactionsRequest::default().with_transactional_ids(vec![txn()])),
    ]));
    add(ApiKey::DescribeConfigs, requests(seeds, &dir, ApiKey::DescribeConfigs, vec![
        ("default", DescribeConfigsRequest::default()),
        ("topic-and-broker", DescribeConfigsRequest::default().with_include_synonyms(true).with_resources(vec![topic_resource(2, TOPIC), topic_resource(4, "0")])),
        ("keys", DescribeConfigsRequest::default().with_resources(vec![topic_resource(2, TOPIC).with_configuration_keys(Some(vec![s("retention.ms"), s("cleanup.policy")]))])),
    ]));
    add(ApiKey::AlterConfigs, requests(seeds, &dir, ApiKey::AlterConfigs, vec![
        ("default", AlterConfigsRequest::default()),
        ("topic", AlterConfigsRequest::default().with_resources(vec![alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s(TOPIC))
            .with_configs(vec![alter_configs_request::AlterableConfig::default().with_name(s("retention.ms")).with_value(Some(s("60000")))])])),
    ]));
    add(ApiKey::IncrementalAlterConfigs, requests(seeds, &dir, ApiKey::IncrementalAlterConfigs, vec![
        ("default", IncrementalAlterConfigsRequest::default()),
        ("topic", IncrementalAlterConfigsRequest::default().with_resources(vec![incremental_alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s(TOPIC))
            .with_configs(vec![
                incremental_alter_configs_request::AlterableConfig::default().with_name(s("cleanup.policy")).with_config_operation(2).with_value(Some(s("compact"))),
                incremental_alter_configs_request::AlterableConfig::default().with_name(s("segment.bytes")).with_config_operation(0).with_value(Some(s("8192"))),
                incremental_alter_configs_request::AlterableConfig::default().with_name(s("retention.bytes")).with_config_operation(1),
            ])])),
    ]));
    add(ApiKey::CreatePartitions, requests(seeds, &dir, ApiKey::CreatePartitions, vec![
        ("default", CreatePartitionsRequest::default()),
        ("to-three", CreatePartitionsRequest::default().with_timeout_ms(1000).with_topics(vec![CreatePartitionsTopic::default().with_name(topic()).with_count(3)])),
    ]));
    add(ApiKey::DeleteRecords, requests(seeds, &dir, ApiKey::DeleteRecords, vec![
        ("default", DeleteRecordsRequest::default()),
        ("offset1", DeleteRecordsRequest::default().with_timeout_ms(1000).with_topics(vec![DeleteRecordsTopic::default()
            .with_name(topic())
            .with_partitions(vec![DeleteRecordsPartition::default().with_partition_index(0).with_offset(1)])])),
    ]));
    add(ApiKey::DescribeCluster, requests(seeds, &dir, ApiKey::DescribeCluster, vec![
        ("default", DescribeClusterRequest::default()),
        ("authorized", DescribeClusterRequest::default().with_include_cluster_authorized_operations(true).with_endpoint_type(1)),
    ]));
    add(ApiKey::DescribeLogDirs, requests(seeds, &dir, ApiKey::DescribeLogDirs, vec![
        ("default", DescribeLogDirsRequest::default()),
        ("all", DescribeLogDirsRequest::default().with_topics(None)),
        ("topic", DescribeLogDirsRequest::default().with_topics(Some(vec![DescribableLogDirTopic::default().with_topic(topic()).with_partitions(vec![0])]))),
    ]));
    for (key, min, max) in odradek::server::dispatch::supported_apis() {
        let n = count.get(&(key as i16)).copied().unwrap_or(0);
        assert!(n > 0, "no seed for advertised API {key:?} v{min}-v{max}");
    }
    println!("request: {} seeds for {} APIs", count.values().sum::<usize>(), count.len());
}

fn record_batch_seeds(seeds: &mut Seeds) {
    let dir = seeds.target("record_batch");
    let flags = |compacted: bool, coordinator: bool, recompress_to: u8| (compacted as u8) | ((coordinator as u8) << 1) | (recompress_to << 2);
    let recs = client_records(4, -1, false);
    for (i, &codec) in CODECS.iter().enumerate() {
        // Recompressed to the next codec in the list (ids 1..=5 in the flags).
        let b = batch(&recs, codec);
        seeds.write(&dir, &format!("{codec:?}"), &[&[flags(false, false, ((i + 1) % 5) as u8 + 1)], &b[..]].concat());
        seeds.write(&dir, &format!("{codec:?}-compacted"), &[&[flags(true, true, 0)], &b[..]].concat());
    }
    let mut keyless = client_records(2, -1, false);
    keyless[1].key = None;
    seeds.write(&dir, "keyless-compacted", &[&[flags(true, false, 1)], &batch(&keyless, Compression::None)[..]].concat());
    seeds.write(&dir, "idempotent", &[&[flags(false, false, 5)], &batch(&client_records(3, 7, false), Compression::Lz4)[..]].concat());
    seeds.write(&dir, "transactional", &[&[flags(false, false, 2)], &batch(&client_records(2, 8, true), Compression::None)[..]].concat());
    seeds.write(&dir, "commit-marker", &[&[flags(false, true, 0)], &marker(8, true)[..]].concat());
    seeds.write(&dir, "abort-marker", &[&[flags(false, true, 0)], &marker(8, false)[..]].concat());
    let two = [batch(&recs, Compression::None), batch(&recs, Compression::Snappy)].concat();
    seeds.write(&dir, "two-batches", &[&[flags(false, true, 1)], &two[..]].concat());
    // Every seed but the keyless one passes the validator as its flags say.
    for entry in std::fs::read_dir(&dir).expect("list seeds") {
        let path = entry.expect("seed").path();
        let seed = std::fs::read(&path).expect("read seed");
        let config = odradek::log::validator::ValidationConfig { compacted: seed[0] & 1 != 0, max_message_bytes: 1 << 20 };
        let origin = if seed[0] & 2 != 0 { AppendOrigin::Coordinator } else { AppendOrigin::Client };
        let ok = odradek::log::validator::validate(&seed[1..], origin, &config).is_ok();
        assert_eq!(ok, !path.ends_with("keyless-compacted"), "{}", path.display());
    }
}

/// A seed for `segment_recovery`: the three files behind two u16 lengths.
fn segment_input(log: &[u8], index: &[u8], time_index: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(log.len() as u16).to_be_bytes());
    out.extend_from_slice(log);
    out.extend_from_slice(&(index.len() as u16).to_be_bytes());
    out.extend_from_slice(index);
    out.extend_from_slice(time_index);
    out
}

fn segment_seeds(seeds: &mut Seeds, scratch: &Path) -> Vec<u8> {
    let dir = seeds.target("segment_recovery");
    // Index entries every batch, so the seed's indexes are not empty.
    let config = LogConfig { index_interval_bytes: 1, ..LogConfig::default() };
    let p = Partition::open(scratch, "t", 0, config, true).expect("open partition");
    for (i, &codec) in CODECS.iter().enumerate() {
        let mut recs = client_records(3, -1, false);
        for r in &mut recs {
            r.timestamp += 1000 * i as i64;
        }
        p.append(&batch(&recs, codec), AppendOrigin::Client).expect("append");
    }
    p.append(&batch(&client_records(2, 9, false), Compression::None), AppendOrigin::Client).expect("append idempotent");
    p.append(&batch(&client_records(2, 10, true), Compression::None), AppendOrigin::Client).expect("append transactional");
    p.append_marker(10, 0, true, 0).expect("marker");
    p.close().expect("close");
    let part = scratch.join(Partition::dir_name("t", 0));
    let read = |ext: &str| std::fs::read(segment::file_path(&part, 0, ext)).expect("read segment file");
    let (log, index, time_index) = (read(".log"), read(".index"), read(".timeindex"));
    assert!(log.len() < u16::MAX as usize && !index.is_empty() && !time_index.is_empty());
    seeds.write(&dir, "clean", &segment_input(&log, &index, &time_index));
    seeds.write(&dir, "torn-tail", &segment_input(&log[..log.len() - 7], &index, &time_index));
    seeds.write(&dir, "no-indexes", &segment_input(&log, &[], &[]));
    seeds.write(&dir, "empty", &segment_input(&[], &[], &[]));
    // A producer snapshot with a single producer (the entries of several come in hash order).
    let p = Partition::open(scratch, "s", 0, LogConfig::default(), true).expect("open partition");
    p.append(&batch(&client_records(2, 11, false), Compression::None), AppendOrigin::Client).expect("append idempotent");
    p.close().expect("close");
    let snapshot = std::fs::read_dir(scratch.join(Partition::dir_name("s", 0)))
        .expect("list partition")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "snapshot"))
        .expect("a producer snapshot");
    std::fs::read(snapshot).expect("read snapshot")
}

fn kafka_str(b: &mut BytesMut, v: &str) {
    b.put_i16(v.len() as i16);
    b.put_slice(v.as_bytes());
}

fn internal_seeds(seeds: &mut Seeds, snapshot: &[u8]) {
    let dir = seeds.target("internal_records");
    // __consumer_offsets: an offset commit (key v1, value v3) and group metadata (key v2, value v3).
    let mut offset_key = BytesMut::new();
    offset_key.put_i16(1);
    kafka_str(&mut offset_key, GROUP);
    kafka_str(&mut offset_key, TOPIC);
    offset_key.put_i32(0);
    let offset_value = |version: i16| {
        let mut v = BytesMut::new();
        v.put_i16(version);
        v.put_i64(42);
        if version >= 3 {
            v.put_i32(0);
        }
        kafka_str(&mut v, "meta");
        v.put_i64(TS);
        v.freeze()
    };
    let mut group_key = BytesMut::new();
    group_key.put_i16(2);
    kafka_str(&mut group_key, GROUP);
    let group_value = |version: i16| {
        let mut v = BytesMut::new();
        v.put_i16(version);
        kafka_str(&mut v, "consumer");
        v.put_i32(3);
        kafka_str(&mut v, "range");
        kafka_str(&mut v, "member-1");
        if version >= 2 {
            v.put_i64(TS);
        }
        v.put_i32(1);
        kafka_str(&mut v, "member-1");
        if version >= 3 {
            v.put_i16(-1);
        }
        kafka_str(&mut v, "client");
        kafka_str(&mut v, "/127.0.0.1");
        v.put_i32(30_000);
        if version >= 1 {
            v.put_i32(10_000);
        }
        let mut sub = BytesMut::new();
        sub.put_i16(1);
        ConsumerProtocolSubscription::default().with_topics(vec![s(TOPIC)]).encode(&mut sub, 1).expect("subscription");
        v.put_i32(sub.len() as i32);
        v.put_slice(&sub);
        v.put_i32(0);
        v.freeze()
    };
    assert!(odradek::group::records::decode_offset(offset_value(3)).is_some());
    assert!((0..=3).all(|v| odradek::group::records::decode_group(group_value(v)).is_some()));
    let txn_value = format!(
        r#"{{"transactional_id":"{TXN}","producer_id":5,"epoch":1,"timeout_ms":60000,"state":"Ongoing","partitions":[["{TOPIC}",0]],"start_ms":{TS},"last_update_ms":{TS},"pending_offsets":[{{"group":"{GROUP}","topic":"{TOPIC}","partition":0,"offset":7,"leader_epoch":-1,"metadata":""}}]}}"#
    );
    assert!(serde_json::from_str::<odradek::txn::TxnMetadata>(&txn_value).is_ok(), "transaction state seed");
    let record = |key: Bytes, value: Option<Bytes>, i: i64| odradek::log::records::plain_record(i, TS, Some(key), value);
    let offsets_batch = vec![
        record(offset_key.clone().freeze(), Some(offset_value(3)), 0),
        record(group_key.clone().freeze(), Some(group_value(3)), 1),
        record(offset_key.clone().freeze(), None, 2),
    ];
    seeds.write(&dir, "offsets-batch", &batch(&offsets_batch, Compression::None));
    seeds.write(&dir, "offsets-batch-zstd", &batch(&offsets_batch, Compression::Zstd));
    let txn_batch = vec![record(Bytes::from_static(TXN.as_bytes()), Some(Bytes::from(txn_value.clone())), 0)];
    seeds.write(&dir, "txn-batch", &batch(&txn_batch, Compression::None));
    let split = |key: &[u8], value: &[u8]| [&(key.len() as u16).to_be_bytes()[..], key, value].concat();
    for v in [1, 3] {
        seeds.write(&dir, &format!("offset-commit-v{v}"), &split(&offset_key, &offset_value(v)));
    }
    for v in 0..=3 {
        seeds.write(&dir, &format!("group-metadata-v{v}"), &split(&group_key, &group_value(v)));
    }
    seeds.write(&dir, "txn-state", &split(TXN.as_bytes(), txn_value.as_bytes()));
    seeds.write(&dir, "producer-snapshot", snapshot);
}

fn properties_seeds(seeds: &mut Seeds) {
    let dir = seeds.target("properties");
    let defaults = odradek::Config::from_map(Default::default()).expect("default config");
    let all: String = defaults.describe_broker().iter().map(|d| format!("{}={}\n", d.name, d.value.as_deref().unwrap_or_default())).collect();
    seeds.write(&dir, "every-broker-key", all.as_bytes());
    let topic: String = odradek::log::config::TOPIC_KEYS.iter().map(|t| format!("{}={}\n", t.key.name, defaults.broker_default_for_topic_key(t.key.name))).collect();
    seeds.write(&dir, "every-topic-key", topic.as_bytes());
    let server = "# A server.properties as people write it\n\
        listeners=PLAINTEXT://localhost:19092\n\
        advertised.listeners: PLAINTEXT://broker.example:19092\n\
        ! bang comment\n\
        log.dir = /var/lib/odradek\n\
        node.id=3\n\
        num.partitions=6\n\
        log.retention.minutes=60\n\
        log.roll.hours=1\n\
        log.cleanup.policy=compact,delete\n\
        compression.type=zstd\n\
        log.message.timestamp.type=LogAppendTime\n\
        log.cleaner.min.cleanable.ratio=0.25\n\
        auto.create.topics.enable=false\n\
        segment.bytes=1048576\n\
        retention.ms=3600000\n\
        cleanup.policy=compact\n\
        min.insync.replicas=1\n";
    seeds.write(&dir, "server", server.as_bytes());
    seeds.write(&dir, "ipv6-and-bad", b"listeners=PLAINTEXT://[::1]:0\nlog.segment.bytes=13\nnum.partitions=0\nsegment.index.bytes=11\n=novalue\nkeyonly\n");
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let scratch = std::env::temp_dir().join(format!("odradek-gen-seeds-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let mut seeds = Seeds { root, total: 0 };
    request_seeds(&mut seeds);
    record_batch_seeds(&mut seeds);
    let snapshot = segment_seeds(&mut seeds, &scratch);
    internal_seeds(&mut seeds, &snapshot);
    properties_seeds(&mut seeds);
    let _ = std::fs::remove_dir_all(&scratch);
    println!("{} bytes of seeds in {}", seeds.total, seeds.root.display());
}
