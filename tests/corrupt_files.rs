//! Recovery trusts nothing on disk: damaged indexes, a damaged tail after a clean shutdown, an
//! unreadable producer snapshot, `topics.json`, `meta.properties` and unreadable records in
//! `__consumer_offsets` each have a defined outcome (rebuilt, skipped with a warning, or a
//! refusal to start that names the file), never a panic and never a lost or reused offset.

mod common;

use common::*;
use rand::{Rng, SeedableRng};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn produce_n(b: &TestBroker, topic: &str, from: usize, n: usize) {
    let p = b.producer();
    for i in from..from + n {
        let (_, offset) = produce_one(&p, topic, Some(0), format!("k{i}").as_bytes(), &[(i % 250) as u8; 200]);
        assert_eq!(offset, i as i64);
    }
}

fn check_records(b: &TestBroker, topic: &str, n: usize) {
    let all = read_all(b, topic, 1);
    let recs = &all[&0];
    assert_eq!(recs.len(), n, "records of {topic}");
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r.key.as_deref(), Some(format!("k{i}").as_bytes()), "key of offset {i}");
        assert_eq!(r.value.as_deref(), Some(&[(i % 250) as u8; 200][..]), "value of offset {i}");
    }
}

fn files_with_ext(dir: &Path, ext: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == ext)).collect();
    v.sort();
    v
}

#[test]
fn damaged_indexes_are_bypassed_or_rebuilt_and_every_record_reads_back() {
    let mut b = TestBroker::start_with(&[("log.segment.bytes", "16384"), ("log.index.interval.bytes", "512")]);
    let topic = topic_name("idx");
    b.create_topic(&topic, 1, &[]);
    produce_n(&b, &topic, 0, 300);
    b.stop();
    let dir = b.partition_dir(&topic, 0);
    let mut rng = rand::rngs::StdRng::seed_from_u64(17);
    let mut damaged = 0;
    for (i, path) in files_with_ext(&dir, "index").into_iter().chain(files_with_ext(&dir, "timeindex")).enumerate() {
        let len = std::fs::metadata(&path).unwrap().len() as usize;
        let bytes: Vec<u8> = match i % 3 {
            0 => (0..len.max(64)).map(|_| rng.random()).collect(),
            1 => vec![0xff; len.max(24)],
            _ => vec![1, 2, 3],
        };
        std::fs::write(&path, bytes).unwrap();
        damaged += 1;
    }
    assert!(damaged >= 6, "expected several segments, damaged {damaged} index files");
    b.restart();
    check_records(&b, &topic, 300);
    produce_n(&b, &topic, 300, 1);
    // Offsets by timestamp still answer (every record's timestamp is at or after the first).
    let c = b.consumer();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Offset(0)).unwrap();
    let got = c.offsets_for_times(tpl, Duration::from_secs(10)).expect("offsets_for_times");
    assert_eq!(got.elements()[0].offset(), Offset::Offset(0));
    assert!(b.is_running());
    // After a kill -9 too.
    b.kill9();
    b.restart();
    check_records(&b, &topic, 301);
    b.stop();
}

#[test]
fn garbage_after_a_clean_shutdown_is_truncated_and_no_offset_is_reused() {
    let mut b = TestBroker::start();
    let topic = topic_name("tail");
    b.create_topic(&topic, 1, &[]);
    produce_n(&b, &topic, 0, 150);
    b.stop();
    let (_, log) = segment_files(&b.partition_dir(&topic, 0)).pop().unwrap();
    let valid = std::fs::metadata(&log).unwrap().len();
    let mut bytes = std::fs::read(&log).unwrap();
    bytes.extend((0..5000).map(|i| (i * 7 % 256) as u8));
    std::fs::write(&log, &bytes).unwrap();
    b.restart();
    assert_eq!(std::fs::metadata(&log).unwrap().len(), valid, "the garbage tail was cut at the last whole batch");
    assert!(b.log_text().contains("does not match its index"), "the recovery was logged");
    produce_n(&b, &topic, 150, 1);
    check_records(&b, &topic, 151);
    b.stop();
}

/// Runs the broker on `data` until it exits (it must, within 10 s); returns (success, output).
fn run_to_exit(data: &Path) -> (bool, String) {
    let mut child = Command::new(broker_bin())
        .args(["--listeners", &format!("127.0.0.1:{}", free_port()), "--data-dir", data.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn broker");
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("the broker did not refuse to start: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn damaged_state_files_are_refused_by_name_or_skipped_with_a_warning() {
    let mut b = TestBroker::start();
    let topic = topic_name("state");
    b.create_topic(&topic, 1, &[]);
    produce_n(&b, &topic, 0, 20);
    let group = format!("g-{topic}");
    let c: BaseConsumer = b.consumer_with(&[("group.id", &group), ("enable.auto.commit", "false")]);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Offset(7)).unwrap();
    c.commit(&tpl, CommitMode::Sync).expect("commit");
    drop(c);
    b.stop();
    let data = b.data_dir().to_path_buf();

    // A producer snapshot full of garbage: skipped with a warning, the log replayed instead.
    for snap in files_with_ext(&b.partition_dir(&topic, 0), "snapshot") {
        std::fs::write(&snap, b"{not json").unwrap();
    }
    // An unreadable record (valid batch, garbage key and value) at the end of every
    // __consumer_offsets partition: skipped with a warning, the group's offsets kept.
    for p in 0..50 {
        let dir = b.partition_dir("__consumer_offsets", p);
        let Some((_, log)) = segment_files(&dir).pop() else { continue };
        let mut bytes = std::fs::read(&log).unwrap();
        let next = log_batches(&bytes).last().map(|h| h.base_offset + h.last_offset_delta as i64 + 1).unwrap_or(0);
        bytes.extend_from_slice(&garbage_record_batch(next));
        std::fs::write(&log, &bytes).unwrap();
    }
    b.restart();
    assert!(b.is_running());
    let c: BaseConsumer = b.consumer_with(&[("group.id", &group), ("enable.auto.commit", "false")]);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(&topic, 0);
    let got = c.committed_offsets(tpl, Duration::from_secs(10)).expect("committed_offsets");
    assert_eq!(got.elements()[0].offset(), Offset::Offset(7), "the committed offset survived");
    drop(c);
    check_records(&b, &topic, 20);
    produce_n(&b, &topic, 20, 1);
    b.stop();

    // topics.json and meta.properties: damaged, the broker refuses to start and names the file;
    // put back, it starts with everything there.
    for (file, junk) in [("topics.json", &b"[{\"name\": 12"[..]), ("topics.json", b"[{\"name\":\"../../escape\",\"id\":\"00000000-0000-0000-0000-000000000001\",\"partitions\":1}]"), ("meta.properties", b"\xff\xfe garbage"), ("meta.properties", b"version=1\n")] {
        let path = data.join(file);
        let good = std::fs::read(&path).unwrap();
        std::fs::write(&path, junk).unwrap();
        let (ok, out) = run_to_exit(&data);
        assert!(!ok, "the broker started with a damaged {file}");
        assert!(out.contains(file), "the refusal names {file}: {out}");
        std::fs::write(&path, good).unwrap();
    }
    assert!(!data.join("escape").exists() && !data.parent().unwrap().join("escape-0").exists());
    b.restart();
    check_records(&b, &topic, 21);
    b.stop();
}

/// One v2 batch at `base` whose single record has a key and value that are no group record.
fn garbage_record_batch(base: i64) -> Vec<u8> {
    let mut v = one_record_batch(b"\x7f\x7f garbage key", b"\x00\x03\xff\xff\xff\xff garbage value", 1_700_000_000_000).to_vec();
    v[0..8].copy_from_slice(&base.to_be_bytes());
    v
}
