//! The container image `odradek:dev` (docker/Dockerfile), driven through the `testcontainers`
//! crate against a Docker-compatible API (here podman's: `bash docker/build-image.sh` builds the
//! image, starts `podman system service` and prints the `DOCKER_HOST=...` to export).
//!
//! One test, in order:
//! 1. inspects the image (size, non-root user, entrypoint, exposed port, volume, stop signal);
//! 2. starts a container with the broker's port 9092 published on a host port picked up front,
//!    loopback only, and `KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://127.0.0.1:<host port>`, data on
//!    a fresh named volume, ready when the broker logs `odradek started: listening on`;
//! 3. produces keyed records with librdkafka (`rdkafka`) through the mapped port, reads them back
//!    with an assign()-only consumer, and commits a group offset (so FindCoordinator's advertised
//!    address is used too);
//! 4. stops the container (the image's STOPSIGNAL, SIGTERM) and checks that it exited 0 well
//!    before the grace period, i.e. it was not SIGKILLed;
//! 5. starts a second container on the same volume and a new port, and reads everything back
//!    (records and the committed offset).
//!
//! Without DOCKER_HOST the test fails and says how to get one: it never passes silently.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use testcontainers::bollard::query_parameters::{
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder,
};
use testcontainers::bollard::Docker;
use testcontainers::core::{ContainerPort, IntoContainerPort, Mount, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

const IMAGE: &str = "odradek";
const TAG: &str = "dev";
const DATA_DIR: &str = "/var/lib/odradek";
const READY_LINE: &str = "odradek started: listening on";
/// Label on every container this test creates (value: the run's volume name), for clean-up.
const LABEL: &str = "odradek-container-it";
const TOPIC: &str = "container-roundtrip";
const GROUP: &str = "container-it-group";
const RECORDS: usize = 200;
/// Grace period given to `stop`: the runtime sends SIGKILL after it. A clean SIGTERM shutdown
/// takes ~1 s; anything close to this is a failure.
const STOP_GRACE_SECS: i32 = 20;
const STOP_MAX: Duration = Duration::from_secs(8);
const OP_TIMEOUT: Duration = Duration::from_secs(30);

fn docker_host() -> String {
    match std::env::var("DOCKER_HOST") {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!(
            "DOCKER_HOST is not set: this test needs a Docker-compatible API and the image \
             odradek:dev. Run `bash docker/build-image.sh` first (it installs podman, builds the \
             image and starts the API socket), then \
             `export DOCKER_HOST=unix:///tmp/odradek-podman.sock` (the script's last line) and \
             run `cargo test --test container` again."
        ),
    }
}

/// A free TCP port on the host's loopback (never 9092).
fn free_port() -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = l.local_addr().unwrap().port();
        if port != 9092 {
            return port;
        }
    }
}

fn kafka_port() -> ContainerPort {
    9092.tcp()
}

/// The container request: 9092 published on `127.0.0.1:<host_port>` and advertised as such,
/// data on the named volume.
fn broker_request(host_port: u16, volume: &str) -> testcontainers::ContainerRequest<GenericImage> {
    GenericImage::new(IMAGE, TAG)
        .with_exposed_port(kafka_port())
        .with_wait_for(WaitFor::message_on_stderr(READY_LINE))
        .with_mapped_port(host_port, kafka_port())
        // Publish on loopback only (testcontainers leaves HostIp empty = every interface).
        .with_host_config_modifier(|hc| {
            if let Some(bindings) = hc.port_bindings.as_mut() {
                for list in bindings.values_mut().flatten() {
                    for b in list.iter_mut() {
                        b.host_ip = Some("127.0.0.1".to_string());
                    }
                }
            }
        })
        .with_env_var(
            "KAFKA_ADVERTISED_LISTENERS",
            format!("PLAINTEXT://127.0.0.1:{host_port}"),
        )
        .with_env_var("KAFKA_NUM_PARTITIONS", "1")
        .with_env_var("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "100")
        .with_mount(Mount::volume_mount(volume, DATA_DIR))
        .with_label(LABEL, volume)
        .with_startup_timeout(Duration::from_secs(90))
}

/// A started broker container and what it took to get there.
struct Started {
    container: ContainerAsync<GenericImage>,
    host_port: u16,
    ready_after: Duration,
}

/// Starts a broker container; retries with a new host port if the one picked was taken in the
/// meantime (the free-port dance is racy).
async fn start_broker(volume: &str) -> Started {
    let mut last_err = String::new();
    for attempt in 0..3 {
        let host_port = free_port();
        let t0 = Instant::now();
        match broker_request(host_port, volume).start().await {
            Ok(container) => {
                let ready_after = t0.elapsed();
                return Started {
                    container,
                    host_port,
                    ready_after,
                };
            }
            Err(e) => {
                eprintln!(
                    "[container] start attempt {attempt} on host port {host_port} failed: {e}"
                );
                last_err = e.to_string();
            }
        }
    }
    panic!("could not start {IMAGE}:{TAG}: {last_err}");
}

async fn stderr_text(c: &ContainerAsync<GenericImage>) -> String {
    String::from_utf8_lossy(&c.stderr_to_vec().await.unwrap_or_default()).into_owned()
}

/// The startup line, e.g. `odradek started: listening on [::]:9092, advertised 127.0.0.1:40000,
/// data dir /var/lib/odradek, in 3 ms`.
async fn startup_line(c: &ContainerAsync<GenericImage>) -> String {
    stderr_text(c)
        .await
        .lines()
        .find(|l| l.contains(READY_LINE))
        .map(str::to_string)
        .unwrap_or_default()
}

fn client_config(host_port: u16) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", format!("127.0.0.1:{host_port}"))
        .set("broker.address.family", "v4")
        .set("client.id", "odradek-container-it");
    c
}

fn producer(host_port: u16) -> FutureProducer {
    client_config(host_port)
        .set("acks", "all")
        .set("enable.idempotence", "false")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000")
        .create()
        .expect("create producer")
}

fn consumer(host_port: u16) -> BaseConsumer {
    client_config(host_port)
        .set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "error")
        .set("fetch.wait.max.ms", "200")
        .create()
        .expect("create consumer")
}

fn key(i: usize) -> String {
    format!("key-{i:05}")
}

fn value(i: usize) -> String {
    format!("value-{i:05}-{}", "x".repeat(i % 97))
}

/// Reads `RECORDS` records of partition 0 from offset 0 and checks every key, value and offset.
fn read_back(c: &BaseConsumer) {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, 0, Offset::Beginning)
        .unwrap();
    c.assign(&tpl).expect("assign");
    let deadline = Instant::now() + OP_TIMEOUT;
    let mut next = 0usize;
    while next < RECORDS {
        assert!(
            Instant::now() < deadline,
            "only {next} of {RECORDS} records read back in {OP_TIMEOUT:?}"
        );
        match c.poll(Duration::from_millis(500)) {
            None => {}
            Some(Err(e)) => panic!("consume error after {next} records: {e}"),
            Some(Ok(m)) => {
                assert_eq!(m.offset(), next as i64, "offset");
                assert_eq!(m.key(), Some(key(next).as_bytes()), "key at offset {next}");
                assert_eq!(
                    m.payload(),
                    Some(value(next).as_bytes()),
                    "value at offset {next}"
                );
                next += 1;
            }
        }
    }
    let (low, high) = c
        .fetch_watermarks(TOPIC, 0, OP_TIMEOUT)
        .expect("watermarks");
    assert_eq!((low, high), (0, RECORDS as i64), "watermarks");
}

/// Stops with the image's STOPSIGNAL (SIGTERM) and checks for a prompt, clean exit.
async fn stop_cleanly(c: &ContainerAsync<GenericImage>, what: &str) -> Duration {
    let t0 = Instant::now();
    c.stop_with_timeout(Some(STOP_GRACE_SECS))
        .await
        .expect("stop container");
    let took = t0.elapsed();
    let code = c.exit_code().await.expect("exit code");
    let logs = stderr_text(c).await;
    assert_eq!(
        code,
        Some(0),
        "{what}: broker container did not exit 0 after SIGTERM (137 = SIGKILL after the grace period)\n\
         --- container stderr ---\n{logs}"
    );
    assert!(
        took < STOP_MAX,
        "{what}: stop took {took:?} (grace {STOP_GRACE_SECS} s): SIGTERM was not handled promptly\n\
         --- container stderr ---\n{logs}"
    );
    took
}

/// Removes, when the test ends however it ends, every container this run created (labelled
/// `LABEL=<volume>`; a failed start leaves a created container behind) and then the volume.
struct Cleanup {
    volume: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let volume = self.volume.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let Ok(docker) = Docker::connect_with_defaults() else {
                    return;
                };
                let filters =
                    std::collections::HashMap::from([("label", vec![format!("{LABEL}={volume}")])]);
                let list = ListContainersOptionsBuilder::new()
                    .all(true)
                    .filters(&filters)
                    .build();
                for c in docker.list_containers(Some(list)).await.unwrap_or_default() {
                    let Some(id) = c.id else { continue };
                    let opts = RemoveContainerOptionsBuilder::new()
                        .force(true)
                        .v(true)
                        .build();
                    if let Err(e) = docker.remove_container(&id, Some(opts)).await {
                        eprintln!("[container] could not remove container {id}: {e}");
                    }
                }
                let opts = RemoveVolumeOptionsBuilder::new().force(true).build();
                if let Err(e) = docker.remove_volume(&volume, Some(opts)).await {
                    eprintln!("[container] could not remove volume {volume}: {e}");
                }
            })
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_roundtrip_stop_and_restart_on_same_volume() {
    let host = docker_host();
    println!("[container] DOCKER_HOST={host}");

    // ------------------------------------------------------------ 1. the image itself
    let docker = Docker::connect_with_defaults().expect("connect to DOCKER_HOST");
    let image = docker.inspect_image(&format!("{IMAGE}:{TAG}")).await.unwrap_or_else(|e| {
        panic!("image {IMAGE}:{TAG} not found through {host} ({e}): run `bash docker/build-image.sh` first")
    });
    let size = image.size.unwrap_or(0);
    println!(
        "[container] image {IMAGE}:{TAG} size: {size} bytes ({:.1} MiB)",
        size as f64 / (1024.0 * 1024.0)
    );
    let cfg = image.config.expect("image config");
    assert_eq!(
        cfg.user.as_deref(),
        Some("65532:65532"),
        "image runs as non-root 65532"
    );
    assert_eq!(
        cfg.entrypoint,
        Some(vec!["/odradek".to_string()]),
        "entrypoint"
    );
    assert!(
        cfg.exposed_ports
            .unwrap_or_default()
            .iter()
            .any(|p| p == "9092/tcp"),
        "image exposes 9092/tcp"
    );
    assert!(
        cfg.volumes
            .unwrap_or_default()
            .iter()
            .any(|v| v == DATA_DIR),
        "image declares the volume {DATA_DIR}"
    );
    assert!(
        cfg.env
            .unwrap_or_default()
            .iter()
            .any(|e| e == &format!("ODRADEK_LOG_DIRS={DATA_DIR}")),
        "image sets ODRADEK_LOG_DIRS"
    );
    assert_eq!(
        cfg.stop_signal.as_deref(),
        Some("SIGTERM"),
        "image STOPSIGNAL"
    );

    let volume = format!(
        "odradek-it-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    );
    let _cleanup = Cleanup {
        volume: volume.clone(),
    };

    // ------------------------------------------------------------ 2. first container
    let first = start_broker(&volume).await;
    let line = startup_line(&first.container).await;
    println!(
        "[container] first container {} ready after {:?} (host port {}): {line}",
        first.container.id(),
        first.ready_after,
        first.host_port
    );
    println!(
        "[container] time-to-ready: {} ms",
        first.ready_after.as_millis()
    );
    assert!(
        line.contains(&format!("advertised 127.0.0.1:{}", first.host_port)),
        "startup line should show the advertised mapped port: {line}"
    );
    assert!(
        line.contains(DATA_DIR),
        "startup line should show the data dir: {line}"
    );

    // ------------------------------------------------------------ 3. produce, consume, commit
    let p = producer(first.host_port);
    let t0 = Instant::now();
    let futures: Vec<_> = (0..RECORDS)
        .map(|i| {
            let (k, v) = (key(i), value(i));
            let p = p.clone();
            async move {
                p.send(
                    FutureRecord::to(TOPIC).partition(0).key(&k).payload(&v),
                    OP_TIMEOUT,
                )
                .await
                .map_err(|(e, _)| e)
            }
        })
        .collect();
    for (i, r) in futures::future::join_all(futures)
        .await
        .into_iter()
        .enumerate()
    {
        let delivery = r.unwrap_or_else(|e| panic!("produce record {i} failed: {e}"));
        assert_eq!(delivery.partition, 0);
    }
    println!(
        "[container] produced {RECORDS} records through 127.0.0.1:{} in {:?}",
        first.host_port,
        t0.elapsed()
    );
    drop(p);

    let host_port = first.host_port;
    tokio::task::spawn_blocking(move || {
        let c = consumer(host_port);
        read_back(&c);
        // A group commit goes to the coordinator FindCoordinator names: the advertised address.
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(TOPIC, 0, Offset::Offset(RECORDS as i64))
            .unwrap();
        c.commit(&tpl, CommitMode::Sync)
            .expect("commit group offset");
    })
    .await
    .expect("consumer task");
    println!("[container] read back {RECORDS} records (keys, values, offsets checked); committed offset {RECORDS}");

    // ------------------------------------------------------------ 4. stop with SIGTERM
    let took = stop_cleanly(&first.container, "first container").await;
    println!("[container] first container stopped (SIGTERM) in {took:?}, exit code 0");
    first.container.rm().await.expect("remove first container");

    // ------------------------------------------------------------ 5. a new container, same volume
    let second = start_broker(&volume).await;
    let line = startup_line(&second.container).await;
    println!(
        "[container] second container ready after {:?} on the same volume (host port {}): {line}",
        second.ready_after, second.host_port
    );
    let host_port = second.host_port;
    tokio::task::spawn_blocking(move || {
        let c = consumer(host_port);
        read_back(&c);
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(TOPIC, 0);
        let committed = c
            .committed_offsets(tpl, OP_TIMEOUT)
            .expect("committed offsets");
        let off = committed
            .find_partition(TOPIC, 0)
            .expect("partition in committed list")
            .offset();
        assert_eq!(
            off,
            Offset::Offset(RECORDS as i64),
            "committed offset survives a new container"
        );
    })
    .await
    .expect("consumer task");
    println!(
        "[container] second container read back all {RECORDS} records and the committed offset"
    );

    let took = stop_cleanly(&second.container, "second container").await;
    println!("[container] second container stopped (SIGTERM) in {took:?}, exit code 0");
    second
        .container
        .rm()
        .await
        .expect("remove second container");
    println!(
        "[container] summary: image size {size} bytes, time-to-ready {} ms (first) / {} ms (restart)",
        first.ready_after.as_millis(),
        second.ready_after.as_millis()
    );
}
