//! TLS listeners, as Kafka serves them: librdkafka (the rdkafka crate, built with OpenSSL)
//! produces and consumes over SSL, SASL_SSL (SCRAM-SHA-512 and PLAIN) and mTLS
//! (ssl.client.auth=required) with certificates made here by rcgen; clients without a trusted
//! certificate are refused; raw connections send plaintext, garbage, half handshakes and
//! thousands of handshakes that never finish, and the broker carries on.

mod common;

use common::raw::{api_versions_req, encode_request, frame, RawConn};
use common::{topic_name, TestBroker, OP_TIMEOUT};
use kafka_protocol::messages::MetadataRequest;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Message;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

const JAAS: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_alice="alice-plain";"#;
/// How long a handshake may take (connections.max.idle.ms), short so the tests see it end.
const IDLE_MS: u64 = 3000;

/// Certificates in a temp dir: a CA, the broker's keystore (key + chain) for localhost and
/// 127.0.0.1, alice's client certificate (CN=alice,O=Acme) from that CA, and rogue's from a CA
/// the broker does not trust.
struct Pki {
    dir: tempfile::TempDir,
    ca_der: Vec<u8>,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca("odradek-test-ca");
        let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
        write("ca.pem", ca.pem());

        let server_key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        p.distinguished_name.push(DnType::CommonName, "localhost");
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server = p.signed_by(&server_key, &ca).unwrap();
        write("keystore.pem", format!("{}{}{}", server_key.serialize_pem(), server.pem(), ca.pem()));

        for (name, issuer) in [("alice", &ca), ("rogue", &ca_rogue())] {
            let key = KeyPair::generate().unwrap();
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            // rcgen writes RDNs in push order; as RFC 2253 prints it: CN=<name>,O=Acme.
            p.distinguished_name.push(DnType::OrganizationName, "Acme");
            p.distinguished_name.push(DnType::CommonName, name);
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            let cert = p.signed_by(&key, issuer).unwrap();
            write(&format!("{name}.crt"), cert.pem());
            write(&format!("{name}.key"), key.serialize_pem());
        }
        Pki { ca_der: ca.der().to_vec(), dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }
}

fn ca(cn: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
}

fn ca_rogue() -> CertifiedIssuer<'static, KeyPair> {
    ca("rogue-ca")
}

/// A broker with listeners SSL, MTLS (SSL, client certificates required) and SASLSSL
/// (SASL_SSL: SCRAM-SHA-512 with alice seeded, PLAIN from JAAS), beside PLAINTEXT.
fn tls_broker(pki: &Pki, extra: &[(&str, &str)]) -> TestBroker {
    let (keystore, truststore) = (pki.path("keystore.pem"), pki.path("ca.pem"));
    let mut o = vec![
        ("ssl.keystore.type", "PEM"),
        ("ssl.keystore.location", keystore.as_str()),
        ("ssl.truststore.type", "PEM"),
        ("ssl.truststore.location", truststore.as_str()),
        ("listener.name.mtls.ssl.client.auth", "required"),
        ("ssl.principal.mapping.rules", "RULE:^CN=(.*?),O=(.*)$/$1@$2/L,DEFAULT"),
        ("listener.name.saslssl.sasl.enabled.mechanisms", "SCRAM-SHA-512,PLAIN"),
        ("listener.name.saslssl.plain.sasl.jaas.config", JAAS),
        ("add.scram", "SCRAM-SHA-512=[name=alice,password=alice-scram]"),
        ("group.initial.rebalance.delay.ms", "0"),
    ];
    o.extend_from_slice(extra);
    TestBroker::start_with_listeners(&[("SSL", "SSL"), ("MTLS", "SSL"), ("SASLSSL", "SASL_SSL")], &o)
}

/// librdkafka settings for listener `name` over `protocol`, trusting the test CA.
fn tls_config(b: &TestBroker, pki: &Pki, name: &str, protocol: &str) -> ClientConfig {
    let mut c = b.client_config();
    c.set("bootstrap.servers", b.bootstrap_for(name)).set("security.protocol", protocol).set("ssl.ca.location", pki.path("ca.pem"));
    c
}

fn with_cert(mut c: ClientConfig, pki: &Pki, who: &str) -> ClientConfig {
    c.set("ssl.certificate.location", pki.path(&format!("{who}.crt"))).set("ssl.key.location", pki.path(&format!("{who}.key")));
    c
}

fn with_sasl(mut c: ClientConfig, mechanism: &str, user: &str, password: &str) -> ClientConfig {
    c.set("sasl.mechanism", mechanism).set("sasl.username", user).set("sasl.password", password);
    c
}

/// Produces `n` records of 10 KiB over `cfg` and reads them back over the same kind of connection.
fn round_trip(cfg: &ClientConfig, n: usize) {
    let topic = topic_name("tls");
    let value = |i: usize| format!("{i:06}-{}", "x".repeat(10 * 1024));
    let producer: FutureProducer = cfg.clone().set("acks", "all").set("linger.ms", "5").create().expect("producer");
    for i in 0..n {
        let v = value(i);
        let d = common::block_on(producer.send(FutureRecord::to(&topic).key(&v[..6]).payload(&v), OP_TIMEOUT));
        d.unwrap_or_else(|(e, _)| panic!("produce over {cfg:?}: {e}"));
    }
    let consumer: BaseConsumer = cfg.clone().set("group.id", topic.as_str()).set("auto.offset.reset", "earliest").create().expect("consumer");
    consumer.subscribe(&[&topic]).unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + OP_TIMEOUT;
    while got.len() < n && Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            // connections.max.idle.ms closes idle connections (3 s in the handshake test), which
            // librdkafka reports while it reconnects.
            let m = match m {
                Err(KafkaError::MessageConsumption(RDKafkaErrorCode::AllBrokersDown | RDKafkaErrorCode::BrokerTransportFailure)) => continue,
                m => m.expect("consume"),
            };
            got.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    assert_eq!(got.len(), n, "records read back over {cfg:?}");
    assert!(got.iter().enumerate().all(|(i, v)| *v == value(i)), "records differ over {cfg:?}");
}

/// A client over `cfg` cannot get metadata; what librdkafka reported meanwhile.
fn connect_fails(cfg: &ClientConfig) -> Vec<String> {
    let consumer: BaseConsumer<Errors> = cfg.clone().create_with_context(Errors::default()).expect("consumer");
    let r = consumer.fetch_metadata(None, Duration::from_secs(6));
    assert!(r.is_err(), "metadata over {cfg:?} should fail");
    // Errors reach the context from poll.
    let t0 = Instant::now();
    while consumer.context().0.lock().unwrap().is_empty() && t0.elapsed() < Duration::from_secs(5) {
        let _ = consumer.poll(Duration::from_millis(100));
    }
    let errors = consumer.context().0.lock().unwrap().clone();
    assert!(!errors.is_empty(), "librdkafka reported no error over {cfg:?}");
    errors
}

/// Records the errors librdkafka reports.
#[derive(Default)]
struct Errors(std::sync::Mutex<Vec<String>>);

impl rdkafka::ClientContext for Errors {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        self.0.lock().unwrap().push(format!("{error}: {reason}"));
    }
}
impl rdkafka::consumer::ConsumerContext for Errors {}

/// A rustls client trusting the test CA, optionally with alice's certificate.
fn rustls_client(pki: &Pki) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone().into()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// A raw Kafka connection through TLS to `addr`, versions not negotiated.
fn raw_tls(pki: &Pki, addr: &str) -> RawConn {
    let s = TcpStream::connect(addr).unwrap();
    let conn = rustls::ClientConnection::new(rustls_client(pki), "localhost".try_into().unwrap()).unwrap();
    let io = rustls::StreamOwned::new(conn, s.try_clone().unwrap());
    RawConn::over(s, Box::new(io))
}

/// Reads from a raw socket until the broker closes it, within `limit`; the bytes it sent.
fn read_until_closed(s: &mut TcpStream, limit: Duration) -> Vec<u8> {
    s.set_read_timeout(Some(limit)).unwrap();
    let (mut got, mut buf, t0) = (Vec::new(), [0u8; 4096], Instant::now());
    loop {
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe) => return got,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => panic!("the broker did not close the connection within {limit:?} (after {:?}: {e}; got {got:02x?})", t0.elapsed()),
        }
    }
}

/// Nothing but a TLS alert (content type 21) may come back before the close.
fn assert_alert_or_nothing(got: &[u8], what: &str) {
    assert!(got.is_empty() || got[0] == 0x15, "{what}: the broker answered with non-alert bytes {:02x?}", &got[..got.len().min(32)]);
}

fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// The first bytes of a TLS ClientHello: a handshake record claiming 512 bytes, and 9 of them.
const HALF_HELLO: &[u8] = &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x11, 0x22, 0x33];

#[test]
fn ssl_and_sasl_ssl_round_trip_records_and_advertise_their_own_listener() {
    let pki = Pki::new();
    let b = tls_broker(&pki, &[]);
    round_trip(&tls_config(&b, &pki, "SSL", "ssl"), 200);
    round_trip(&with_sasl(tls_config(&b, &pki, "SASLSSL", "sasl_ssl"), "SCRAM-SHA-512", "alice", "alice-scram"), 20);
    round_trip(&with_sasl(tls_config(&b, &pki, "SASLSSL", "sasl_ssl"), "PLAIN", "alice", "alice-plain"), 20);
    // Metadata over a TLS connection names the TLS listener's endpoint, as Kafka does.
    for name in ["SSL", "SASLSSL"] {
        let mut c = raw_tls(&pki, &b.bootstrap_for(name));
        let v = c.call(3, &api_versions_req());
        assert_eq!(v.error_code, 0);
        if name == "SSL" {
            let md = c.call(12, &MetadataRequest::default().with_topics(Some(vec![])));
            assert_eq!(md.brokers.len(), 1);
            assert_eq!((md.brokers[0].host.as_str(), md.brokers[0].port), ("127.0.0.1", i32::from(b.listener_port("SSL"))));
        }
    }
    // Wrong credentials over SASL_SSL fail with librdkafka's authentication error.
    for (mech, user, pw) in [("SCRAM-SHA-512", "alice", "nope"), ("PLAIN", "mallory", "x")] {
        let errors = connect_fails(&with_sasl(tls_config(&b, &pki, "SASLSSL", "sasl_ssl"), mech, user, pw));
        assert!(errors.iter().any(|e| e.to_lowercase().contains("authentication")), "{mech} {user}: {errors:?}");
    }
    // A client that does not trust the broker's CA fails its own verification.
    let mut untrusting = tls_config(&b, &pki, "SSL", "ssl");
    untrusting.set("ssl.ca.location", pki.path("rogue.crt"));
    let errors = connect_fails(&untrusting);
    assert!(errors.iter().any(|e| e.contains("SSL") || e.contains("ssl")), "{errors:?}");
    // The PLAINTEXT listener still serves.
    round_trip(&b.client_config(), 3);
}

#[test]
fn mtls_requires_a_client_certificate_from_a_trusted_ca() {
    let pki = Pki::new();
    let b = tls_broker(&pki, &[]);
    let mtls = tls_config(&b, &pki, "MTLS", "ssl");
    round_trip(&with_cert(mtls.clone(), &pki, "alice"), 50);
    connect_fails(&mtls);
    connect_fails(&with_cert(mtls.clone(), &pki, "rogue"));
    // The plain SSL listener (ssl.client.auth=none) takes a certificate but does not need one.
    round_trip(&with_cert(tls_config(&b, &pki, "SSL", "ssl"), &pki, "rogue"), 3);
    let log = b.log_text();
    assert!(log.contains("TLS handshake failed"), "{}", b.log_tail(30));
    round_trip(&with_cert(mtls, &pki, "alice"), 3);
}

#[test]
fn plaintext_garbage_and_cut_handshakes_on_a_tls_port_are_closed_and_the_broker_carries_on() {
    let pki = Pki::new();
    let mut b = tls_broker(&pki, &[("connections.max.idle.ms", &IDLE_MS.to_string())]);
    let addr = b.bootstrap_for("SSL");
    let limit = Duration::from_millis(IDLE_MS * 3);

    // A plaintext Kafka request on the TLS port: an alert at most, then the close.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(&frame(&encode_request(1, 3, &api_versions_req()))).unwrap();
    assert_alert_or_nothing(&read_until_closed(&mut s, limit), "plaintext ApiVersions");

    // Garbage of several shapes.
    let mut junk = vec![0x16, 0x03, 0x03, 0x00, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff];
    junk.extend((0..2000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8));
    for (what, bytes) in [("random bytes", &junk[10..]), ("a bogus handshake record", &junk[..]), ("a huge record length", &[0x16, 0x03, 0x03, 0xff, 0xff, 0, 0, 0][..])] {
        let mut s = TcpStream::connect(&addr).unwrap();
        let _ = s.write_all(bytes);
        assert_alert_or_nothing(&read_until_closed(&mut s, limit), what);
    }

    // Garbage during the handshake: a real ClientHello, the server's answer, then junk.
    let mut s = TcpStream::connect(&addr).unwrap();
    let mut conn = rustls::ClientConnection::new(rustls_client(&pki), "localhost".try_into().unwrap()).unwrap();
    conn.write_tls(&mut s).unwrap();
    s.set_read_timeout(Some(limit)).unwrap();
    let mut first = [0u8; 5];
    s.read_exact(&mut first).unwrap();
    assert_eq!(first[0], 0x16, "the server answers the ClientHello with a handshake record");
    s.write_all(&junk[10..]).unwrap();
    read_until_closed(&mut s, limit);

    // A ClientHello cut off halfway: closed once connections.max.idle.ms passes.
    let t0 = Instant::now();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(HALF_HELLO).unwrap();
    assert!(read_until_closed(&mut s, limit).is_empty());
    assert!(t0.elapsed() >= Duration::from_millis(IDLE_MS - 500), "closed after {:?}", t0.elapsed());

    // Thousands of connections that never finish a handshake (half of them silent) hold a
    // descriptor each until the timeout; meanwhile TLS clients are served.
    common::raise_nofile(8192);
    round_trip(&tls_config(&b, &pki, "SSL", "ssl"), 1);
    let fds_before = open_fds(b.pid());
    let mut stuck = Vec::new();
    for i in 0..3000 {
        let mut s = TcpStream::connect(&addr).unwrap_or_else(|e| panic!("connection {i}: {e}"));
        if i % 2 == 0 {
            s.write_all(HALF_HELLO).unwrap();
        }
        stuck.push(s);
    }
    let t0 = Instant::now();
    let mut c = raw_tls(&pki, &addr);
    assert_eq!(c.call(3, &api_versions_req()).error_code, 0);
    let served_in = t0.elapsed();
    let producer: FutureProducer = tls_config(&b, &pki, "SSL", "ssl").create().unwrap();
    let topic = topic_name("tls-busy");
    let d = common::block_on(producer.send(FutureRecord::to(&topic).key("k").payload("v"), OP_TIMEOUT));
    d.unwrap_or_else(|(e, _)| panic!("produce over SSL beside 3000 stuck handshakes: {e}"));
    drop(producer);
    // After the timeout every stuck connection is closed by the broker and its descriptor freed.
    for (i, s) in stuck.iter_mut().enumerate() {
        let got = read_until_closed(s, limit);
        assert!(got.is_empty(), "stuck connection {i} got {got:02x?}");
    }
    drop(stuck);
    let deadline = Instant::now() + Duration::from_secs(10);
    while open_fds(b.pid()) > fds_before + 20 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(open_fds(b.pid()) <= fds_before + 20, "broker fds {} (before the stuck connections: {fds_before})", open_fds(b.pid()));
    eprintln!("ApiVersions over TLS answered in {served_in:?} while 3000 handshakes hung");
    assert_eq!(raw_tls(&pki, &addr).call(3, &api_versions_req()).error_code, 0);
    assert!(b.is_running(), "broker died:\n{}", b.log_tail(30));
    round_trip(&tls_config(&b, &pki, "SSL", "ssl"), 3);
}

#[test]
fn tls_settings_that_cannot_be_used_stop_the_start() {
    let pki = Pki::new();
    let port = common::free_port();
    let listeners = format!("--listeners=SSL://127.0.0.1:{port}");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![format!("--override=ssl.keystore.type=PEM"), format!("--override=ssl.keystore.location={}", pki.path("nope.pem"))], "ssl.keystore.location"),
        (vec![format!("--override=ssl.keystore.type=PEM"), format!("--override=ssl.keystore.location={}", pki.path("ca.pem"))], "ssl.keystore.location"),
        (vec![format!("--override=ssl.keystore.type=PKCS12"), format!("--override=ssl.keystore.location={}", pki.path("keystore.pem"))], "cannot open the PKCS12 store"),
        (vec![format!("--override=ssl.keystore.type=JKS"), format!("--override=ssl.keystore.location={}", pki.path("keystore.pem"))], "ssl.keystore.type"),
        (
            vec![
                format!("--override=ssl.keystore.type=PEM"),
                format!("--override=ssl.keystore.location={}", pki.path("keystore.pem")),
                "--override=ssl.client.auth=required".to_string(),
            ],
            "ssl.truststore",
        ),
        (
            vec![
                format!("--override=ssl.keystore.type=PEM"),
                format!("--override=ssl.keystore.location={}", pki.path("keystore.pem")),
                "--override=ssl.enabled.protocols=TLSv1.1".to_string(),
            ],
            "ssl.enabled.protocols",
        ),
    ];
    for (args, expect) in cases {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(common::broker_bin())
            .arg("--data-dir")
            .arg(dir.path())
            .arg(&listeners)
            .args(&args)
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!out.status.success() && !text.contains("odradek started"), "{args:?} started:\n{text}");
        assert!(text.contains(expect), "{args:?}: expected {expect:?} in:\n{text}");
    }
}
