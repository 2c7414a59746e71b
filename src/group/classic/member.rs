//! A member of a classic group, after Kafka's `ClassicGroupMember`.

use crate::group::requests::{JoinResult, SyncResult};
use bytes::Bytes;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// One protocol a member supports: its name and the member's metadata for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Protocol {
    /// The protocol's name (for consumers, the assignor: "range", "cooperative-sticky", ...).
    pub name: String,
    /// The member's metadata for this protocol (for consumers, its subscription).
    pub metadata: Bytes,
}

/// A member of a group, with the JoinGroup or SyncGroup call it may have parked.
pub(crate) struct Member {
    pub(crate) id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) session_timeout: Duration,
    pub(crate) rebalance_timeout: Duration,
    /// In the member's order of preference.
    pub(crate) protocols: Vec<Protocol>,
    pub(crate) assignment: Bytes,
    pub(crate) awaiting_join: Option<oneshot::Sender<JoinResult>>,
    pub(crate) awaiting_sync: Option<oneshot::Sender<SyncResult>>,
    pub(crate) last_heartbeat: Instant,
}

impl Member {
    /// The member's metadata for `protocol` (empty if it does not support it).
    pub(crate) fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols.iter().find(|p| p.name == protocol).map(|p| p.metadata.clone()).unwrap_or_default()
    }

    /// Whether the member supports the protocol named `name`.
    pub(crate) fn supports(&self, name: &str) -> bool {
        self.protocols.iter().any(|p| p.name == name)
    }

    /// Members parked in a join or sync do not expire on the session timeout (Kafka's shouldKeepAlive).
    pub(crate) fn expired(&self, now: Instant) -> bool {
        self.awaiting_join.is_none() && self.awaiting_sync.is_none() && now.duration_since(self.last_heartbeat) >= self.session_timeout
    }

    /// Answers a parked JoinGroup, if there is one, with an error.
    pub(crate) fn fail_join(&mut self, e: kafka_protocol::ResponseError) {
        if let Some(tx) = self.awaiting_join.take() {
            let _ = tx.send(JoinResult::error(e, &self.id));
        }
    }

    /// Answers a parked SyncGroup, if there is one, with an error.
    pub(crate) fn fail_sync(&mut self, e: kafka_protocol::ResponseError) {
        if let Some(tx) = self.awaiting_sync.take() {
            let _ = tx.send(SyncResult::error(e));
        }
    }
}

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone)]
pub struct MemberDescription {
    /// The member id the coordinator gave it.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub instance_id: Option<String>,
    /// The client id of its last JoinGroup.
    pub client_id: String,
    /// `/ip` of the connection it joined from.
    pub client_host: String,
    /// Its metadata for the group's protocol.
    pub metadata: Bytes,
    /// Its assignment (empty unless the group is Stable).
    pub assignment: Bytes,
}
