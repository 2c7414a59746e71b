//! Topic lifecycle: auto-creation, admin CreateTopics/DeleteTopics, validation.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureRecord, Producer};

fn admin_opts() -> AdminOptions {
    AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))).request_timeout(Some(Duration::from_secs(15)))
}

/// Metadata of one topic as seen by a client that never auto-creates (a consumer):
/// Ok(partition count) or Err(error code).
fn topic_state(c: &BaseConsumer, topic: &str) -> Result<usize, RDKafkaErrorCode> {
    let md = c.fetch_metadata(Some(topic), OP_TIMEOUT).expect("metadata request");
    let t = md.topics().iter().find(|t| t.name() == topic).expect("topic entry in metadata response");
    match t.error() {
        Some(e) => Err(RDKafkaErrorCode::from(e)),
        None => Ok(t.partitions().len()),
    }
}

fn all_topic_names(c: &BaseConsumer) -> Vec<String> {
    let md = c.fetch_metadata(None, OP_TIMEOUT).expect("metadata request");
    md.topics().iter().map(|t| t.name().to_string()).collect()
}

#[test]
fn auto_create_via_metadata_uses_num_partitions() {
    let b = TestBroker::start_with(&[("num.partitions", "4")]);
    let topic = topic_name("auto-md");
    let consumer = b.consumer();

    // A consumer's metadata request has allow_auto_topic_creation=false: nothing is created.
    assert_eq!(topic_state(&consumer, &topic), Err(RDKafkaErrorCode::UnknownTopicOrPartition));
    assert!(!all_topic_names(&consumer).contains(&topic), "metadata without auto-create must not create the topic");

    // A producer's metadata request allows auto-creation.
    let producer = b.producer();
    let md = producer.client().fetch_metadata(Some(&topic), OP_TIMEOUT).expect("metadata");
    let t = md.topics().iter().find(|t| t.name() == topic).expect("topic in response");
    eprintln!("first metadata response for {topic}: error {:?}, {} partitions", t.error(), t.partitions().len());
    wait_for_topic(&consumer, &topic, 4);
    assert_eq!(topic_state(&consumer, &topic), Ok(4));
    assert!(all_topic_names(&consumer).contains(&topic));

    // Metadata advertises this broker (node 0) at the advertised address.
    let md = consumer.fetch_metadata(Some(&topic), OP_TIMEOUT).unwrap();
    let brokers: Vec<(i32, String, i32)> = md.brokers().iter().map(|b| (b.id(), b.host().to_string(), b.port())).collect();
    assert_eq!(brokers, vec![(0, "127.0.0.1".to_string(), b.port() as i32)]);
    for p in md.topics()[0].partitions() {
        assert_eq!(p.leader(), 0);
        assert_eq!(p.replicas(), &[0]);
        assert_eq!(p.isr(), &[0]);
    }

    // Every partition is usable.
    for p in 0..4 {
        let (pp, o) = produce_one(&producer, &topic, Some(p), b"k", format!("v{p}").as_bytes());
        assert_eq!((pp, o), (p, 0));
    }
}

#[test]
fn auto_create_via_produce() {
    let b = TestBroker::start_with(&[("num.partitions", "2")]);
    let topic = topic_name("auto-produce");
    let producer = b.producer();
    let (p, o) = produce_one(&producer, &topic, None, b"key", b"value");
    assert!(p == 0 || p == 1, "partition {p}");
    assert_eq!(o, 0);
    let consumer = b.consumer();
    assert_eq!(topic_state(&consumer, &topic), Ok(2));
    assign(&consumer, &topic, &[(p, 0)]);
    let got = poll_n(&consumer, 1, Duration::from_secs(20));
    assert_eq!(got[0].key.as_deref(), Some(&b"key"[..]));
    assert_eq!(got[0].value.as_deref(), Some(&b"value"[..]));
}

#[test]
fn auto_create_disabled_produce_fails_unknown_topic() {
    let b = TestBroker::start_with(&[("auto.create.topics.enable", "false")]);
    let topic = topic_name("no-auto");
    let producer = b.producer_with(&[
        ("message.timeout.ms", "8000"),
        ("topic.metadata.propagation.max.ms", "1000"),
    ]);
    let t0 = Instant::now();
    let rec = FutureRecord::<[u8], [u8]>::to(&topic).key(&b"k"[..]).payload(&b"v"[..]);
    let res = block_on(send_retry(&producer, rec)).expect("delivery future");
    match res {
        Err((KafkaError::MessageProduction(code), _)) => {
            assert_eq!(code, RDKafkaErrorCode::UnknownTopicOrPartition, "produce to missing topic after {:?}", t0.elapsed());
        }
        Err((e, _)) => panic!("unexpected error kind: {e:?}"),
        Ok(d) => panic!("produce to missing topic succeeded: {d:?}"),
    }
    // The producer's metadata requests (allow_auto_topic_creation=true) must not have created it.
    let consumer = b.consumer();
    assert_eq!(topic_state(&consumer, &topic), Err(RDKafkaErrorCode::UnknownTopicOrPartition));
    let md = producer.client().fetch_metadata(Some(&topic), OP_TIMEOUT).unwrap();
    let t = md.topics().iter().find(|t| t.name() == topic).unwrap();
    assert_eq!(t.error().map(RDKafkaErrorCode::from), Some(RDKafkaErrorCode::UnknownTopicOrPartition));
    assert!(!all_topic_names(&consumer).contains(&topic));

    // Explicit creation still works with auto-create off.
    b.create_topic(&topic, 1, &[]);
    let producer = b.producer();
    assert_eq!(produce_one(&producer, &topic, None, b"k", b"v"), (0, 0));
}

#[test]
fn admin_create_invalid_topic_names() {
    let b = TestBroker::start();
    let admin = b.admin();
    let long = "x".repeat(250);
    let names = ["has space", "slash/inside", "..", ".", "bad!char", long.as_str()];
    for name in names {
        let nt = NewTopic::new(name, 1, TopicReplication::Fixed(1));
        let res = block_on(admin.create_topics([&nt], &admin_opts())).expect("create_topics request");
        assert_eq!(res, vec![Err((name.to_string(), RDKafkaErrorCode::InvalidTopic))], "create topic {name:?}");
    }
    // A valid name next to an invalid one in the same request: only the valid one is created.
    let good = topic_name("good");
    let bad = NewTopic::new("also bad", 1, TopicReplication::Fixed(1));
    let ok = NewTopic::new(&good, 2, TopicReplication::Fixed(1));
    let mut res = block_on(admin.create_topics([&bad, &ok], &admin_opts())).expect("create_topics request");
    res.sort_by_key(|r| format!("{r:?}"));
    assert!(res.contains(&Err(("also bad".to_string(), RDKafkaErrorCode::InvalidTopic))), "{res:?}");
    assert!(res.contains(&Ok(good.clone())), "{res:?}");
    let consumer = b.consumer();
    wait_for_topic(&consumer, &good, 2);
    let names = all_topic_names(&consumer);
    assert!(!names.iter().any(|n| n.contains(' ') || n == ".." || n.contains('/')), "invalid names in metadata: {names:?}");
}

#[test]
fn admin_create_with_partitions_and_segment_bytes() {
    let b = TestBroker::start();
    let topic = topic_name("admin-create");
    let plain = topic_name("admin-plain");
    b.create_topic(&topic, 5, &[("segment.bytes", "4096")]);
    b.create_topic(&plain, 1, &[]);
    let consumer = b.consumer();
    assert_eq!(topic_state(&consumer, &topic), Ok(5));
    assert_eq!(topic_state(&consumer, &plain), Ok(1));

    // Creating it again fails with TOPIC_ALREADY_EXISTS and changes nothing.
    let admin = b.admin();
    let again = NewTopic::new(&topic, 3, TopicReplication::Fixed(1));
    let res = block_on(admin.create_topics([&again], &admin_opts())).unwrap();
    assert_eq!(res, vec![Err((topic.clone(), RDKafkaErrorCode::TopicAlreadyExists))]);
    assert_eq!(topic_state(&consumer, &topic), Ok(5));

    // The per-topic segment.bytes takes effect: ~40 KB into partition 0 rolls many segments,
    // while the default topic keeps a single segment.
    let producer = b.producer_with(&[("linger.ms", "0"), ("batch.num.messages", "5")]);
    let value = [b'v'; 200];
    let mut futs = Vec::new();
    for i in 0..200 {
        for t in [&topic, &plain] {
            let key = format!("k{i}");
            let rec = FutureRecord::<[u8], [u8]>::to(t).partition(0).key(key.as_bytes()).payload(&value[..]);
            futs.push(send_retry(&producer, rec));
        }
    }
    for f in futs {
        await_delivery(f);
    }
    let segs = segment_files(&b.partition_dir(&topic, 0));
    let plain_segs = segment_files(&b.partition_dir(&plain, 0));
    eprintln!("segments: {topic}-0 {} files; {plain}-0 {} files", segs.len(), plain_segs.len());
    assert!(segs.len() >= 5, "segment.bytes=4096 topic config should roll segments, got {:?}", segs);
    assert_eq!(plain_segs.len(), 1, "default topic should have one segment: {plain_segs:?}");
    let all = read_all(&b, &topic, 5);
    assert_eq!(all[&0].len(), 200);
    for (i, r) in all[&0].iter().enumerate() {
        assert_eq!(r.key.as_deref(), Some(format!("k{i}").as_bytes()));
        assert_eq!(r.value.as_deref(), Some(&value[..]));
    }
}

#[test]
fn admin_create_validate_only_creates_nothing() {
    let b = TestBroker::start();
    let admin = b.admin();
    let topic = topic_name("validate-only");
    let nt = NewTopic::new(&topic, 3, TopicReplication::Fixed(1));
    let res = block_on(admin.create_topics([&nt], &admin_opts().validate_only(true))).unwrap();
    assert_eq!(res, vec![Ok(topic.clone())]);
    // validate_only still validates names.
    let bad = NewTopic::new("bad name", 3, TopicReplication::Fixed(1));
    let res = block_on(admin.create_topics([&bad], &admin_opts().validate_only(true))).unwrap();
    assert_eq!(res, vec![Err(("bad name".to_string(), RDKafkaErrorCode::InvalidTopic))]);

    std::thread::sleep(Duration::from_millis(300));
    let consumer = b.consumer();
    assert_eq!(topic_state(&consumer, &topic), Err(RDKafkaErrorCode::UnknownTopicOrPartition));
    assert!(!all_topic_names(&consumer).contains(&topic));
    for p in 0..3 {
        assert!(!b.partition_dir(&topic, p).exists(), "validate_only created a partition dir");
    }
    // A real create afterwards works.
    b.create_topic(&topic, 3, &[]);
    assert_eq!(topic_state(&consumer, &topic), Ok(3));
}

#[test]
fn delete_topic_then_recreate_starts_at_zero() {
    let b = TestBroker::start();
    let topic = topic_name("delete-me");
    b.create_topic(&topic, 2, &[]);
    {
        let producer = b.producer();
        for i in 0..10 {
            produce_one(&producer, &topic, Some(i % 2), b"k", format!("old-{i}").as_bytes());
        }
    }
    let admin = b.admin();
    let res = block_on(admin.delete_topics(&[&topic], &admin_opts())).unwrap();
    assert_eq!(res, vec![Ok(topic.clone())]);

    let consumer = b.consumer();
    let deadline = Instant::now() + Duration::from_secs(10);
    while all_topic_names(&consumer).contains(&topic) {
        assert!(Instant::now() < deadline, "deleted topic still listed in metadata");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(topic_state(&consumer, &topic), Err(RDKafkaErrorCode::UnknownTopicOrPartition));

    // Deleting a missing topic reports UNKNOWN_TOPIC_OR_PARTITION.
    let missing = topic_name("never-existed");
    let res = block_on(admin.delete_topics(&[&missing], &admin_opts())).unwrap();
    assert_eq!(res, vec![Err((missing.clone(), RDKafkaErrorCode::UnknownTopicOrPartition))]);

    // Re-create with a different partition count: fresh, empty log.
    b.create_topic(&topic, 1, &[]);
    let consumer = b.consumer();
    assert_eq!(topic_state(&consumer, &topic), Ok(1));
    assert_eq!(consumer.fetch_watermarks(&topic, 0, OP_TIMEOUT).unwrap(), (0, 0));
    let producer = b.producer();
    assert_eq!(produce_one(&producer, &topic, None, b"k", b"new-0"), (0, 0));
    assert_eq!(consumer.fetch_watermarks(&topic, 0, OP_TIMEOUT).unwrap(), (0, 1));
    let all = read_all(&b, &topic, 1);
    assert_eq!(all[&0].len(), 1);
    assert_eq!(all[&0][0].value.as_deref(), Some(&b"new-0"[..]));

    // And the state survives a restart (the deleted data does not come back).
    drop((producer, consumer, admin));
    let mut b = b;
    b.restart();
    let consumer = b.consumer();
    assert_eq!(topic_state(&consumer, &topic), Ok(1));
    let all = read_all(&b, &topic, 1);
    assert_eq!(all[&0].len(), 1);
    assert_eq!(all[&0][0].value.as_deref(), Some(&b"new-0"[..]));
}
