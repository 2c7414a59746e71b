//! What the group APIs hand the coordinator and what it answers, in owned types (the API layer
//! copies them out of the kafka-protocol messages, so the coordinator does not depend on versions).

use crate::request::Answer;
use super::classic::{GroupState, MemberDescription, Protocol};
use bytes::Bytes;
use kafka_protocol::ResponseError;
use tokio::sync::oneshot;

/// The generation of an answer that joined none (Kafka's UNKNOWN_GENERATION_ID).
pub const NO_GENERATION: i32 = -1;

/// Either an answer now, or one to wait for (a JoinGroup or SyncGroup parked until the
/// rebalance completes): the crate-wide "now or later" type.
pub type Reply<T> = Answer<T>;

/// The answer `rx` will carry when the group's rebalance moves on; `gone` if the coordinator
/// drops the call (its sender) instead.
pub(crate) fn parked<T: Send + 'static>(rx: oneshot::Receiver<T>, gone: T) -> Reply<T> {
    Answer::Later(Box::pin(async move { rx.await.unwrap_or(gone) }))
}

/// A JoinGroup.
pub struct JoinRequest {
    /// The group to join.
    pub group_id: String,
    /// Empty for a member joining for the first time.
    pub member_id: String,
    /// `group.instance.id` of a static member (KIP-345).
    pub instance_id: Option<String>,
    /// The client id of the request.
    pub client_id: String,
    /// `/ip` of the connection.
    pub client_host: String,
    /// `session.timeout.ms`.
    pub session_timeout_ms: i32,
    /// `max.poll.interval.ms` for consumers (the session timeout before JoinGroup v1).
    pub rebalance_timeout_ms: i32,
    /// "consumer", "connect", ...
    pub protocol_type: String,
    /// The protocols the member supports, most preferred first.
    pub protocols: Vec<Protocol>,
    /// JoinGroup v4+ requires a known member id (KIP-394).
    pub require_known_member_id: bool,
    /// The request's version (the answer to a returning static leader depends on it).
    pub version: i16,
}

/// A member of the group as the leader sees it in its JoinGroup answer.
#[derive(Debug, Clone)]
pub struct JoinedMember {
    /// The member's id.
    pub member_id: String,
    /// Its `group.instance.id`, if static.
    pub instance_id: Option<String>,
    /// Its metadata for the selected protocol.
    pub metadata: Bytes,
}

/// The answer to a JoinGroup.
#[derive(Debug, Clone, Default)]
pub struct JoinResult {
    /// None on success.
    pub error: Option<ResponseError>,
    /// The generation joined (-1 on error).
    pub generation: i32,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The protocol the group selected.
    pub protocol_name: Option<String>,
    /// The leader's member id.
    pub leader: String,
    /// The member's id (a new one for a new member).
    pub member_id: String,
    /// KIP-814: a returning static leader need not compute an assignment.
    pub skip_assignment: bool,
    /// The members of the generation: only for the leader.
    pub members: Vec<JoinedMember>,
}

impl JoinResult {
    /// An error answer for `member_id`.
    pub(crate) fn error(e: ResponseError, member_id: &str) -> JoinResult {
        JoinResult { error: Some(e), generation: NO_GENERATION, member_id: member_id.to_string(), ..Default::default() }
    }
}

/// One member's assignment, as the leader sends it in SyncGroup.
#[derive(Debug, Clone)]
pub struct MemberAssignment {
    /// The member it is for.
    pub member_id: String,
    /// The assignment, opaque to the coordinator.
    pub assignment: Bytes,
}

/// A SyncGroup.
pub struct SyncRequest {
    /// The group.
    pub group_id: String,
    /// The member syncing.
    pub member_id: String,
    /// Its `group.instance.id`, if static.
    pub instance_id: Option<String>,
    /// The generation it joined.
    pub generation: i32,
    /// Checked against the group's, when sent (v5+).
    pub protocol_type: Option<String>,
    /// Checked against the group's, when sent (v5+).
    pub protocol_name: Option<String>,
    /// The leader's assignments; empty from followers.
    pub assignments: Vec<MemberAssignment>,
}

/// The answer to a SyncGroup.
#[derive(Debug, Clone, Default)]
pub struct SyncResult {
    /// None on success.
    pub error: Option<ResponseError>,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The group's protocol.
    pub protocol_name: Option<String>,
    /// The member's assignment.
    pub assignment: Bytes,
}

impl SyncResult {
    /// An error answer.
    pub(crate) fn error(e: ResponseError) -> SyncResult {
        SyncResult { error: Some(e), ..Default::default() }
    }
}

/// One member named in a LeaveGroup.
#[derive(Debug, Clone)]
pub struct LeavingMember {
    /// The member's id (may be empty for a static member named by instance id).
    pub member_id: String,
    /// Its `group.instance.id`, if static.
    pub instance_id: Option<String>,
}

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone)]
pub struct GroupDescription {
    /// The group's id.
    pub group_id: String,
    /// Its state.
    pub state: GroupState,
    /// Its protocol type ("consumer", ...), empty if never set.
    pub protocol_type: String,
    /// The selected protocol, while the group has one (CompletingRebalance, Stable).
    pub protocol: String,
    /// Its members.
    pub members: Vec<MemberDescription>,
}

/// A group as ListGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupListing {
    /// The group's id.
    pub group_id: String,
    /// Its protocol type, empty if never set.
    pub protocol_type: String,
    /// Its state.
    pub state: GroupState,
}

/// What OffsetDelete needs to know of a group: its state and the topics its members subscribe to.
#[derive(Debug, Clone)]
pub struct Subscriptions {
    /// The group's state.
    pub state: GroupState,
    /// Topics named in the members' consumer-protocol subscriptions (empty for other protocols).
    pub topics: Vec<String>,
}
