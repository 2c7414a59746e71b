//! Kafka's connection limits, and clients that try to exhaust the broker without sending anything
//! bad: `max.connections`, `max.connections.per.ip`, `connections.max.idle.ms` (slow senders
//! included), thousands of idle connections, and a pipeliner that never reads its responses.

mod common;

use common::raw::{api_versions_req, encode_request, frame, RawConn};
use common::*;
use kafka_protocol::messages::MetadataRequest;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// VmRSS of a process, in KiB.
fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).expect("VmRSS")
}

/// Whether the broker answers an ApiVersions on `s` within `wait`.
fn answers(s: &mut TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(wait)).unwrap();
    if s.write_all(&frame(&encode_request(1, 3, &api_versions_req()))).is_err() {
        return false;
    }
    let mut size = [0u8; 4];
    if s.read_exact(&mut size).is_err() {
        return false;
    }
    let mut body = vec![0u8; i32::from_be_bytes(size).clamp(0, 1 << 20) as usize];
    s.read_exact(&mut body).is_ok()
}

/// Whether the broker closes `s` within `wait` (EOF or reset).
fn closed_within(s: &mut TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe),
    }
}

/// A new connection is served: ApiVersions and Metadata answer.
fn assert_served(b: &TestBroker) {
    let mut c = RawConn::connect(b);
    let v = c.pick::<MetadataRequest>(12);
    let md = c.call(v, &MetadataRequest::default().with_topics(Some(vec![])));
    assert_eq!(md.brokers.len(), 1, "metadata from a fresh connection");
}


#[test]
fn max_connections_per_ip_closes_the_extra_ones_and_max_connections_waits() {
    let b = TestBroker::start_with(&[("max.connections.per.ip", "8")]);
    let mut held: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(b.bootstrap()).unwrap()).collect();
    for s in &mut held {
        assert!(answers(s, Duration::from_secs(5)), "a connection within the per-ip limit is served");
    }
    let mut extra = TcpStream::connect(b.bootstrap()).unwrap();
    assert!(closed_within(&mut extra, Duration::from_secs(5)), "the 9th connection from one address is closed");
    held.pop();
    std::thread::sleep(Duration::from_millis(200));
    let mut again = TcpStream::connect(b.bootstrap()).unwrap();
    assert!(answers(&mut again, Duration::from_secs(5)), "a slot freed by a close is given to the next connection");
    drop((held, again));

    let b = TestBroker::start_with(&[("max.connections", "6")]);
    let mut held: Vec<TcpStream> = (0..6).map(|_| TcpStream::connect(b.bootstrap()).unwrap()).collect();
    for s in &mut held {
        assert!(answers(s, Duration::from_secs(5)));
    }
    // The 7th connects (the kernel's backlog takes it) but is not served until one closes.
    let mut waiting = TcpStream::connect(b.bootstrap()).unwrap();
    assert!(!answers(&mut waiting, Duration::from_millis(800)), "served beyond max.connections");
    held.pop();
    let mut size = [0u8; 4];
    waiting.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    waiting.read_exact(&mut size).expect("answered once a connection closed");
}

#[test]
fn idle_connections_and_slow_senders_are_closed_after_connections_max_idle_ms() {
    let b = TestBroker::start_with(&[("connections.max.idle.ms", "1500")]);
    let mut idle = TcpStream::connect(b.bootstrap()).unwrap();
    assert!(answers(&mut idle, Duration::from_secs(5)));
    let t0 = Instant::now();
    assert!(closed_within(&mut idle, Duration::from_secs(5)), "an idle connection stays open");
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(1200) && took < Duration::from_secs(4), "closed after {took:?}");

    // A Metadata request sent one byte every 150 ms: its frame never completes in time.
    let mut slow = TcpStream::connect(b.bootstrap()).unwrap();
    let req = frame(&encode_request(1, 1, &MetadataRequest::default().with_topics(Some(vec![]))));
    let t0 = Instant::now();
    let mut closed = false;
    for byte in req.iter().cycle().take(200) {
        if slow.write_all(&[*byte]).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(150));
        if t0.elapsed() > Duration::from_secs(6) {
            break;
        }
    }
    closed = closed || closed_within(&mut slow, Duration::from_secs(2));
    assert!(closed, "a byte-at-a-time sender was not cut off");

    // A client that keeps talking is never idle.
    let mut busy = TcpStream::connect(b.bootstrap()).unwrap();
    for _ in 0..8 {
        assert!(answers(&mut busy, Duration::from_secs(5)), "a connection in use was closed");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_served(&b);
}

#[test]
fn thousands_of_idle_connections_and_a_pipeliner_that_never_reads_stay_bounded() {
    common::raise_nofile(16_384);
    let b = TestBroker::start();
    let pid = b.pid();
    let before = rss_kib(pid);
    let conns: Vec<TcpStream> = (0..3000).map(|i| TcpStream::connect(b.bootstrap()).unwrap_or_else(|e| panic!("connection {i}: {e}"))).collect();
    std::thread::sleep(Duration::from_millis(500));
    assert_served(&b);
    let with_idle = rss_kib(pid);
    assert!(with_idle < before + 100 * 1024, "3000 idle connections cost {} KiB", with_idle - before);
    drop(conns);

    // Up to 4,000,000 pipelined Metadata requests (~100 MB), no response ever read: the broker
    // stops reading once its writes block (the kernel's socket buffers fill first), so its memory
    // stays flat while other clients are served.
    let mut p = TcpStream::connect(b.bootstrap()).unwrap();
    p.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
    let one = frame(&encode_request(1, 1, &MetadataRequest::default().with_topics(None)));
    let burst: Vec<u8> = one.iter().copied().cycle().take(one.len() * 1000).collect();
    let mut sent = 0usize;
    for _ in 0..4000 {
        match p.write_all(&burst) {
            Ok(()) => sent += 1000,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) => panic!("pipeliner write: {e}"),
        }
    }
    assert!(sent < 4_000_000, "the broker read all {sent} requests without their responses being read");
    std::thread::sleep(Duration::from_millis(300));
    assert_served(&b);
    let pipelined = rss_kib(pid);
    assert!(pipelined < before + 100 * 1024, "a pipeliner that never reads grew the broker by {} KiB", pipelined - before);
    drop(p);
    assert_served(&b);
}
