//! The network edge (Kafka's SocketServer and request routing): the listener, per-connection
//! framing, and dispatch to the API handlers; and the broker's start and shutdown.

mod authenticator;
mod connection;
pub mod dispatch;
mod listener;
mod transport;

use crate::broker::{Broker, Endpoint};
use crate::util::periodic::run_every;
use crate::config::Config;
use crate::group::{GroupCoordinator, OffsetStore};
use crate::log::LogManager;
use crate::meta::scram_credentials::ScramCredentialStore;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// A running broker.
pub struct Handle {
    broker: Arc<Broker>,
    /// Each served listener's name and bound address.
    bound: Vec<(String, SocketAddr)>,
    shutdown_tx: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listener's address is taken or not ours.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why it could not be bound.
        source: std::io::Error,
    },
    /// The data dir could not be opened (a damaged file, permissions).
    #[error("cannot open data dir: {0}")]
    Log(#[from] crate::log::TopicError),
    /// Another file could not be read or written.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// `add.scram` cannot be read or stored.
    #[error("{0}")]
    Scram(String),
    /// A listener cannot be served as configured (TLS or SASL settings).
    #[error("listener {listener}: {reason}")]
    Listener {
        /// The listener's name.
        listener: String,
        /// What is wrong.
        reason: String,
    },
}

impl Broker {
    /// Opens the data dir, binds the listeners and starts serving.
    pub async fn start(config: Config) -> Result<Handle, StartError> {
        let config = Arc::new(config);
        let scram = Arc::new(ScramCredentialStore::open(config.data_dir.clone())?);
        if let Some(seed) = &config.add_scram {
            scram.seed(seed).map_err(StartError::Scram)?;
        }
        // Every listener's security is checked before anything is bound or opened.
        let mut security = Vec::new();
        for l in &config.listeners {
            security.push(Arc::new(listener::Security::build(&config, l, Some(scram.clone()))?));
        }
        let mut sockets = Vec::new();
        for l in &config.listeners {
            sockets.push(listener::bind(l.bind).await?);
        }
        let mut bound = Vec::new();
        let mut endpoints = Vec::new();
        for (l, socket) in config.listeners.iter().zip(&sockets) {
            let addr = socket.local_addr()?;
            let (host, port) = l.advertised.clone().unwrap_or_else(|| {
                let host = if addr.ip().is_unspecified() { "localhost".to_string() } else { addr.ip().to_string() };
                (host, addr.port())
            });
            endpoints.push(Endpoint { listener: Arc::from(l.name.as_str()), protocol: l.protocol, host, port });
            bound.push((l.name.clone(), addr));
        }
        let logs = Arc::new(LogManager::open(config.log_manager_config())?);
        let offsets = OffsetStore::open(logs.clone(), config.group.offsets_topic_partitions, config.group.offsets_topic_segment_bytes);
        let groups = GroupCoordinator::new(config.group.clone(), offsets);
        let producer_ids = crate::meta::producer_ids::ProducerIdManager::open(config.data_dir.clone())?;
        let txns = crate::txn::TransactionCoordinator::open(config.txn.clone(), logs.clone(), &groups);
        let cluster_id = crate::meta::load_or_create_cluster_id(&config.data_dir, config.node_id)?;
        let (shutdown_tx, shutdown) = watch::channel(false);
        let broker = Arc::new(Broker { config: config.clone(), logs, groups, producer_ids, scram, txns, cluster_id, node_id: config.node_id, endpoints, shutdown });
        let quotas = Arc::new(listener::ConnectionQuotas::new(config.max_connections, config.max_connections_per_ip));
        let mut tasks: Vec<_> = sockets.into_iter().zip(security).map(|(socket, sec)| tokio::spawn(listener::run(socket, sec, quotas.clone(), broker.clone()))).collect();
        tasks.push(spawn_periodic(broker.clone(), config.retention_check_interval_ms, |b| b.logs.retention_pass()));
        let flush_every = config.flush_scheduler_interval_ms.min(config.log_defaults.flush_ms.max(1) as u64).min(1000);
        tasks.push(spawn_periodic(broker.clone(), flush_every, |b| b.logs.flush_pass()));
        tasks.push(spawn_periodic(broker.clone(), config.producer_id_expiration_check_interval_ms, |b| b.logs.producer_expiration_pass()));
        tasks.push(spawn_coordinator_timers(broker.clone()));
        if config.cleaner_enable {
            tasks.push(spawn_periodic(broker.clone(), config.cleaner_backoff_ms, |b| b.logs.cleaner_pass()));
        }
        Ok(Handle { broker, bound, shutdown_tx, tasks })
    }
}

/// Runs `f` every `every_ms` on a blocking thread until shutdown.
fn spawn_periodic(broker: Arc<Broker>, every_ms: u64, f: fn(&Broker)) -> tokio::task::JoinHandle<()> {
    let shutdown = broker.shutdown.clone();
    tokio::spawn(run_every(Duration::from_millis(every_ms), shutdown, move || {
        let b = broker.clone();
        move || f(&b)
    }))
}

/// Spawns the coordinators' timers; each coordinator owns its cadence (`group::timer`,
/// `TransactionCoordinator::run_timers`).
fn spawn_coordinator_timers(broker: Arc<Broker>) -> tokio::task::JoinHandle<()> {
    let groups = broker.groups.clone().run_timers(broker.shutdown.clone());
    let txns = broker.txns.clone().run_timers(broker.config.txn_abort_interval_ms, broker.shutdown.clone());
    tokio::spawn(async move {
        tokio::join!(groups, txns);
    })
}

impl Handle {
    /// The address the first listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.bound[0].1
    }
    /// The address listener `name` is bound to.
    pub fn listener_addr(&self, name: &str) -> Option<SocketAddr> {
        self.bound.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, a)| *a)
    }
    /// Each served listener's advertised endpoint.
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.broker.endpoints
    }
    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.broker.config.data_dir
    }
    /// The broker's parts, for in-process callers (the fuzz harness).
    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Stops accepting, lets in-flight requests finish briefly, then flushes and seals every log.
    pub async fn shutdown(self) -> std::io::Result<()> {
        let _ = self.shutdown_tx.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_millis(500), t).await;
        }
        // Connections notice the signal between requests; give in-flight ones a moment.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let broker = self.broker.clone();
        tokio::task::spawn_blocking(move || broker.logs.close()).await.map_err(std::io::Error::other)?
    }
}
