//! The classic group coordinator, after Apache Kafka's `GroupCoordinator`.
//!
//! States: Empty -> PreparingRebalance -> CompletingRebalance -> Stable (and Dead once deleted).
//! JoinGroup and SyncGroup calls that must wait for the rest of the group park a oneshot sender
//! in their member; the rebalance that completes them answers every parked call at once. Timers
//! (session expiry, rebalance timeout, initial rebalance delay) are driven by `tick`, which the
//! broker calls every few tens of milliseconds. All state sits behind one short synchronous lock.

use super::offsets::{Change, Committed, OffsetStore, StoredGroup, StoredMember};
use crate::config::GroupConfig;
use crate::util::time::now_ms;
use bytes::Bytes;
use indexmap::IndexMap;
use kafka_protocol::ResponseError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// The answer to a JoinGroup.
#[derive(Debug, Clone, Default)]
pub struct JoinResult {
    pub error: Option<ResponseError>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    pub skip_assignment: bool,
    /// (member id, group instance id, metadata): only for the leader.
    pub members: Vec<(String, Option<String>, Bytes)>,
}

impl JoinResult {
    fn error(e: ResponseError, member_id: &str) -> JoinResult {
        JoinResult { error: Some(e), generation: -1, member_id: member_id.to_string(), ..Default::default() }
    }
}

/// The answer to a SyncGroup.
#[derive(Debug, Clone, Default)]
pub struct SyncResult {
    pub error: Option<ResponseError>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncResult {
    fn error(e: ResponseError) -> SyncResult {
        SyncResult { error: Some(e), ..Default::default() }
    }
}

/// Either an answer now, or one to wait for.
pub enum Reply<T> {
    Now(T),
    Later(oneshot::Receiver<T>),
}

pub struct JoinRequest {
    pub group_id: String,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+ requires a known member id (KIP-394).
    pub require_known_member_id: bool,
    pub version: i16,
}

pub struct SyncRequest {
    pub group_id: String,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignments: Vec<(String, Bytes)>,
}

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone)]
pub struct MemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

#[derive(Debug, Clone)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

struct Member {
    id: String,
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    protocols: Vec<(String, Bytes)>,
    assignment: Bytes,
    awaiting_join: Option<oneshot::Sender<JoinResult>>,
    awaiting_sync: Option<oneshot::Sender<SyncResult>>,
    last_heartbeat: Instant,
}

impl Member {
    fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols.iter().find(|(n, _)| n == protocol).map(|(_, m)| m.clone()).unwrap_or_default()
    }

    /// Members parked in a join or sync do not expire on the session timeout (Kafka's shouldKeepAlive).
    fn expired(&self, now: Instant) -> bool {
        self.awaiting_join.is_none() && self.awaiting_sync.is_none() && now.duration_since(self.last_heartbeat) >= self.session_timeout
    }
}

struct Group {
    id: String,
    state: GroupState,
    generation: i32,
    protocol_type: Option<String>,
    protocol: Option<String>,
    leader: Option<String>,
    /// In join order: the first member becomes leader when there is none.
    members: IndexMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, with the time by which they must rejoin.
    pending: HashMap<String, Instant>,
    /// group.instance.id -> member id.
    static_members: HashMap<String, String>,
    rebalance_deadline: Instant,
    /// While true the join waits out `rebalance_deadline` even if everyone has joined.
    initial_delay: bool,
    initial_delay_cap: Instant,
    /// When the group entered its current state (ms since epoch): offsets expire from Empty.
    state_timestamp: i64,
}

impl Group {
    fn new(id: &str) -> Group {
        let now = Instant::now();
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: IndexMap::new(),
            pending: HashMap::new(),
            static_members: HashMap::new(),
            rebalance_deadline: now,
            initial_delay: false,
            initial_delay_cap: now,
            state_timestamp: now_ms(),
        }
    }

    /// A group loaded from `__consumer_offsets`: Stable with its stored members and
    /// assignments, each member's session starting now (Kafka's onLoaded), or Empty.
    fn restored(id: &str, stored: StoredGroup) -> Group {
        let mut g = Group::new(id);
        g.generation = stored.generation;
        if stored.state_timestamp > 0 {
            g.state_timestamp = stored.state_timestamp;
        }
        if !stored.protocol_type.is_empty() {
            g.protocol_type = Some(stored.protocol_type);
        }
        let Some(protocol) = stored.protocol.filter(|_| !stored.members.is_empty()) else {
            return g;
        };
        let now = Instant::now();
        for m in stored.members {
            if let Some(inst) = &m.instance_id {
                g.static_members.insert(inst.clone(), m.member_id.clone());
            }
            let session_ms = m.session_timeout_ms.max(0);
            let member = Member {
                id: m.member_id.clone(),
                instance_id: m.instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                session_timeout: Duration::from_millis(session_ms as u64),
                rebalance_timeout: Duration::from_millis(m.rebalance_timeout_ms.max(session_ms) as u64),
                protocols: vec![(protocol.clone(), m.subscription)],
                assignment: m.assignment,
                awaiting_join: None,
                awaiting_sync: None,
                last_heartbeat: now,
            };
            g.members.insert(m.member_id, member);
        }
        g.leader = stored.leader.filter(|l| g.members.contains_key(l)).or_else(|| g.members.keys().next().cloned());
        g.protocol = Some(protocol);
        g.state = GroupState::Stable;
        g
    }

    fn transition(&mut self, state: GroupState) {
        self.state = state;
        self.state_timestamp = now_ms();
    }

    /// Whether every member's protocols share at least one name with `protocols`.
    fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        protocols.iter().any(|(n, _)| self.members.values().all(|m| m.protocols.iter().any(|(mn, _)| mn == n)))
    }

    /// Kafka's vote: each member votes for its most preferred protocol among those all support.
    fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(n, _)| n)
            .filter(|n| self.members.values().all(|m| m.protocols.iter().any(|(mn, _)| mn == *n)))
            .collect();
        let mut votes: IndexMap<&String, usize> = candidates.iter().map(|c| (*c, 0)).collect();
        for m in self.members.values() {
            if let Some((n, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(&n)) {
                if let Some(v) = votes.get_mut(n) {
                    *v += 1;
                }
            }
        }
        // Ties go to the earliest candidate, in the first member's preference order.
        let max = votes.values().copied().max()?;
        votes.into_iter().find(|(_, v)| *v == max).map(|(n, _)| n.clone())
    }

    fn max_rebalance_timeout(&self) -> Duration {
        self.members.values().map(|m| m.rebalance_timeout).max().unwrap_or(Duration::ZERO)
    }

    fn join_result_for(&self, member_id: &str) -> JoinResult {
        let protocol = self.protocol.clone().unwrap_or_default();
        let is_leader = self.leader.as_deref() == Some(member_id);
        JoinResult {
            error: None,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            skip_assignment: false,
            members: if is_leader {
                self.members.values().map(|m| (m.id.clone(), m.instance_id.clone(), m.metadata_for(&protocol))).collect()
            } else {
                Vec::new()
            },
        }
    }

    /// Starts (or restarts) a rebalance: parked syncs learn of it, joins are awaited.
    fn prepare_rebalance(&mut self, cfg: &GroupConfig) {
        if self.state == GroupState::CompletingRebalance {
            for m in self.members.values_mut() {
                if let Some(tx) = m.awaiting_sync.take() {
                    let _ = tx.send(SyncResult::error(ResponseError::RebalanceInProgress));
                }
            }
        }
        let now = Instant::now();
        if self.state == GroupState::Empty {
            // group.initial.rebalance.delay.ms: let more members arrive before the first rebalance.
            self.initial_delay = true;
            self.initial_delay_cap = now + self.max_rebalance_timeout();
            self.rebalance_deadline = (now + Duration::from_millis(cfg.initial_rebalance_delay_ms)).min(self.initial_delay_cap);
        } else {
            self.initial_delay = false;
            self.rebalance_deadline = now + self.max_rebalance_timeout();
        }
        self.transition(GroupState::PreparingRebalance);
        tracing::info!(group = %self.id, generation = self.generation, members = self.members.len(), "preparing rebalance");
    }

    /// A new member arrived during the initial delay: wait one more delay (up to the cap).
    fn extend_initial_delay(&mut self, cfg: &GroupConfig) {
        if self.state == GroupState::PreparingRebalance && self.initial_delay {
            self.rebalance_deadline = (Instant::now() + Duration::from_millis(cfg.initial_rebalance_delay_ms)).min(self.initial_delay_cap);
        }
    }

    /// Completes the join phase when everyone has rejoined or the deadline passed. Returns the
    /// metadata to persist when the group became empty (a group with members is stored when
    /// the leader's assignment arrives, as in Kafka).
    fn try_complete_join(&mut self, now: Instant) -> Option<StoredGroup> {
        if self.state != GroupState::PreparingRebalance {
            return None;
        }
        let all_joined = self.members.values().all(|m| m.awaiting_join.is_some()) && self.pending.is_empty();
        let due = now >= self.rebalance_deadline;
        if !(due || (all_joined && !self.initial_delay)) {
            return None;
        }
        // Members that did not rejoin in time leave the group.
        let stale: Vec<String> = self.members.values().filter(|m| m.awaiting_join.is_none()).map(|m| m.id.clone()).collect();
        for id in stale {
            tracing::info!(group = %self.id, member = %id, "member failed to rejoin before the rebalance timeout");
            self.remove_member(&id);
        }
        self.initial_delay = false;
        self.generation += 1;
        if self.members.is_empty() {
            self.protocol = None;
            self.leader = None;
            self.transition(GroupState::Empty);
            tracing::info!(group = %self.id, generation = self.generation, "group is empty");
            return Some(self.stored());
        }
        self.protocol = self.select_protocol();
        if self.leader.as_ref().is_none_or(|l| !self.members.contains_key(l)) {
            self.leader = self.members.keys().next().cloned();
        }
        self.transition(GroupState::CompletingRebalance);
        tracing::info!(group = %self.id, generation = self.generation, members = self.members.len(),
            protocol = ?self.protocol, "rebalance: join phase complete");
        let results: Vec<(String, JoinResult)> = self.members.keys().map(|id| (id.clone(), self.join_result_for(id))).collect();
        for (id, result) in results {
            if let Some(m) = self.members.get_mut(&id) {
                m.last_heartbeat = now;
                if let Some(tx) = m.awaiting_join.take() {
                    let _ = tx.send(result);
                }
            }
        }
        None
    }

    /// The record to store: members (with their assignments) only for a Stable group.
    fn stored(&self) -> StoredGroup {
        let stable = self.state == GroupState::Stable;
        let protocol = self.protocol.clone().unwrap_or_default();
        let members = if stable {
            self.members
                .values()
                .map(|m| StoredMember {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout.as_millis().min(i32::MAX as u128) as i32,
                    session_timeout_ms: m.session_timeout.as_millis().min(i32::MAX as u128) as i32,
                    subscription: m.metadata_for(&protocol),
                    assignment: m.assignment.clone(),
                })
                .collect()
        } else {
            Vec::new()
        };
        StoredGroup {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol.clone().filter(|_| stable),
            leader: self.leader.clone().filter(|_| stable),
            state_timestamp: self.state_timestamp,
            members,
        }
    }

    fn remove_member(&mut self, id: &str) {
        if let Some(mut m) = self.members.shift_remove(id) {
            if let Some(tx) = m.awaiting_join.take() {
                let _ = tx.send(JoinResult::error(ResponseError::UnknownMemberId, id));
            }
            if let Some(tx) = m.awaiting_sync.take() {
                let _ = tx.send(SyncResult::error(ResponseError::UnknownMemberId));
            }
            if let Some(inst) = &m.instance_id {
                if self.static_members.get(inst).map(String::as_str) == Some(id) {
                    self.static_members.remove(inst);
                }
            }
        }
        if self.leader.as_deref() == Some(id) {
            self.leader = None;
        }
        // Like Kafka, an empty group keeps its protocol type ("consumer" stays listed as such).
    }

    /// After members left: rebalance the rest, or finish a rebalance in progress.
    fn on_members_left(&mut self, cfg: &GroupConfig) -> Option<StoredGroup> {
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(cfg);
                self.try_complete_join(Instant::now())
            }
            GroupState::PreparingRebalance => self.try_complete_join(Instant::now()),
            _ => None,
        }
    }

    /// FENCED_INSTANCE_ID when a static member's id does not match the one on record.
    fn check_static(&self, instance_id: &Option<String>, member_id: &str) -> Result<(), ResponseError> {
        if let Some(inst) = instance_id {
            if let Some(known) = self.static_members.get(inst) {
                if known != member_id {
                    return Err(ResponseError::FencedInstanceId);
                }
            }
        }
        Ok(())
    }

    /// Common validation for heartbeat/sync/commit by a member.
    fn check_member(&self, member_id: &str, instance_id: &Option<String>, generation: i32) -> Result<(), ResponseError> {
        self.check_static(instance_id, member_id)?;
        if !self.members.contains_key(member_id) {
            return Err(ResponseError::UnknownMemberId);
        }
        if generation != self.generation {
            return Err(ResponseError::IllegalGeneration);
        }
        Ok(())
    }
}

pub struct GroupCoordinator {
    cfg: GroupConfig,
    groups: Mutex<HashMap<String, Group>>,
    pub offsets: OffsetStore,
}

fn new_member_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

impl GroupCoordinator {
    pub fn new(cfg: GroupConfig, offsets: OffsetStore) -> GroupCoordinator {
        let mut groups = HashMap::new();
        for (id, stored) in offsets.groups() {
            let g = Group::restored(&id, stored);
            if !g.members.is_empty() {
                tracing::info!(group = %id, generation = g.generation, members = g.members.len(), "loaded stable group");
            }
            groups.insert(id, g);
        }
        GroupCoordinator { cfg, groups: Mutex::new(groups), offsets }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Group>> {
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Persists a group's new generation; failures are logged (offsets are what must not be lost).
    fn persist(&self, group: &str, stored: Option<StoredGroup>) {
        if let Some(s) = stored {
            if let Err(e) = self.offsets.write(group, vec![Change::Group(s)]) {
                tracing::warn!(group, error = %e, "cannot persist group metadata");
            }
        }
    }

    pub fn join(&self, req: JoinRequest) -> Reply<JoinResult> {
        let (reply, stored) = self.join_locked(&req);
        self.persist(&req.group_id, stored);
        reply
    }

    fn join_locked(&self, req: &JoinRequest) -> (Reply<JoinResult>, Option<StoredGroup>) {
        let now_err = |e: ResponseError| (Reply::Now(JoinResult::error(e, &req.member_id)), None);
        if req.group_id.is_empty() {
            return now_err(ResponseError::InvalidGroupId);
        }
        if req.session_timeout_ms < self.cfg.min_session_timeout_ms || req.session_timeout_ms > self.cfg.max_session_timeout_ms {
            return now_err(ResponseError::InvalidSessionTimeout);
        }
        let mut groups = self.lock();
        if !req.member_id.is_empty() && !groups.contains_key(&req.group_id) {
            return now_err(ResponseError::UnknownMemberId);
        }
        let group = groups.entry(req.group_id.clone()).or_insert_with(|| Group::new(&req.group_id));
        if group.state == GroupState::Dead {
            return now_err(ResponseError::CoordinatorNotAvailable);
        }
        if !group.supports(&req.protocol_type, &req.protocols) {
            return now_err(ResponseError::InconsistentGroupProtocol);
        }
        let now = Instant::now();
        let (tx, rx) = oneshot::channel();
        let member_id = if req.member_id.is_empty() {
            if let Some(inst) = &req.instance_id {
                let new_id = new_member_id(inst);
                if let Some(old_id) = group.static_members.get(inst).cloned() {
                    // KIP-345: a restarted static member takes over its old identity.
                    return self.replace_static_member(group, req, &old_id, new_id, tx, rx);
                }
                group.static_members.insert(inst.clone(), new_id.clone());
                new_id
            } else if req.require_known_member_id {
                // KIP-394: hand out an id and ask the member to join again with it.
                let new_id = new_member_id(&req.client_id);
                group.pending.insert(new_id.clone(), now + Duration::from_millis(req.session_timeout_ms as u64));
                return now_err_with_id(ResponseError::MemberIdRequired, new_id);
            } else {
                new_member_id(&req.client_id)
            }
        } else {
            if let Err(e) = group.check_static(&req.instance_id, &req.member_id) {
                return now_err(e);
            }
            let known = group.members.contains_key(&req.member_id);
            if !known && group.pending.remove(&req.member_id).is_none() {
                return now_err(ResponseError::UnknownMemberId);
            }
            if known {
                return self.rejoin_known(group, req, tx, rx);
            }
            req.member_id.clone()
        };
        // A new member: add it, parked until the join completes.
        let member = Member {
            id: member_id.clone(),
            instance_id: req.instance_id.clone(),
            client_id: req.client_id.clone(),
            client_host: req.client_host.clone(),
            session_timeout: Duration::from_millis(req.session_timeout_ms as u64),
            rebalance_timeout: Duration::from_millis(req.rebalance_timeout_ms.max(req.session_timeout_ms) as u64),
            protocols: req.protocols.clone(),
            assignment: Bytes::new(),
            awaiting_join: Some(tx),
            awaiting_sync: None,
            last_heartbeat: now,
        };
        if group.members.is_empty() {
            group.protocol_type = Some(req.protocol_type.clone());
        }
        group.members.insert(member_id, member);
        match group.state {
            GroupState::PreparingRebalance => group.extend_initial_delay(&self.cfg),
            _ => group.prepare_rebalance(&self.cfg),
        }
        let stored = group.try_complete_join(now);
        (Reply::Later(rx), stored)
    }

    /// JoinGroup from a member already in the group.
    fn rejoin_known(
        &self,
        group: &mut Group,
        req: &JoinRequest,
        tx: oneshot::Sender<JoinResult>,
        rx: oneshot::Receiver<JoinResult>,
    ) -> (Reply<JoinResult>, Option<StoredGroup>) {
        let id = req.member_id.clone();
        let is_leader = group.leader.as_deref() == Some(id.as_str());
        let Some(m) = group.members.get_mut(&id) else {
            return (Reply::Now(JoinResult::error(ResponseError::UnknownMemberId, &id)), None);
        };
        let unchanged = m.protocols == req.protocols;
        m.last_heartbeat = Instant::now();
        m.session_timeout = Duration::from_millis(req.session_timeout_ms as u64);
        m.rebalance_timeout = Duration::from_millis(req.rebalance_timeout_ms.max(req.session_timeout_ms) as u64);
        match group.state {
            GroupState::CompletingRebalance | GroupState::Stable if unchanged && !(group.state == GroupState::Stable && is_leader) => {
                // Nothing changed: resend the current generation (Kafka does the same).
                (Reply::Now(group.join_result_for(&id)), None)
            }
            GroupState::Empty | GroupState::Dead => (Reply::Now(JoinResult::error(ResponseError::UnknownMemberId, &id)), None),
            state => {
                m.protocols = req.protocols.clone();
                if let Some(old) = m.awaiting_join.replace(tx) {
                    let _ = old.send(JoinResult::error(ResponseError::RebalanceInProgress, &id));
                }
                if state != GroupState::PreparingRebalance {
                    group.prepare_rebalance(&self.cfg);
                }
                let stored = group.try_complete_join(Instant::now());
                (Reply::Later(rx), stored)
            }
        }
    }

    /// KIP-345: a static member rejoining with an unknown member id replaces its old incarnation.
    fn replace_static_member(
        &self,
        group: &mut Group,
        req: &JoinRequest,
        old_id: &str,
        new_id: String,
        tx: oneshot::Sender<JoinResult>,
        rx: oneshot::Receiver<JoinResult>,
    ) -> (Reply<JoinResult>, Option<StoredGroup>) {
        let Some(mut m) = group.members.shift_remove(old_id) else {
            return (Reply::Now(JoinResult::error(ResponseError::UnknownMemberId, "")), None);
        };
        if let Some(t) = m.awaiting_join.take() {
            let _ = t.send(JoinResult::error(ResponseError::FencedInstanceId, old_id));
        }
        if let Some(t) = m.awaiting_sync.take() {
            let _ = t.send(SyncResult::error(ResponseError::FencedInstanceId));
        }
        m.id = new_id.clone();
        m.client_id = req.client_id.clone();
        m.client_host = req.client_host.clone();
        m.session_timeout = Duration::from_millis(req.session_timeout_ms as u64);
        m.rebalance_timeout = Duration::from_millis(req.rebalance_timeout_ms.max(req.session_timeout_ms) as u64);
        m.protocols = req.protocols.clone();
        m.last_heartbeat = Instant::now();
        let was_leader = group.leader.as_deref() == Some(old_id);
        if was_leader {
            group.leader = Some(new_id.clone());
        }
        if let Some(inst) = &req.instance_id {
            group.static_members.insert(inst.clone(), new_id.clone());
        }
        group.members.insert(new_id.clone(), m);
        tracing::info!(group = %group.id, old = old_id, new = %new_id, "static member rejoined");
        // Kafka: a static member joining a Stable group with its new metadata stored does not
        // rebalance as long as the group would select the same protocol.
        let same_protocol = group.select_protocol() == group.protocol;
        if group.state == GroupState::Stable && same_protocol {
            // Stable and nothing changed: no rebalance, the member keeps its assignment (KIP-345);
            // the new member id is stored, so it is known after a restart.
            let stored = Some(group.stored());
            let mut result = group.join_result_for(&new_id);
            if req.version >= 9 {
                // KIP-814: a returning leader gets the member list with skip_assignment.
                result.skip_assignment = was_leader;
            } else if was_leader {
                // Before v9, Kafka names the old leader id: the member does not see itself as
                // leader, so it does not compute an assignment a Stable group would not send out.
                result.leader = old_id.to_string();
                result.members.clear();
            }
            return (Reply::Now(result), stored);
        }
        if let Some(m) = group.members.get_mut(&new_id) {
            m.awaiting_join = Some(tx);
        }
        if group.state != GroupState::PreparingRebalance {
            group.prepare_rebalance(&self.cfg);
        }
        let stored = group.try_complete_join(Instant::now());
        (Reply::Later(rx), stored)
    }

    pub fn sync(&self, req: SyncRequest) -> Reply<SyncResult> {
        let group_id = req.group_id.clone();
        let (reply, stored) = self.sync_locked(req);
        self.persist(&group_id, stored);
        reply
    }

    /// SyncGroup; the leader's completes the rebalance and returns the group to store.
    fn sync_locked(&self, req: SyncRequest) -> (Reply<SyncResult>, Option<StoredGroup>) {
        let now_err = |e: ResponseError| (Reply::Now(SyncResult::error(e)), None);
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(&req.group_id) else {
            return now_err(ResponseError::UnknownMemberId);
        };
        if let Err(e) = group.check_member(&req.member_id, &req.instance_id, req.generation) {
            return now_err(e);
        }
        let type_mismatch = req.protocol_type.as_ref().is_some_and(|t| Some(t) != group.protocol_type.as_ref());
        let name_mismatch = req.protocol_name.as_ref().is_some_and(|n| Some(n) != group.protocol.as_ref());
        if type_mismatch || name_mismatch {
            return now_err(ResponseError::InconsistentGroupProtocol);
        }
        let ok = |g: &Group, assignment: Bytes| SyncResult {
            error: None,
            protocol_type: g.protocol_type.clone(),
            protocol_name: g.protocol.clone(),
            assignment,
        };
        match group.state {
            GroupState::Empty | GroupState::Dead => now_err(ResponseError::UnknownMemberId),
            GroupState::PreparingRebalance => now_err(ResponseError::RebalanceInProgress),
            GroupState::Stable => {
                let a = group.members.get(&req.member_id).map(|m| m.assignment.clone()).unwrap_or_default();
                (Reply::Now(ok(group, a)), None)
            }
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                let mut stored = None;
                if let Some(m) = group.members.get_mut(&req.member_id) {
                    m.awaiting_sync = Some(tx);
                    m.last_heartbeat = Instant::now();
                }
                if group.leader.as_deref() == Some(req.member_id.as_str()) {
                    let mut given: HashMap<String, Bytes> = req.assignments.into_iter().collect();
                    let results: Vec<(String, SyncResult)> = group
                        .members
                        .keys()
                        .map(|id| (id.clone(), ok(group, given.get(id).cloned().unwrap_or_default())))
                        .collect();
                    for (id, r) in results {
                        if let Some(m) = group.members.get_mut(&id) {
                            m.assignment = given.remove(&id).unwrap_or_default();
                            if let Some(tx) = m.awaiting_sync.take() {
                                let _ = tx.send(r);
                            }
                        }
                    }
                    group.transition(GroupState::Stable);
                    tracing::info!(group = %group.id, generation = group.generation, "rebalance complete: group is stable");
                    stored = Some(group.stored());
                }
                (Reply::Later(rx), stored)
            }
        }
    }

    pub fn heartbeat(&self, group_id: &str, member_id: &str, instance_id: &Option<String>, generation: i32) -> Option<ResponseError> {
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return Some(ResponseError::UnknownMemberId);
        };
        if group.state == GroupState::Dead {
            return Some(ResponseError::CoordinatorNotAvailable);
        }
        if group.state == GroupState::Empty {
            return Some(ResponseError::UnknownMemberId);
        }
        if let Err(e) = group.check_member(member_id, instance_id, generation) {
            return Some(e);
        }
        if let Some(m) = group.members.get_mut(member_id) {
            m.last_heartbeat = Instant::now();
        }
        (group.state == GroupState::PreparingRebalance).then_some(ResponseError::RebalanceInProgress)
    }

    /// LeaveGroup for each (member id, instance id); returns one error per member.
    pub fn leave(&self, group_id: &str, members: &[(String, Option<String>)]) -> Result<Vec<Option<ResponseError>>, ResponseError> {
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return Err(ResponseError::UnknownMemberId);
        };
        if group.state == GroupState::Dead {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        let mut results = Vec::new();
        let mut left = false;
        for (member_id, instance_id) in members {
            let target = match instance_id {
                Some(inst) => match group.static_members.get(inst) {
                    Some(known) if !member_id.is_empty() && known != member_id => {
                        results.push(Some(ResponseError::FencedInstanceId));
                        continue;
                    }
                    Some(known) => known.clone(),
                    None => {
                        results.push(Some(ResponseError::UnknownMemberId));
                        continue;
                    }
                },
                None => member_id.clone(),
            };
            if group.pending.remove(&target).is_some() {
                results.push(None);
            } else if group.members.contains_key(&target) {
                tracing::info!(group = %group.id, member = %target, "member left the group");
                group.remove_member(&target);
                left = true;
                results.push(None);
            } else {
                results.push(Some(ResponseError::UnknownMemberId));
            }
        }
        let stored = if left { group.on_members_left(&self.cfg) } else { None };
        drop(groups);
        self.persist(group_id, stored);
        Ok(results)
    }

    /// Checks that a member may commit offsets now (Kafka's doCommitOffsets rules).
    pub fn check_commit(&self, group_id: &str, member_id: &str, instance_id: &Option<String>, generation: i32) -> Result<(), ResponseError> {
        let mut groups = self.lock();
        if generation < 0 {
            // A standalone consumer or admin (Kafka: generation -1): allowed while the group is empty.
            let group = groups.entry(group_id.to_string()).or_insert_with(|| Group::new(group_id));
            return match group.state {
                GroupState::Empty => Ok(()),
                GroupState::Dead => Err(ResponseError::CoordinatorNotAvailable),
                _ => Err(ResponseError::UnknownMemberId),
            };
        }
        let Some(group) = groups.get_mut(group_id) else {
            return Err(ResponseError::IllegalGeneration);
        };
        match group.state {
            GroupState::Dead => Err(ResponseError::CoordinatorNotAvailable),
            _ => {
                group.check_member(member_id, instance_id, generation)?;
                if group.state == GroupState::CompletingRebalance {
                    return Err(ResponseError::RebalanceInProgress);
                }
                if let Some(m) = group.members.get_mut(member_id) {
                    m.last_heartbeat = Instant::now();
                }
                Ok(())
            }
        }
    }

    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        self.expire_overdue();
        let groups = self.lock();
        let g = groups.get(group_id)?;
        let protocol = g.protocol.clone().unwrap_or_default();
        Some(GroupDescription {
            group_id: g.id.clone(),
            state: g.state,
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: if g.state == GroupState::Stable || g.state == GroupState::CompletingRebalance { protocol.clone() } else { String::new() },
            members: g
                .members
                .values()
                .map(|m| MemberDescription {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: m.metadata_for(&protocol),
                    assignment: if g.state == GroupState::Stable { m.assignment.clone() } else { Bytes::new() },
                })
                .collect(),
        })
    }

    /// (group id, protocol type, state) for every group.
    pub fn list(&self) -> Vec<(String, String, GroupState)> {
        self.expire_overdue();
        let groups = self.lock();
        let mut v: Vec<_> = groups.values().map(|g| (g.id.clone(), g.protocol_type.clone().unwrap_or_default(), g.state)).collect();
        v.sort();
        v
    }

    /// The topics a group's members subscribe to (consumer protocol), for OffsetDelete.
    pub fn subscribed_topics(&self, group_id: &str) -> Option<(GroupState, Vec<String>)> {
        let groups = self.lock();
        let g = groups.get(group_id)?;
        let protocol = g.protocol.clone().unwrap_or_default();
        let mut topics = Vec::new();
        if g.protocol_type.as_deref() == Some("consumer") {
            for m in g.members.values() {
                topics.extend(super::decode_subscription(&m.metadata_for(&protocol)));
            }
        }
        Some((g.state, topics))
    }

    /// DeleteGroups: only empty groups; their offsets go too.
    pub fn delete_group(&self, group_id: &str) -> Result<(), ResponseError> {
        self.expire_overdue();
        let mut groups = self.lock();
        let state = match groups.get(group_id) {
            Some(g) => g.state,
            None if self.offsets.has_offsets(group_id) => GroupState::Empty,
            None => return Err(ResponseError::GroupIdNotFound),
        };
        match state {
            GroupState::Empty => {}
            GroupState::Dead => return Err(ResponseError::GroupIdNotFound),
            _ => return Err(ResponseError::NonEmptyGroup),
        }
        let mut changes: Vec<Change> =
            self.offsets.fetch_all(group_id).into_iter().map(|((topic, partition), _)| Change::DeleteOffset { topic, partition }).collect();
        changes.push(Change::DeleteGroup);
        self.offsets.write(group_id, changes).map_err(|e| {
            tracing::error!(group = group_id, error = %e, "cannot delete group");
            ResponseError::CoordinatorNotAvailable
        })?;
        groups.remove(group_id);
        tracing::info!(group = group_id, "deleted group");
        Ok(())
    }

    /// Expires sessions, pending member ids and rebalance deadlines; expires old offsets of
    /// empty groups when `expire_offsets` is set.
    /// Admin requests see sessions expire on time: Kafka's expiry timers fire at the deadline,
    /// our timer task only every 50 ms, so members whose session is over are removed first.
    fn expire_overdue(&self) {
        self.tick(false);
    }

    pub fn tick(&self, expire_offsets: bool) {
        let now = Instant::now();
        let mut to_persist = Vec::new();
        let mut expired_offsets = Vec::new();
        {
            let mut groups = self.lock();
            for g in groups.values_mut() {
                g.pending.retain(|_, deadline| *deadline > now);
                let expired: Vec<String> = g.members.values().filter(|m| m.expired(now)).map(|m| m.id.clone()).collect();
                for id in &expired {
                    tracing::info!(group = %g.id, member = %id, "member session expired");
                    g.remove_member(id);
                }
                let stored = if !expired.is_empty() { g.on_members_left(&self.cfg) } else { g.try_complete_join(now) };
                if let Some(s) = stored {
                    to_persist.push((g.id.clone(), s));
                }
                if expire_offsets && g.state == GroupState::Empty {
                    expired_offsets.push((g.id.clone(), g.state_timestamp));
                }
            }
            // Empty groups with nothing committed are forgotten, as Kafka does.
            groups.retain(|id, g| g.state != GroupState::Empty || !g.members.is_empty() || self.offsets.has_offsets(id) || !expire_offsets);
        }
        for (id, s) in to_persist {
            self.persist(&id, Some(s));
        }
        for (id, empty_since) in expired_offsets {
            self.expire_offsets(&id, empty_since);
        }
    }

    /// KIP-211: offsets of an empty group expire `offsets.retention.minutes` after the later of
    /// their commit and the group becoming empty.
    fn expire_offsets(&self, group: &str, empty_since: i64) {
        let now = now_ms();
        let retention = self.cfg.offsets_retention_ms;
        let changes: Vec<Change> = self
            .offsets
            .fetch_all(group)
            .into_iter()
            .filter(|(_, c)| c.commit_timestamp.max(empty_since).saturating_add(retention) <= now)
            .map(|((topic, partition), _)| Change::DeleteOffset { topic, partition })
            .collect();
        if changes.is_empty() {
            return;
        }
        let n = changes.len();
        match self.offsets.write(group, changes) {
            Ok(()) => tracing::info!(group, expired = n, "expired committed offsets"),
            Err(e) => tracing::warn!(group, error = %e, "cannot expire offsets"),
        }
    }

    /// Stores committed offsets (already validated).
    pub fn commit(&self, group: &str, offsets: Vec<(String, i32, Committed)>) -> Result<(), ResponseError> {
        let changes = offsets.into_iter().map(|(topic, partition, value)| Change::Commit { topic, partition, value }).collect();
        self.offsets.write(group, changes).map_err(|e| {
            tracing::error!(group, error = %e, "cannot store offsets");
            ResponseError::CoordinatorNotAvailable
        })
    }
}

impl GroupCoordinator {
    /// OffsetDelete: tombstones for the given partitions.
    pub fn delete_offsets(&self, group: &str, partitions: Vec<(String, i32)>) -> Result<(), ResponseError> {
        let changes = partitions.into_iter().map(|(topic, partition)| Change::DeleteOffset { topic, partition }).collect();
        self.offsets.write(group, changes).map_err(|e| {
            tracing::error!(group, error = %e, "cannot delete offsets");
            ResponseError::CoordinatorNotAvailable
        })
    }
}

fn now_err_with_id(e: ResponseError, member_id: String) -> (Reply<JoinResult>, Option<StoredGroup>) {
    (Reply::Now(JoinResult::error(e, &member_id)), None)
}

/// Shared handle type.
pub type Coordinator = Arc<GroupCoordinator>;
