//! The broker's parts, as the request handlers reach them: settings, the logs, the coordinators
//! and who we are. `server` builds one at start; `api` handlers take it.

use crate::config::listeners::SecurityProtocol;
use crate::config::Config;
use crate::group::GroupCoordinator;
use crate::log::LogManager;
use crate::meta::producer_ids::ProducerIdManager;
use crate::meta::scram_credentials::ScramCredentialStore;
use crate::txn::TransactionCoordinator;
use std::sync::Arc;
use tokio::sync::watch;

/// Everything a request handler can reach: settings, the logs, and who we are.
pub struct Broker {
    /// The broker's settings.
    pub config: Arc<Config>,
    /// Every topic's partitions.
    pub logs: Arc<LogManager>,
    /// The classic group coordinator and the committed offsets behind it.
    pub groups: GroupCoordinator,
    /// Hands out producer ids, unique across restarts.
    pub producer_ids: ProducerIdManager,
    /// The SCRAM users (SASL SCRAM logins and the SCRAM admin APIs).
    pub scram: Arc<ScramCredentialStore>,
    /// The transaction coordinator.
    pub txns: TransactionCoordinator,
    /// `meta.properties`' cluster id.
    pub cluster_id: String,
    /// `node.id`.
    pub node_id: i32,
    /// Each served listener's advertised endpoint, in `listeners` order.
    pub endpoints: Vec<Endpoint>,
    /// Flips to true once when the broker starts shutting down.
    pub shutdown: watch::Receiver<bool>,
}


/// A listener's advertised endpoint (Kafka's `EndPoint`).
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The listener's name.
    pub listener: Arc<str>,
    /// Its security protocol.
    pub protocol: SecurityProtocol,
    /// The host clients are given.
    pub host: String,
    /// The port clients are given.
    pub port: u16,
}

impl Broker {
    /// The host and port to hand a client that came in on `listener` (Kafka answers Metadata,
    /// FindCoordinator and DescribeCluster with the endpoints of the request's listener).
    pub fn advertised(&self, listener: &str) -> (&str, i32) {
        let e = self.endpoints.iter().find(|e| &*e.listener == listener).or(self.endpoints.first());
        e.map_or(("localhost", 9092), |e| (e.host.as_str(), e.port as i32))
    }
}
