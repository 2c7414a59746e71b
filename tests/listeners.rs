//! Named listeners: each `listeners` entry is bound and answers Metadata, FindCoordinator and
//! DescribeCluster with its own advertised endpoint; controller listeners are not served; a
//! listener that cannot be served as configured stops the start.

mod common;

use common::raw::RawConn;
use common::TestBroker;
use kafka_protocol::messages::{DescribeClusterRequest, FindCoordinatorRequest, MetadataRequest};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::process::Command;
use std::time::Duration;

/// The (host, port) a connection to `addr` is told in Metadata, FindCoordinator, DescribeCluster.
fn endpoints_seen(addr: &str) -> [(String, i32); 3] {
    let mut c = RawConn::connect_raw_to(addr);
    let md = c.call(12, &MetadataRequest::default().with_topics(Some(vec![])));
    let fc = c.call(4, &FindCoordinatorRequest::default().with_key_type(0).with_coordinator_keys(vec![StrBytes::from_static_str("g")]));
    let dc = c.call(1, &DescribeClusterRequest::default());
    let coord = &fc.coordinators[0];
    [
        (md.brokers[0].host.to_string(), md.brokers[0].port),
        (coord.host.to_string(), coord.port),
        (dc.brokers[0].host.to_string(), dc.brokers[0].port),
    ]
}

#[test]
fn each_listener_answers_with_its_own_advertised_endpoint() {
    let b = TestBroker::start_with_listeners(&[("CLIENT", "PLAINTEXT"), ("BROKER", "PLAINTEXT")], &[]);
    let ports = (b.port(), b.listener_port("CLIENT"), b.listener_port("BROKER"));
    for (addr, port) in [(b.bootstrap(), ports.0), (b.bootstrap_for("CLIENT"), ports.1), (b.bootstrap_for("BROKER"), ports.2)] {
        for (host, p) in endpoints_seen(&addr) {
            assert_eq!((host.as_str(), p), ("127.0.0.1", port as i32), "connection to {addr}");
        }
    }
    // A real client bootstrapped on one listener stays on it.
    let mut cfg = b.client_config();
    cfg.set("bootstrap.servers", b.bootstrap_for("BROKER"));
    let consumer: BaseConsumer = cfg.create().unwrap();
    let md = consumer.fetch_metadata(None, Duration::from_secs(10)).unwrap();
    assert_eq!(md.brokers()[0].port(), ports.2 as i32);
}

#[test]
fn advertised_listeners_match_by_name_and_controller_listeners_are_not_served() {
    let (p0, p1, p2) = (common::free_port(), common::free_port(), common::free_port());
    let listeners = format!("EXTERNAL://127.0.0.1:{p0},internal://127.0.0.1:{p1},CONTROLLER://127.0.0.1:{p2}");
    let advertised = format!("INTERNAL://kafka:19092,EXTERNAL://localhost:{p0}");
    let b = TestBroker::start_with(&[
        ("listeners", &listeners),
        ("advertised.listeners", &advertised),
        ("listener.security.protocol.map", "EXTERNAL:PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"),
        ("controller.listener.names", "CONTROLLER"),
        ("inter.broker.listener.name", "INTERNAL"),
        ("process.roles", "broker,controller"),
        ("node.id", "1"),
        ("controller.quorum.voters", &format!("1@127.0.0.1:{p2}")),
    ]);
    for (host, port) in endpoints_seen(&format!("127.0.0.1:{p0}")) {
        assert_eq!((host.as_str(), port), ("localhost", p0 as i32));
    }
    for (host, port) in endpoints_seen(&format!("127.0.0.1:{p1}")) {
        assert_eq!((host.as_str(), port), ("kafka", 19092));
    }
    assert!(std::net::TcpStream::connect(("127.0.0.1", p2)).is_err(), "the controller listener must not be bound");
    assert!(b.log_text().contains("listeners: EXTERNAL"), "{}", b.log_tail(5));
}

/// Runs the broker with `args` and returns its exit code and output, expecting it to stop.
fn start_fails(args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(common::broker_bin());
    cmd.args(["--data-dir", dir.path().to_str().unwrap()]).args(args);
    let out = cmd.output().expect("run broker");
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn a_listener_that_cannot_be_served_stops_the_start() {
    let port = common::free_port();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![format!("--listeners=SECURE://127.0.0.1:{port}")], "no security protocol for listener SECURE"),
        (vec![format!("--listeners=X://127.0.0.1:{port}"), "--listener-security-protocol-map=X:KERBEROS".into()], "unknown security protocol"),
        (vec![format!("--listeners=SSL://127.0.0.1:{port}")], "listener SSL"),
        (vec![format!("--listeners=SASL_PLAINTEXT://127.0.0.1:{port}")], "GSSAPI is not supported"),
        (vec![format!("--listeners=SASL_PLAINTEXT://127.0.0.1:{port}"), "--sasl-enabled-mechanisms=PLAIN".into()], "no users are configured"),
        (vec![format!("--listeners=PLAINTEXT://127.0.0.1:{port}"), "--advertised-listeners=SSL://h:1".into()], "not one of listeners"),
    ];
    for (args, expect) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out) = start_fails(&args);
        assert!(matches!(code, Some(1 | 2)), "{args:?} should stop the start (exit {code:?}):\n{out}");
        assert!(out.contains(expect), "{args:?}: expected {expect:?} in:\n{out}");
        assert!(!out.contains("odradek started"), "{args:?} started anyway:\n{out}");
    }
}
