//! The broker's parts, as the request handlers reach them: settings, the logs, the coordinators
//! and who we are. `server` builds one at start; `api` handlers take it.

use crate::config::Config;
use crate::group::GroupCoordinator;
use crate::log::LogManager;
use crate::meta::producer_ids::ProducerIdManager;
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
    /// The transaction coordinator.
    pub txns: TransactionCoordinator,
    /// `meta.properties`' cluster id.
    pub cluster_id: String,
    /// `node.id`.
    pub node_id: i32,
    /// Host and port returned by Metadata (`advertised.listeners`).
    pub advertised: (String, u16),
    /// Flips to true once when the broker starts shutting down.
    pub shutdown: watch::Receiver<bool>,
}

