//! Disk full and I/O errors: on a small tmpfs the test mounts for itself, appends that do not
//! fit get KAFKA_STORAGE_ERROR, no partial batch becomes visible, reads go on, writes resume
//! once space is freed, and a kill -9 and restart afterwards lose nothing acknowledged.

mod common;

use bytes::Bytes;
use common::raw::RawConn;
use common::*;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;
use std::path::{Path, PathBuf};
use std::process::Command;

const KAFKA_STORAGE_ERROR: i16 = 56;

/// A tmpfs of `mib` MiB mounted on a new temp dir, unmounted on drop.
struct SmallFs {
    dir: PathBuf,
}

impl SmallFs {
    fn mount(mib: u32) -> SmallFs {
        let dir = std::env::temp_dir().join(format!("odradek-diskfull-{}-{}", std::process::id(), rand::random::<u32>()));
        std::fs::create_dir_all(&dir).unwrap();
        let st = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"]).arg(&dir).status().expect("run mount");
        assert!(st.success(), "mounting a {mib} MiB tmpfs at {} failed (the test needs root, as CI has)", dir.display());
        SmallFs { dir }
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn batch(seq: u32) -> Bytes {
    one_record_batch(format!("k{seq}").as_bytes(), &vec![(seq % 251) as u8; 16 * 1024], 1_700_000_000_000 + seq as i64)
}

fn produce(c: &mut RawConn, topic: &str, records: Bytes) -> (i16, i64) {
    let v = c.pick::<ProduceRequest>(9);
    let req = ProduceRequest::default().with_acks(-1).with_timeout_ms(10_000).with_topic_data(vec![TopicProduceData::default()
        .with_name(TopicName(StrBytes::from_string(topic.to_string())))
        .with_partition_data(vec![PartitionProduceData::default().with_index(0).with_records(Some(records))])]);
    let resp = c.call(v, &req);
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

fn log_end(c: &mut RawConn, topic: &str) -> i64 {
    let v = c.pick::<ListOffsetsRequest>(7);
    let req = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![ListOffsetsTopic::default()
        .with_name(TopicName(StrBytes::from_string(topic.to_string())))
        .with_partitions(vec![ListOffsetsPartition::default().with_partition_index(0).with_timestamp(-1)])]);
    let resp = c.call(v, &req);
    let p = &resp.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.offset
}

/// Every record of the partition, as (offset, key, value), read with Fetch.
fn read_all(c: &mut RawConn, topic: &str) -> Vec<(i64, Bytes, Bytes)> {
    let v = c.pick::<FetchRequest>(12);
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let req = FetchRequest::default().with_max_wait_ms(0).with_max_bytes(8 << 20).with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![FetchPartition::default().with_partition(0).with_fetch_offset(offset).with_partition_max_bytes(4 << 20)])]);
        let resp = c.call(v, &req);
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "fetch error");
        let Some(mut records) = p.records.clone() else { break };
        if records.is_empty() {
            break;
        }
        let before = out.len();
        // A fetch may end in a partial batch: decode whole batches only.
        while records.len() >= 12 {
            let size = 12 + i32::from_be_bytes([records[8], records[9], records[10], records[11]]) as usize;
            if records.len() < size {
                break;
            }
            let mut one = records.split_to(size);
            let set = RecordBatchDecoder::decode(&mut one).expect("stored batch decodes");
            for r in set.records {
                if r.offset >= offset {
                    out.push((r.offset, r.key.unwrap_or_default(), r.value.unwrap_or_default()));
                }
            }
        }
        if out.len() == before {
            break;
        }
        offset = out.last().map(|r| r.0 + 1).unwrap_or(offset);
    }
    out
}

fn filler(dir: &Path, mib: usize) -> PathBuf {
    let path = dir.join("filler");
    std::fs::write(&path, vec![1u8; mib << 20]).unwrap();
    path
}

#[test]
fn disk_full_is_a_storage_error_and_nothing_acknowledged_is_lost() {
    let fs = SmallFs::mount(24);
    let data = fs.dir.join("data");
    let free_later = filler(&fs.dir, 6);
    // Small indexes (their blocks are reserved up front) and segments, so the file system
    // fills with records, rolls included.
    let mut b = TestBroker::start_with(&[
        ("log.dirs", data.to_str().unwrap()),
        ("log.index.size.max.bytes", "4096"),
        ("log.segment.bytes", "1048576"),
        ("num.partitions", "1"),
    ]);
    let topic = topic_name("full");
    let mut c = RawConn::connect(&b);
    b.create_topic(&topic, 1, &[]);

    // Fill the file system: every acknowledged batch is remembered.
    let mut acked: Vec<(i64, u32)> = Vec::new();
    let mut errors = 0;
    let mut seq = 0u32;
    while errors < 5 && seq < 5000 {
        let (code, base) = produce(&mut c, &topic, batch(seq));
        match code {
            0 => acked.push((base, seq)),
            KAFKA_STORAGE_ERROR => errors += 1,
            other => panic!("produce {seq}: unexpected error {other}"),
        }
        seq += 1;
    }
    assert_eq!(errors, 5, "the file system never filled ({} batches acknowledged)", acked.len());
    assert!(acked.len() > 100, "only {} batches fit", acked.len());
    assert!(b.is_running(), "the broker died when the disk filled");
    assert!(b.log_text().contains("No space left") || b.log_text().contains("ENOSPC") || b.log_text().contains("os error 28"), "no disk-full error was logged");

    // No partial batch is visible; reads are served.
    let end = log_end(&mut c, &topic);
    assert_eq!(end, acked.len() as i64, "log end offset after the failed appends");
    let read = read_all(&mut c, &topic);
    assert_eq!(read.len(), acked.len(), "records read while the disk is full");

    // Space freed: writes resume, at the next offset (none reused, none skipped).
    std::fs::remove_file(free_later).unwrap();
    let mut resumed = 0;
    for _ in 0..20 {
        let (code, base) = produce(&mut c, &topic, batch(seq));
        assert_eq!(code, 0, "produce after space was freed");
        assert_eq!(base, acked.len() as i64, "offset after resuming");
        acked.push((base, seq));
        seq += 1;
        resumed += 1;
    }
    assert_eq!(resumed, 20);

    // kill -9 and restart: every acknowledged record is there, byte for byte.
    b.kill9();
    b.restart();
    let mut c = RawConn::connect(&b);
    let read = read_all(&mut c, &topic);
    assert_eq!(read.len(), acked.len(), "records after the restart");
    for ((offset, key, value), (want_offset, want_seq)) in read.iter().zip(&acked) {
        assert_eq!(offset, want_offset);
        assert_eq!(key, &Bytes::from(format!("k{want_seq}")));
        assert_eq!(value.len(), 16 * 1024);
        assert!(value.iter().all(|&x| x == (want_seq % 251) as u8), "value of offset {offset}");
    }
    let (code, base) = produce(&mut c, &topic, batch(seq));
    assert_eq!((code, base), (0, acked.len() as i64), "the first produce after the restart");
    b.stop();
}
