//! A classic group, after Kafka's `ClassicGroup`: its members, its generation and its state.
//! `transition_to` is the one place the state changes, and it checks the table in `state.rs`.
//!
//! The methods here change memory only. Those whose change must be in `__consumer_offsets`
//! first come with a `*_record` twin that builds the record without changing anything; the
//! `GroupMetadataManager` writes it, then calls the method.

use super::member::{Member, Protocol};
use super::state::GroupState;
use crate::group::config::GroupConfig;
use crate::group::records::{StoredGroup, StoredMember};
use crate::group::requests::{JoinResult, JoinedMember, SyncResult};
use crate::util::time::now_ms;
use bytes::Bytes;
use indexmap::IndexMap;
use kafka_protocol::ResponseError;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Where a rebalance's join phase stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinPhase {
    /// Not rebalancing, or still waiting for members (or out the initial delay).
    Waiting,
    /// Due, and some members joined: the group moves to CompletingRebalance.
    Completes,
    /// Due, and nobody joined: the group becomes Empty (a record to write first).
    Empties,
}

/// A classic group.
pub(crate) struct Group {
    pub(crate) id: String,
    state: GroupState,
    pub(crate) generation: i32,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol: Option<String>,
    pub(crate) leader: Option<String>,
    /// In join order: the first member becomes leader when there is none.
    pub(crate) members: IndexMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, with the time by which they must rejoin.
    pub(crate) pending: HashMap<String, Instant>,
    /// group.instance.id -> member id.
    pub(crate) static_members: HashMap<String, String>,
    rebalance_deadline: Instant,
    /// While true the join waits out `rebalance_deadline` even if everyone has joined.
    initial_delay: bool,
    initial_delay_cap: Instant,
    /// When the group entered its current state (ms since epoch): offsets expire from Empty.
    pub(crate) state_timestamp: i64,
}

/// Saturates a duration into a record's i32 milliseconds.
fn millis_i32(d: Duration) -> i32 {
    d.as_millis().min(i32::MAX as u128) as i32
}

/// A millisecond count from a request or a record, negative read as zero.
pub(crate) fn millis(ms: i32) -> Duration {
    Duration::from_millis(ms.max(0) as u64)
}

/// Kafka's vote: each member votes for its most preferred protocol among those all support.
/// `members` in join order: ties go to the earliest candidate, in the first member's order.
fn vote(members: &[&[Protocol]]) -> Option<String> {
    let first = members.first()?;
    let candidates: Vec<&String> =
        first.iter().map(|p| &p.name).filter(|n| members.iter().all(|m| m.iter().any(|p| &p.name == *n))).collect();
    let mut votes: IndexMap<&String, usize> = candidates.iter().map(|c| (*c, 0)).collect();
    for m in members {
        if let Some(p) = m.iter().find(|p| candidates.contains(&&p.name)) {
            if let Some(v) = votes.get_mut(&p.name) {
                *v += 1;
            }
        }
    }
    let max = votes.values().copied().max()?;
    votes.into_iter().find(|(_, v)| *v == max).map(|(n, _)| n.clone())
}

impl Group {
    /// A new, empty group.
    pub(crate) fn new(id: &str) -> Group {
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
    /// (Loading sets the initial state, as Kafka's constructor does: it is not a transition.)
    pub(crate) fn restored(id: &str, stored: StoredGroup) -> Group {
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
                session_timeout: millis(session_ms),
                rebalance_timeout: millis(m.rebalance_timeout_ms.max(session_ms)),
                protocols: vec![Protocol { name: protocol.clone(), metadata: m.subscription }],
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

    /// The group's state.
    pub(crate) fn state(&self) -> GroupState {
        self.state
    }

    /// Whether the group is in `state`.
    pub(crate) fn is(&self, state: GroupState) -> bool {
        self.state == state
    }

    /// Moves the group to `to` at `at_ms` (ms since epoch). A transition the state table does
    /// not allow is a bug in the coordinator, never a client's doing.
    fn transition_to(&mut self, to: GroupState, at_ms: i64) {
        assert!(to.valid_previous().contains(&self.state), "group {}: invalid transition {:?} -> {to:?}", self.id, self.state);
        self.state = to;
        self.state_timestamp = at_ms;
    }

    /// Whether every member's protocols share at least one name with `protocols`.
    pub(crate) fn supports(&self, protocol_type: &str, protocols: &[Protocol]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        protocols.iter().any(|p| self.members.values().all(|m| m.supports(&p.name)))
    }

    /// The protocol the members would select now.
    pub(crate) fn select_protocol(&self) -> Option<String> {
        vote(&self.members.values().map(|m| &m.protocols[..]).collect::<Vec<_>>())
    }

    /// The protocol the members would select if `new` replaced member `old_id` (it joins last).
    pub(crate) fn select_protocol_replacing(&self, old_id: &str, new: &Member) -> Option<String> {
        let mut members: Vec<&[Protocol]> = self.members.values().filter(|m| m.id != old_id).map(|m| &m.protocols[..]).collect();
        members.push(&new.protocols);
        vote(&members)
    }

    fn max_rebalance_timeout(&self) -> Duration {
        self.members.values().map(|m| m.rebalance_timeout).max().unwrap_or(Duration::ZERO)
    }

    /// The JoinGroup answer of the current generation for `member_id`.
    pub(crate) fn join_result_for(&self, member_id: &str) -> JoinResult {
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
                self.members
                    .values()
                    .map(|m| JoinedMember { member_id: m.id.clone(), instance_id: m.instance_id.clone(), metadata: m.metadata_for(&protocol) })
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    /// Starts (or restarts) a rebalance: parked syncs learn of it, joins are awaited.
    pub(crate) fn prepare_rebalance(&mut self, cfg: &GroupConfig) {
        if self.state == GroupState::CompletingRebalance {
            for m in self.members.values_mut() {
                m.fail_sync(ResponseError::RebalanceInProgress);
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
        self.transition_to(GroupState::PreparingRebalance, now_ms());
        tracing::info!(group = %self.id, generation = self.generation, members = self.members.len(), "preparing rebalance");
    }

    /// A new member arrived during the initial delay: wait one more delay (up to the cap).
    pub(crate) fn extend_initial_delay(&mut self, cfg: &GroupConfig) {
        if self.state == GroupState::PreparingRebalance && self.initial_delay {
            self.rebalance_deadline = (Instant::now() + Duration::from_millis(cfg.initial_rebalance_delay_ms)).min(self.initial_delay_cap);
        }
    }

    /// Whether the join phase completes now: everyone has rejoined, or the deadline passed.
    pub(crate) fn join_phase(&self, now: Instant) -> JoinPhase {
        if self.state != GroupState::PreparingRebalance {
            return JoinPhase::Waiting;
        }
        let all_joined = self.members.values().all(|m| m.awaiting_join.is_some()) && self.pending.is_empty();
        let due = now >= self.rebalance_deadline;
        if !(due || (all_joined && !self.initial_delay)) {
            return JoinPhase::Waiting;
        }
        if self.members.values().any(|m| m.awaiting_join.is_some()) {
            JoinPhase::Completes
        } else {
            JoinPhase::Empties
        }
    }

    /// The record of the group as `complete_join` leaves it when it [`JoinPhase::Empties`].
    pub(crate) fn empty_record(&self, at_ms: i64) -> StoredGroup {
        StoredGroup {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation + 1,
            protocol: None,
            leader: None,
            state_timestamp: at_ms,
            members: Vec::new(),
        }
    }

    /// Completes the join phase (`join_phase` said it is due): members that did not rejoin
    /// leave, the generation moves on, and every parked JoinGroup is answered; or the group
    /// becomes Empty (its record written first, as in Kafka; a group with members is stored
    /// when the leader's assignment arrives).
    pub(crate) fn complete_join(&mut self, now: Instant, at_ms: i64) {
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
            self.transition_to(GroupState::Empty, at_ms);
            tracing::info!(group = %self.id, generation = self.generation, "group is empty");
            return;
        }
        self.protocol = self.select_protocol();
        if self.leader.as_ref().is_none_or(|l| !self.members.contains_key(l)) {
            self.leader = self.members.keys().next().cloned();
        }
        self.transition_to(GroupState::CompletingRebalance, at_ms);
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
    }

    /// The SyncGroup answer carrying `assignment`.
    pub(crate) fn sync_result(&self, assignment: Bytes) -> SyncResult {
        SyncResult { error: None, protocol_type: self.protocol_type.clone(), protocol_name: self.protocol.clone(), assignment }
    }

    /// The record of the group as `complete_sync(assignments, at_ms)` leaves it (Stable).
    pub(crate) fn stable_record(&self, assignments: &HashMap<String, Bytes>, at_ms: i64) -> StoredGroup {
        let protocol = self.protocol.clone().unwrap_or_default();
        let members = self.members.values().map(|m| stored_member(m, &protocol, assignments.get(&m.id).cloned().unwrap_or_default())).collect();
        self.record(members, self.leader.clone(), at_ms)
    }

    /// The leader's assignments arrived (and are stored): every parked SyncGroup gets its
    /// member's, and the group is Stable.
    pub(crate) fn complete_sync(&mut self, mut assignments: HashMap<String, Bytes>, at_ms: i64) {
        let results: Vec<(String, SyncResult)> =
            self.members.keys().map(|id| (id.clone(), self.sync_result(assignments.get(id).cloned().unwrap_or_default()))).collect();
        for (id, r) in results {
            if let Some(m) = self.members.get_mut(&id) {
                m.assignment = assignments.remove(&id).unwrap_or_default();
                if let Some(tx) = m.awaiting_sync.take() {
                    let _ = tx.send(r);
                }
            }
        }
        self.transition_to(GroupState::Stable, at_ms);
        tracing::info!(group = %self.id, generation = self.generation, "rebalance complete: group is stable");
    }

    /// The leader's assignments could not be stored: like Kafka, every parked SyncGroup fails
    /// with COORDINATOR_NOT_AVAILABLE and the group rebalances again.
    pub(crate) fn sync_failed(&mut self, cfg: &GroupConfig) {
        for m in self.members.values_mut() {
            m.fail_sync(ResponseError::CoordinatorNotAvailable);
        }
        self.prepare_rebalance(cfg);
    }

    /// The record of a Stable group once `new` has replaced member `old_id` (KIP-345).
    pub(crate) fn replaced_record(&self, old_id: &str, new: &Member) -> StoredGroup {
        let protocol = self.protocol.clone().unwrap_or_default();
        let mut members: Vec<StoredMember> =
            self.members.values().filter(|m| m.id != old_id).map(|m| stored_member(m, &protocol, m.assignment.clone())).collect();
        members.push(stored_member(new, &protocol, new.assignment.clone()));
        let leader = if self.leader.as_deref() == Some(old_id) { Some(new.id.clone()) } else { self.leader.clone() };
        self.record(members, leader, self.state_timestamp)
    }

    /// A static member's new incarnation `new` takes the place of member `old_id`: the old
    /// one's parked calls are fenced, and the new one joins last, as leader if the old was.
    pub(crate) fn replace_member(&mut self, old_id: &str, new: Member) {
        if let Some(mut old) = self.members.shift_remove(old_id) {
            old.fail_join(ResponseError::FencedInstanceId);
            old.fail_sync(ResponseError::FencedInstanceId);
        }
        if self.leader.as_deref() == Some(old_id) {
            self.leader = Some(new.id.clone());
        }
        if let Some(inst) = &new.instance_id {
            self.static_members.insert(inst.clone(), new.id.clone());
        }
        tracing::info!(group = %self.id, old = old_id, new = %new.id, "static member rejoined");
        self.members.insert(new.id.clone(), new);
    }

    /// Members and leader only for a Stable group, as Kafka stores them.
    fn record(&self, members: Vec<StoredMember>, leader: Option<String>, state_timestamp: i64) -> StoredGroup {
        StoredGroup {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol.clone(),
            leader,
            state_timestamp,
            members,
        }
    }

    /// Removes a member, failing its parked calls with UNKNOWN_MEMBER_ID.
    pub(crate) fn remove_member(&mut self, id: &str) {
        if let Some(mut m) = self.members.shift_remove(id) {
            m.fail_join(ResponseError::UnknownMemberId);
            m.fail_sync(ResponseError::UnknownMemberId);
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

    /// After members left: a Stable or CompletingRebalance group rebalances the rest (the
    /// caller then sees whether the join phase completes).
    pub(crate) fn on_members_left(&mut self, cfg: &GroupConfig) {
        if matches!(self.state, GroupState::Stable | GroupState::CompletingRebalance) {
            self.prepare_rebalance(cfg);
        }
    }

    /// FENCED_INSTANCE_ID when a static member's id does not match the one on record.
    pub(crate) fn check_static(&self, instance_id: &Option<String>, member_id: &str) -> Result<(), ResponseError> {
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
    pub(crate) fn check_member(&self, member_id: &str, instance_id: &Option<String>, generation: i32) -> Result<(), ResponseError> {
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

/// A member as stored, with `assignment`.
fn stored_member(m: &Member, protocol: &str, assignment: Bytes) -> StoredMember {
    StoredMember {
        member_id: m.id.clone(),
        instance_id: m.instance_id.clone(),
        client_id: m.client_id.clone(),
        client_host: m.client_host.clone(),
        rebalance_timeout_ms: millis_i32(m.rebalance_timeout),
        session_timeout_ms: millis_i32(m.session_timeout),
        subscription: m.metadata_for(protocol),
        assignment,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "invalid transition Empty -> Stable")]
    fn an_invalid_transition_is_a_bug() {
        Group::new("g").transition_to(GroupState::Stable, 0);
    }
}
