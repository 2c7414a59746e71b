//! SASL on SASL_PLAINTEXT listeners, as Kafka serves it: librdkafka (the rdkafka crate) logs in
//! with PLAIN (JAAS users), SCRAM-SHA-256/512 (users seeded with `add.scram` or created with
//! AlterUserScramCredentials, which survive kill -9) and OAUTHBEARER (unsecured tokens); wrong
//! credentials fail fast; raw connections walk the state machine (KIP-43, KIP-152, KIP-368).

mod common;

use common::raw::{api_versions_req, encode_request, frame, RawConn};
use common::{topic_name, TestBroker, OP_TIMEOUT};
use kafka_protocol::messages::alter_user_scram_credentials_request::ScramCredentialUpsertion;
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Message;
use std::time::{Duration, Instant};

const JAAS: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";"#;

/// A broker with a SASL_PLAINTEXT listener `SASL` (PLAIN, SCRAM-SHA-256/512, OAUTHBEARER), alice
/// seeded for SCRAM-SHA-512, and `extra` settings.
fn sasl_broker(extra: &[(&str, &str)]) -> TestBroker {
    let mut o = vec![
        ("listener.name.sasl.sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER"),
        ("listener.name.sasl.plain.sasl.jaas.config", JAAS),
        ("add.scram", "SCRAM-SHA-512=[name=alice,password=alice-scram];SCRAM-SHA-256=[name=bob,iterations=8192,password=bob-scram]"),
    ];
    o.extend_from_slice(extra);
    TestBroker::start_with_listeners(&[("SASL", "SASL_PLAINTEXT")], &o)
}

fn sasl_config(b: &TestBroker, mechanism: &str, user: &str, password: &str) -> ClientConfig {
    let mut c = b.client_config();
    c.set("bootstrap.servers", b.bootstrap_for("SASL"))
        .set("security.protocol", "SASL_PLAINTEXT")
        .set("sasl.mechanism", mechanism)
        .set("sasl.username", user)
        .set("sasl.password", password);
    c
}

/// Produces `n` records over `cfg` and reads them back over the same kind of connection.
fn round_trip(cfg: &ClientConfig, n: usize) {
    let topic = topic_name("sasl");
    let producer: FutureProducer = cfg.clone().set("acks", "all").set("linger.ms", "5").create().expect("producer");
    for i in 0..n {
        let v = format!("value-{i}");
        let d = common::block_on(producer.send(FutureRecord::to(&topic).key(&v).payload(&v), OP_TIMEOUT));
        d.unwrap_or_else(|(e, _)| panic!("produce over {cfg:?}: {e}"));
    }
    let consumer: BaseConsumer = cfg.clone().set("group.id", topic.as_str()).set("auto.offset.reset", "earliest").create().expect("consumer");
    consumer.subscribe(&[&topic]).unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + OP_TIMEOUT;
    while got.len() < n && Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            let m = m.expect("consume");
            got.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    assert_eq!(got, (0..n).map(|i| format!("value-{i}")).collect::<Vec<_>>());
}

/// Records the errors librdkafka reports (an authentication failure comes as one; requests
/// themselves only time out while it reconnects and fails again).
#[derive(Default)]
struct Errors(std::sync::Mutex<Vec<String>>);

impl rdkafka::ClientContext for Errors {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        self.0.lock().unwrap().push(format!("{error}: {reason}"));
    }
}
impl rdkafka::consumer::ConsumerContext for Errors {}

/// A client over `cfg` reports an authentication failure, quickly; the error.
fn login_fails(cfg: &ClientConfig) -> String {
    let t0 = Instant::now();
    let consumer: BaseConsumer<Errors> = cfg.clone().create_with_context(Errors::default()).expect("consumer");
    while t0.elapsed() < Duration::from_secs(8) {
        let _ = consumer.poll(Duration::from_millis(100));
        if let Some(e) = consumer.context().0.lock().unwrap().iter().find(|e| e.to_lowercase().contains("authentication")) {
            return e.clone();
        }
    }
    panic!("no authentication error within 8 s; errors: {:?}", consumer.context().0.lock().unwrap());
}

#[test]
fn plain_and_scram_logins_round_trip_records_and_wrong_passwords_fail() {
    let b = sasl_broker(&[]);
    round_trip(&sasl_config(&b, "PLAIN", "alice", "alice-secret"), 20);
    round_trip(&sasl_config(&b, "SCRAM-SHA-512", "alice", "alice-scram"), 20);
    round_trip(&sasl_config(&b, "SCRAM-SHA-256", "bob", "bob-scram"), 5);
    for (mech, user, pw) in [("PLAIN", "alice", "nope"), ("PLAIN", "mallory", "x"), ("SCRAM-SHA-512", "alice", "nope"), ("SCRAM-SHA-256", "nobody", "x"), ("SCRAM-SHA-256", "alice", "alice-scram")] {
        let e = login_fails(&sasl_config(&b, mech, user, pw));
        assert!(e.contains("Authentication") || e.contains("authentication"), "{mech} {user}: {e}");
    }
    // The PLAINTEXT listener still serves without authentication.
    round_trip(&b.client_config(), 3);
    assert!(b.log_text().contains("authentication failed"), "{}", b.log_tail(20));
}

#[test]
fn oauthbearer_unsecured_tokens_log_in() {
    let b = sasl_broker(&[("listener.name.sasl.oauthbearer.sasl.jaas.config", "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredValidatorRequiredScope=\"requiredScope\";")]);
    let mut good = b.client_config();
    good.set("bootstrap.servers", b.bootstrap_for("SASL"))
        .set("security.protocol", "SASL_PLAINTEXT")
        .set("sasl.mechanism", "OAUTHBEARER")
        .set("enable.sasl.oauthbearer.unsecure.jwt", "true")
        .set("sasl.oauthbearer.config", "principal=admin scope=requiredScope");
    round_trip(&good, 5);
    let mut bad = good.clone();
    bad.set("sasl.oauthbearer.config", "principal=admin scope=wrongScope");
    login_fails(&bad);
}

/// SaslHandshake v1 + SaslAuthenticate PLAIN on a raw connection; the response.
fn plain_login(c: &mut RawConn, user: &str, password: &str, auth_version: i16) -> SaslAuthenticateResponse {
    let hs = c.call(1, &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")));
    assert_eq!(hs.error_code, 0);
    let token = format!("\0{user}\0{password}");
    c.call(auth_version, &SaslAuthenticateRequest::default().with_auth_bytes(token.into_bytes().into()))
}

#[test]
fn the_sasl_state_machine_as_kafka_runs_it() {
    let b = sasl_broker(&[("connection.failed.authentication.delay.ms", "50")]);
    let addr = b.bootstrap_for("SASL");
    let md = MetadataRequest::default().with_topics(Some(vec![]));

    // Any request but ApiVersions and SaslHandshake before authentication closes the connection.
    let mut c = RawConn::connect_raw_to(&addr);
    c.write(&frame(&encode_request(1, 12, &md)));
    c.expect_closed("Metadata before authentication");

    // ApiVersions once (it lists the SASL APIs), then the handshake; a second ApiVersions closes.
    let mut c = RawConn::connect_raw_to(&addr);
    let v = c.call(3, &api_versions_req());
    assert!(v.api_keys.iter().any(|k| k.api_key == 17 && k.max_version == 1) && v.api_keys.iter().any(|k| k.api_key == 36 && k.max_version == 2));
    c.write(&frame(&encode_request(2, 3, &api_versions_req())));
    c.expect_closed("a second ApiVersions during the handshake");

    // An unknown mechanism: UNSUPPORTED_SASL_MECHANISM with the enabled ones, then closed.
    let mut c = RawConn::connect_raw_to(&addr);
    let hs = c.call(1, &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("GSSAPI")));
    assert_eq!(hs.error_code, 33);
    let listed: Vec<String> = hs.mechanisms.iter().map(|m| m.to_string()).collect();
    assert_eq!(listed, ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]);
    c.expect_closed("after UNSUPPORTED_SASL_MECHANISM");

    // Wrong password: SASL_AUTHENTICATION_FAILED with a message, then closed.
    let mut c = RawConn::connect_raw_to(&addr);
    let r = plain_login(&mut c, "alice", "wrong", 2);
    assert_eq!(r.error_code, 58);
    assert!(r.error_message.as_deref().is_some_and(|m| !m.is_empty()));
    c.expect_closed("after SASL_AUTHENTICATION_FAILED");

    // A good login; then requests are served, and SaslHandshake/SaslAuthenticate answer
    // ILLEGAL_SASL_STATE (no session lifetime, so no re-authentication).
    let mut c = RawConn::connect_raw_to(&addr);
    let r = plain_login(&mut c, "alice", "alice-secret", 2);
    assert_eq!((r.error_code, r.session_lifetime_ms), (0, 0));
    assert_eq!(c.call(12, &md).brokers[0].port, b.listener_port("SASL") as i32);
    let again = c.call(1, &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")));
    assert_eq!(again.error_code, 34);
    let again = c.call(2, &SaslAuthenticateRequest::default());
    assert_eq!(again.error_code, 34);

    // A non-SaslAuthenticate request in the middle of the exchange closes the connection.
    let mut c = RawConn::connect_raw_to(&addr);
    assert_eq!(c.call(1, &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN"))).error_code, 0);
    c.write(&frame(&encode_request(9, 12, &md)));
    c.expect_closed("Metadata during SASL authentication");

    // SaslHandshake v0: the token goes raw, the answer is a raw (empty) frame; then Kafka requests.
    let mut c = RawConn::connect_raw_to(&addr);
    assert_eq!(c.call(0, &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN"))).error_code, 0);
    c.write(&frame(b"\0admin\0admin-secret"));
    assert_eq!(c.read_raw_frame(), b"");
    assert_eq!(c.call(12, &md).brokers.len(), 1);

    // On the PLAINTEXT listener SaslHandshake is out of place: ILLEGAL_SASL_STATE.
    let mut c = RawConn::connect_raw_to(&b.bootstrap());
    assert_eq!(c.call(1, &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN"))).error_code, 34);

    // Garbage instead of a request during the handshake closes the connection; the broker serves on.
    let mut c = RawConn::connect_raw_to(&addr);
    c.write(&frame(&[0xff; 40]));
    c.expect_closed("garbage during the handshake");
    let mut c = RawConn::connect_raw_to(&addr);
    c.write(&[0x7f, 0xff, 0xff, 0xff]);
    c.expect_closed("a frame larger than sasl.server.max.receive.size");
    round_trip(&sasl_config(&b, "PLAIN", "admin", "admin-secret"), 2);
}

#[test]
fn sessions_expire_and_clients_reauthenticate() {
    let b = sasl_broker(&[("connections.max.reauth.ms", "1500")]);
    let addr = b.bootstrap_for("SASL");
    let md = MetadataRequest::default().with_topics(Some(vec![]));
    // SaslAuthenticate v1+ tells the lifetime; a request after it closes the connection.
    let mut c = RawConn::connect_raw_to(&addr);
    let r = plain_login(&mut c, "alice", "alice-secret", 1);
    assert_eq!((r.error_code, r.session_lifetime_ms), (0, 1500));
    assert_eq!(c.call(12, &md).brokers.len(), 1);
    // Re-authentication on the live connection renews the session (after at least 1 s).
    std::thread::sleep(Duration::from_millis(1100));
    let r = plain_login(&mut c, "alice", "alice-secret", 1);
    assert_eq!((r.error_code, r.session_lifetime_ms), (0, 1500));
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(c.call(12, &md).brokers.len(), 1, "the renewed session is still valid");
    // Re-authenticating as someone else fails.
    std::thread::sleep(Duration::from_millis(200));
    let r = plain_login(&mut c, "admin", "admin-secret", 1);
    assert_eq!(r.error_code, 58, "{:?}", r.error_message);
    c.expect_closed("after a principal change");
    // Past its lifetime a session is closed at the next request.
    let mut c = RawConn::connect_raw_to(&addr);
    plain_login(&mut c, "alice", "alice-secret", 1);
    std::thread::sleep(Duration::from_millis(1700));
    c.write(&frame(&encode_request(7, 12, &md)));
    c.expect_closed("a request after the session expired");
    // librdkafka re-authenticates by itself: a producer keeps producing across several lifetimes.
    let topic = topic_name("reauth");
    let producer: FutureProducer = sasl_config(&b, "SCRAM-SHA-512", "alice", "alice-scram").set("linger.ms", "0").create().unwrap();
    let t0 = Instant::now();
    let mut n = 0;
    while t0.elapsed() < Duration::from_secs(5) {
        let d = common::block_on(producer.send(FutureRecord::to(&topic).key("k").payload("v"), OP_TIMEOUT));
        d.unwrap_or_else(|(e, _)| panic!("produce #{n} across re-authentication: {e}"));
        n += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(n >= 20, "only {n} records in 5 s");
}

#[test]
fn plain_users_come_from_the_jaas_file_section_of_the_listener() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kafka_server_jaas.conf");
    let text = "// as the Kafka images mount it\nsasl.KafkaServer {\n  org.apache.kafka.common.security.plain.PlainLoginModule required\n    username=\"admin\" password=\"admin-secret\"\n    user_dave=\"dave-secret\";\n};\nKafkaServer {\n  org.apache.kafka.common.security.plain.PlainLoginModule required user_erin=\"erin-secret\";\n};\n";
    std::fs::write(&file, text).unwrap();
    let b = TestBroker::start_with_listeners(&[("SASL", "SASL_PLAINTEXT")], &[("sasl.enabled.mechanisms", "PLAIN"), ("java.security.auth.login.config", file.to_str().unwrap())]);
    round_trip(&sasl_config(&b, "PLAIN", "dave", "dave-secret"), 2);
    // The listener's own section wins over KafkaServer, as Kafka's JaasContext picks it.
    login_fails(&sasl_config(&b, "PLAIN", "erin", "erin-secret"));
}

/// PBKDF2 as a SCRAM client computes it for AlterUserScramCredentials.
fn salted_password(mechanism: i8, password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
    let (alg, len) = if mechanism == 1 { (ring::pbkdf2::PBKDF2_HMAC_SHA256, 32) } else { (ring::pbkdf2::PBKDF2_HMAC_SHA512, 64) };
    let mut out = vec![0u8; len];
    ring::pbkdf2::derive(alg, std::num::NonZeroU32::new(iterations).unwrap(), salt, password.as_bytes(), &mut out);
    out
}

fn alter_scram(c: &mut RawConn, user: &str, mechanism: i8, password: &str, iterations: i32) -> i16 {
    let salt = b"a-salt-of-sixteen".to_vec();
    let up = ScramCredentialUpsertion::default()
        .with_name(StrBytes::from_string(user.to_string()))
        .with_mechanism(mechanism)
        .with_iterations(iterations)
        .with_salt(salt.clone().into())
        .with_salted_password(salted_password(mechanism, password, &salt, iterations.max(1) as u32).into());
    let r = c.call(0, &AlterUserScramCredentialsRequest::default().with_upsertions(vec![up]));
    r.results[0].error_code
}

#[test]
fn scram_users_are_managed_with_the_admin_apis_and_survive_kill_9() {
    let mut b = sasl_broker(&[]);
    let mut admin = RawConn::connect_raw_to(&b.bootstrap());
    assert_eq!(alter_scram(&mut admin, "carol", 1, "carol-1", 4096), 0);
    assert_eq!(alter_scram(&mut admin, "carol", 2, "carol-2", 16384), 0);
    assert_eq!(alter_scram(&mut admin, "carol", 1, "x", 100), 93, "iterations below 4096");
    assert_eq!(alter_scram(&mut admin, "", 1, "x", 4096), 93, "an empty name");
    let d = admin.call(0, &DescribeUserScramCredentialsRequest::default().with_users(Some(vec![UserName::default().with_name(StrBytes::from_static_str("carol")), UserName::default().with_name(StrBytes::from_static_str("nobody"))])));
    let carol = &d.results[0];
    let mut infos: Vec<(i8, i32)> = carol.credential_infos.iter().map(|i| (i.mechanism, i.iterations)).collect();
    infos.sort();
    assert_eq!((carol.error_code, infos), (0, vec![(1, 4096), (2, 16384)]));
    assert_eq!(d.results[1].error_code, 91, "an unknown user: RESOURCE_NOT_FOUND");
    round_trip(&sasl_config(&b, "SCRAM-SHA-256", "carol", "carol-1"), 3);
    // A new password replaces the old one.
    assert_eq!(alter_scram(&mut admin, "carol", 1, "carol-new", 4096), 0);
    login_fails(&sasl_config(&b, "SCRAM-SHA-256", "carol", "carol-1"));
    b.kill9();
    b.restart();
    round_trip(&sasl_config(&b, "SCRAM-SHA-256", "carol", "carol-new"), 3);
    round_trip(&sasl_config(&b, "SCRAM-SHA-512", "carol", "carol-2"), 3);
    round_trip(&sasl_config(&b, "SCRAM-SHA-512", "alice", "alice-scram"), 1);
    // Deleting a credential: it no longer logs in; deleting it again is RESOURCE_NOT_FOUND.
    let mut admin = RawConn::connect_raw_to(&b.bootstrap());
    let del = |m: i8| {
        AlterUserScramCredentialsRequest::default().with_deletions(vec![alter_user_scram_credentials_request::ScramCredentialDeletion::default().with_name(StrBytes::from_static_str("carol")).with_mechanism(m)])
    };
    assert_eq!(admin.call(0, &del(2)).results[0].error_code, 0);
    assert_eq!(admin.call(0, &del(2)).results[0].error_code, 91);
    login_fails(&sasl_config(&b, "SCRAM-SHA-512", "carol", "carol-2"));
}
