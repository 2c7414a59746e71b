//! The classic group protocol's request handling, after Kafka's `GroupMetadataManager`:
//! JoinGroup (new member, known member, static member), SyncGroup, Heartbeat, LeaveGroup, the
//! commit checks, and the admin reads (DescribeGroups, ListGroups) and DeleteGroups.
//!
//! Kafka splits this between `GroupCoordinatorService` (the facade the APIs call) and the
//! `GroupMetadataManager` of each `__consumer_offsets` partition; one node with one short
//! synchronous lock over every group needs just one, named after the facade.
//!
//! JoinGroup and SyncGroup calls that must wait for the rest of the group park a oneshot sender
//! in their member; the rebalance that completes them answers every parked call at once. The
//! timers (session expiry, rebalance timeout, initial delay) are in `timer.rs`.
//!
//! Records first, then memory: a change that must survive a restart (a group becoming Stable,
//! a static member's new id, a group becoming Empty) is a [`CoordinatorResult`] whose records are
//! written, under the lock, before the change is applied; if the write fails the change is not
//! applied and the request fails with COORDINATOR_NOT_AVAILABLE, as Kafka answers a failed
//! append of group metadata.

use super::classic::group::{millis, Group, JoinPhase};
use super::classic::member::Member;
use super::classic::GroupState;
use super::config::GroupConfig;
use super::offset_metadata_manager::{OffsetStore, StoreError};
use super::records::Change;
use super::requests::*;
use crate::util::time::now_ms;
use bytes::Bytes;
use kafka_protocol::ResponseError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::oneshot;

/// The protocol type whose member metadata is a consumer-protocol subscription.
const CONSUMER_PROTOCOL_TYPE: &str = "consumer";
/// JoinGroup v9 added `skip_assignment` (KIP-814).
const SKIP_ASSIGNMENT_VERSION: i16 = 9;

/// The group coordinator: every classic group, and the offsets store behind them. Cheap to
/// clone (a handle); the timers and the transaction coordinator hold clones.
#[derive(Clone)]
pub struct GroupCoordinator {
    pub(super) cfg: Arc<GroupConfig>,
    pub(super) groups: Arc<Mutex<HashMap<String, Group>>>,
    pub(super) offsets: Arc<OffsetStore>,
}

/// A decision taken under the lock (Kafka's `CoordinatorResult`): the answer, and the records
/// that must be in `__consumer_offsets` before the decision is applied in memory.
pub(super) struct CoordinatorResult<T> {
    /// The answer to give once the records are written.
    pub(super) response: T,
    /// The records to write first (all for one group, in one batch).
    pub(super) records: Vec<Change>,
}

fn new_member_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

/// What a failed write of group metadata answers (Kafka's appendGroupMetadataErrorToResponseError
/// maps the storage errors a single node can hit to it).
fn store_failed(group: &str, e: &StoreError) -> ResponseError {
    tracing::error!(group, error = %e, "cannot write group metadata");
    ResponseError::CoordinatorNotAvailable
}

impl GroupCoordinator {
    /// The coordinator over `offsets`, with the groups stored there loaded (Stable or Empty).
    pub fn new(cfg: GroupConfig, offsets: OffsetStore) -> GroupCoordinator {
        let mut groups = HashMap::new();
        for (id, stored) in offsets.groups() {
            let g = Group::restored(&id, stored);
            if !g.members.is_empty() {
                tracing::info!(group = %id, generation = g.generation, members = g.members.len(), "loaded stable group");
            }
            groups.insert(id, g);
        }
        GroupCoordinator { cfg: Arc::new(cfg), groups: Arc::new(Mutex::new(groups)), offsets: Arc::new(offsets) }
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Group>> {
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records first, then memory: writes `result.records` for `group_id`; only once they are
    /// in the log does `apply` run and the response come back.
    pub(super) fn write_then_apply<T>(&self, group_id: &str, result: CoordinatorResult<T>, apply: impl FnOnce()) -> Result<T, StoreError> {
        self.offsets.write(group_id, result.records)?;
        apply();
        Ok(result.response)
    }

    /// Completes the join phase of `group` if it is due; a group that becomes Empty is
    /// stored first, and stays as it is (to be retried) if that write fails.
    pub(super) fn maybe_complete_join(&self, group: &mut Group, now: Instant) -> Result<(), StoreError> {
        match group.join_phase(now) {
            JoinPhase::Waiting => Ok(()),
            JoinPhase::Completes => {
                group.complete_join(now, now_ms());
                Ok(())
            }
            JoinPhase::Empties => {
                let at = now_ms();
                let result = CoordinatorResult { response: (), records: vec![Change::Group(group.empty_record(at))] };
                let id = group.id.clone();
                self.write_then_apply(&id, result, || group.complete_join(now, at))
            }
        }
    }

    /// JoinGroup: answered now (an error, MEMBER_ID_REQUIRED, or an unchanged generation), or
    /// once the rebalance's join phase completes.
    pub fn join(&self, req: JoinRequest) -> Reply<JoinResult> {
        let now_err = |e: ResponseError| Reply::Now(JoinResult::error(e, &req.member_id));
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
        if !group.supports(&req.protocol_type, &req.protocols) {
            return now_err(ResponseError::InconsistentGroupProtocol);
        }
        let now = Instant::now();
        let member_id = if req.member_id.is_empty() {
            if let Some(inst) = &req.instance_id {
                let new_id = new_member_id(inst);
                if let Some(old_id) = group.static_members.get(inst).cloned() {
                    // KIP-345: a restarted static member takes over its old identity.
                    return self.replace_static_member(group, &req, &old_id, new_id);
                }
                group.static_members.insert(inst.clone(), new_id.clone());
                new_id
            } else if req.require_known_member_id {
                // KIP-394: hand out an id and ask the member to join again with it.
                let new_id = new_member_id(&req.client_id);
                group.pending.insert(new_id.clone(), now + millis(req.session_timeout_ms));
                return Reply::Now(JoinResult::error(ResponseError::MemberIdRequired, &new_id));
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
                return self.rejoin_known(group, &req);
            }
            req.member_id.clone()
        };
        // A new member: add it, parked until the join completes.
        let (tx, rx) = oneshot::channel();
        let mut member = new_member(&req, member_id.clone(), Bytes::new(), now);
        member.awaiting_join = Some(tx);
        if group.members.is_empty() {
            group.protocol_type = Some(req.protocol_type.clone());
        }
        group.members.insert(member_id, member);
        match group.state() {
            GroupState::PreparingRebalance => group.extend_initial_delay(&self.cfg),
            _ => group.prepare_rebalance(&self.cfg),
        }
        self.complete_join_or_fail(group, now, rx, &req.member_id)
    }

    /// The parked answer `rx`, after completing the join phase if it is due.
    fn complete_join_or_fail(&self, group: &mut Group, now: Instant, rx: oneshot::Receiver<JoinResult>, asked_as: &str) -> Reply<JoinResult> {
        // A joiner is parked, so the group cannot become Empty here and nothing is written;
        // should it ever, the caller learns of the failed write.
        match self.maybe_complete_join(group, now) {
            Ok(()) => parked(rx, JoinResult::error(ResponseError::CoordinatorNotAvailable, asked_as)),
            Err(e) => Reply::Now(JoinResult::error(store_failed(&group.id, &e), "")),
        }
    }

    /// JoinGroup from a member already in the group.
    fn rejoin_known(&self, group: &mut Group, req: &JoinRequest) -> Reply<JoinResult> {
        let id = req.member_id.clone();
        let is_leader = group.leader.as_deref() == Some(id.as_str());
        let state = group.state();
        let Some(m) = group.members.get_mut(&id) else {
            return Reply::Now(JoinResult::error(ResponseError::UnknownMemberId, &id));
        };
        let unchanged = m.protocols == req.protocols;
        m.last_heartbeat = Instant::now();
        m.session_timeout = millis(req.session_timeout_ms);
        m.rebalance_timeout = millis(req.rebalance_timeout_ms.max(req.session_timeout_ms));
        match state {
            GroupState::CompletingRebalance | GroupState::Stable if unchanged && !(state == GroupState::Stable && is_leader) => {
                // Nothing changed: resend the current generation (Kafka does the same).
                Reply::Now(group.join_result_for(&id))
            }
            GroupState::Empty => Reply::Now(JoinResult::error(ResponseError::UnknownMemberId, &id)),
            state => {
                let (tx, rx) = oneshot::channel();
                m.protocols = req.protocols.clone();
                if let Some(old) = m.awaiting_join.replace(tx) {
                    let _ = old.send(JoinResult::error(ResponseError::RebalanceInProgress, &id));
                }
                if state != GroupState::PreparingRebalance {
                    group.prepare_rebalance(&self.cfg);
                }
                self.complete_join_or_fail(group, Instant::now(), rx, &req.member_id)
            }
        }
    }

    /// KIP-345: a static member rejoining with an unknown member id replaces its old incarnation.
    fn replace_static_member(&self, group: &mut Group, req: &JoinRequest, old_id: &str, new_id: String) -> Reply<JoinResult> {
        let Some(old) = group.members.get(old_id) else {
            return Reply::Now(JoinResult::error(ResponseError::UnknownMemberId, ""));
        };
        // The new incarnation keeps the old one's assignment.
        let mut new = new_member(req, new_id.clone(), old.assignment.clone(), Instant::now());
        new.instance_id = old.instance_id.clone();
        let was_leader = group.leader.as_deref() == Some(old_id);
        // Kafka: a static member joining a Stable group with its new metadata stored does not
        // rebalance as long as the group would select the same protocol.
        if group.is(GroupState::Stable) && group.select_protocol_replacing(old_id, &new) == group.protocol {
            // Stable and nothing changed: no rebalance, the member keeps its assignment (KIP-345);
            // the new member id is stored first, so it is known after a restart.
            let records = vec![Change::Group(group.replaced_record(old_id, &new))];
            let group_id = group.id.clone();
            let result = CoordinatorResult { response: (), records };
            if let Err(e) = self.write_then_apply(&group_id, result, || group.replace_member(old_id, new)) {
                // Nothing changed: the old incarnation stays, as Kafka reverts it.
                return Reply::Now(JoinResult::error(store_failed(&group_id, &e), ""));
            }
            let mut result = group.join_result_for(&new_id);
            if req.version >= SKIP_ASSIGNMENT_VERSION {
                // KIP-814: a returning leader gets the member list with skip_assignment.
                result.skip_assignment = was_leader;
            } else if was_leader {
                // Before v9, Kafka names the old leader id: the member does not see itself as
                // leader, so it does not compute an assignment a Stable group would not send out.
                result.leader = old_id.to_string();
                result.members.clear();
            }
            return Reply::Now(result);
        }
        let (tx, rx) = oneshot::channel();
        new.awaiting_join = Some(tx);
        group.replace_member(old_id, new);
        if !group.is(GroupState::PreparingRebalance) {
            group.prepare_rebalance(&self.cfg);
        }
        self.complete_join_or_fail(group, Instant::now(), rx, &req.member_id)
    }

    /// SyncGroup; the leader's, once its assignment is stored, completes the rebalance.
    pub fn sync(&self, req: SyncRequest) -> Reply<SyncResult> {
        let now_err = |e: ResponseError| Reply::Now(SyncResult::error(e));
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
        match group.state() {
            GroupState::Empty => now_err(ResponseError::UnknownMemberId),
            GroupState::PreparingRebalance => now_err(ResponseError::RebalanceInProgress),
            GroupState::Stable => {
                let a = group.members.get(&req.member_id).map(|m| m.assignment.clone()).unwrap_or_default();
                Reply::Now(group.sync_result(a))
            }
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                if let Some(m) = group.members.get_mut(&req.member_id) {
                    m.awaiting_sync = Some(tx);
                    m.last_heartbeat = Instant::now();
                }
                if group.leader.as_deref() != Some(req.member_id.as_str()) {
                    return parked(rx, SyncResult::error(ResponseError::CoordinatorNotAvailable));
                }
                let given: HashMap<String, Bytes> = req.assignments.into_iter().map(|a| (a.member_id, a.assignment)).collect();
                let at = now_ms();
                let result = CoordinatorResult { response: parked(rx, SyncResult::error(ResponseError::CoordinatorNotAvailable)), records: vec![Change::Group(group.stable_record(&given, at))] };
                let group_id = group.id.clone();
                match self.write_then_apply(&group_id, result, || group.complete_sync(given, at)) {
                    Ok(reply) => reply,
                    Err(e) => {
                        let error = store_failed(&group_id, &e);
                        group.sync_failed(&self.cfg);
                        Reply::Now(SyncResult::error(error))
                    }
                }
            }
        }
    }

    /// Heartbeat: REBALANCE_IN_PROGRESS tells the member to rejoin.
    pub fn heartbeat(&self, group_id: &str, member_id: &str, instance_id: &Option<String>, generation: i32) -> Option<ResponseError> {
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return Some(ResponseError::UnknownMemberId);
        };
        if group.is(GroupState::Empty) {
            return Some(ResponseError::UnknownMemberId);
        }
        if let Err(e) = group.check_member(member_id, instance_id, generation) {
            return Some(e);
        }
        if let Some(m) = group.members.get_mut(member_id) {
            m.last_heartbeat = Instant::now();
        }
        group.is(GroupState::PreparingRebalance).then_some(ResponseError::RebalanceInProgress)
    }

    /// LeaveGroup: one error per member; the request fails if the group became Empty and
    /// that could not be stored.
    pub fn leave(&self, group_id: &str, members: &[LeavingMember]) -> Result<Vec<Option<ResponseError>>, ResponseError> {
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return Err(ResponseError::UnknownMemberId);
        };
        let mut results = Vec::new();
        let mut left = false;
        for LeavingMember { member_id, instance_id } in members {
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
        if left {
            group.on_members_left(&self.cfg);
            self.maybe_complete_join(group, Instant::now()).map_err(|e| store_failed(group_id, &e))?;
        }
        Ok(results)
    }

    /// Checks that a member may commit offsets now (Kafka's doCommitOffsets rules).
    pub fn check_commit(&self, group_id: &str, member_id: &str, instance_id: &Option<String>, generation: i32) -> Result<(), ResponseError> {
        let mut groups = self.lock();
        if generation < 0 {
            // A standalone consumer or admin (Kafka: generation -1): allowed while the group is empty.
            let group = groups.entry(group_id.to_string()).or_insert_with(|| Group::new(group_id));
            return if group.is(GroupState::Empty) { Ok(()) } else { Err(ResponseError::UnknownMemberId) };
        }
        let Some(group) = groups.get_mut(group_id) else {
            return Err(ResponseError::IllegalGeneration);
        };
        group.check_member(member_id, instance_id, generation)?;
        if group.is(GroupState::CompletingRebalance) {
            return Err(ResponseError::RebalanceInProgress);
        }
        if let Some(m) = group.members.get_mut(member_id) {
            m.last_heartbeat = Instant::now();
        }
        Ok(())
    }

    /// DescribeGroups for one group (None: no such group). A read: expired sessions are the
    /// timer's to remove.
    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        let groups = self.lock();
        let g = groups.get(group_id)?;
        let state = g.state();
        let protocol = g.protocol.clone().unwrap_or_default();
        let has_protocol = matches!(state, GroupState::Stable | GroupState::CompletingRebalance);
        Some(GroupDescription {
            group_id: g.id.clone(),
            state,
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: if has_protocol { protocol.clone() } else { String::new() },
            members: g
                .members
                .values()
                .map(|m| super::classic::MemberDescription {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: m.metadata_for(&protocol),
                    assignment: if state == GroupState::Stable { m.assignment.clone() } else { Bytes::new() },
                })
                .collect(),
        })
    }

    /// Every group, by id (ListGroups).
    pub fn list(&self) -> Vec<GroupListing> {
        let groups = self.lock();
        let mut v: Vec<GroupListing> = groups
            .values()
            .map(|g| GroupListing { group_id: g.id.clone(), protocol_type: g.protocol_type.clone().unwrap_or_default(), state: g.state() })
            .collect();
        v.sort();
        v
    }

    /// The topics a group's members subscribe to (consumer protocol), for OffsetDelete.
    pub fn subscriptions(&self, group_id: &str) -> Option<Subscriptions> {
        let groups = self.lock();
        let g = groups.get(group_id)?;
        let protocol = g.protocol.clone().unwrap_or_default();
        let mut topics = Vec::new();
        if g.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE) {
            for m in g.members.values() {
                topics.extend(super::decode_subscription(&m.metadata_for(&protocol)));
            }
        }
        Some(Subscriptions { state: g.state(), topics })
    }

    /// DeleteGroups: only empty groups; their offsets go too (tombstones first, then memory).
    pub fn delete_group(&self, group_id: &str) -> Result<(), ResponseError> {
        let mut groups = self.lock();
        match groups.get(group_id) {
            Some(g) if g.is(GroupState::Empty) => {}
            Some(_) => return Err(ResponseError::NonEmptyGroup),
            None if self.offsets.has_offsets(group_id) => {}
            None => return Err(ResponseError::GroupIdNotFound),
        }
        self.offsets.delete_group(group_id).map_err(|e| {
            tracing::error!(group = group_id, error = %e, "cannot delete group");
            ResponseError::CoordinatorNotAvailable
        })?;
        groups.remove(group_id);
        tracing::info!(group = group_id, "deleted group");
        Ok(())
    }
}

/// A member as its JoinGroup describes it, not yet parked.
fn new_member(req: &JoinRequest, id: String, assignment: Bytes, now: Instant) -> Member {
    Member {
        id,
        instance_id: req.instance_id.clone(),
        client_id: req.client_id.clone(),
        client_host: req.client_host.clone(),
        session_timeout: millis(req.session_timeout_ms),
        rebalance_timeout: millis(req.rebalance_timeout_ms.max(req.session_timeout_ms)),
        protocols: req.protocols.clone(),
        assignment,
        awaiting_join: None,
        awaiting_sync: None,
        last_heartbeat: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use crate::group::timer::OffsetExpiry;
    use crate::group::Protocol;
    use crate::log::LogManager;

    /// A coordinator over a fresh data dir, with one `__consumer_offsets` partition.
    fn coordinator(dir: &std::path::Path) -> GroupCoordinator {
        let settings = [("log.dirs", dir.display().to_string()), ("offsets.topic.num.partitions", "1".into()), ("group.initial.rebalance.delay.ms", "0".into())];
        let config = crate::config::Config::from_map(settings.into_iter().map(|(k, v)| (k.to_string(), v)).collect()).unwrap();
        let logs = Arc::new(LogManager::open(config.log_manager_config()).unwrap());
        GroupCoordinator::new(config.group.clone(), OffsetStore::open(logs, 1, 1 << 20))
    }

    fn join_request(group: &str) -> JoinRequest {
        JoinRequest {
            group_id: group.into(),
            member_id: String::new(),
            instance_id: None,
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            protocol_type: "consumer".into(),
            protocols: vec![Protocol { name: "range".into(), metadata: Bytes::from_static(b"sub") }],
            require_known_member_id: false,
            version: 3,
        }
    }

    /// One member joins; the timer completes the join phase; returns the member's answer.
    fn join_alone(c: &GroupCoordinator, group: &str) -> JoinResult {
        let Reply::Later(rx) = c.join(join_request(group)) else { panic!("a new member's join is parked") };
        c.tick(OffsetExpiry::NotDue);
        rx.now_or_never().expect("the join phase completed")
    }

    fn sync_request(group: &str, joined: &JoinResult) -> SyncRequest {
        SyncRequest {
            group_id: group.into(),
            member_id: joined.member_id.clone(),
            instance_id: None,
            generation: joined.generation,
            protocol_type: None,
            protocol_name: None,
            assignments: vec![MemberAssignment { member_id: joined.member_id.clone(), assignment: Bytes::from_static(b"p0") }],
        }
    }

    #[test]
    fn a_stored_assignment_makes_the_group_stable_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let c = coordinator(dir.path());
        let joined = join_alone(&c, "g");
        assert_eq!((joined.error, joined.leader.as_str()), (None, joined.member_id.as_str()));
        let Reply::Later(rx) = c.sync(sync_request("g", &joined)) else { panic!("the leader's sync is answered once stored") };
        assert_eq!(rx.now_or_never().unwrap().assignment, Bytes::from_static(b"p0"));
        assert_eq!(c.describe("g").unwrap().state, GroupState::Stable);
        let reopened = coordinator(dir.path());
        let d = reopened.describe("g").unwrap();
        assert_eq!((d.state, d.members.len()), (GroupState::Stable, 1));
        assert_eq!(d.members[0].assignment, Bytes::from_static(b"p0"));
    }

    /// Records first: a group id too long for its i16 length cannot be written, so the
    /// assignment is not applied and the sync fails with Kafka's error.
    #[test]
    fn an_assignment_that_cannot_be_stored_is_not_applied() {
        let dir = tempfile::tempdir().unwrap();
        let c = coordinator(dir.path());
        let group = "g".repeat(40_000);
        let joined = join_alone(&c, &group);
        assert_eq!(joined.error, None);
        let Reply::Now(r) = c.sync(sync_request(&group, &joined)) else { panic!("a failed write is answered now") };
        assert_eq!(r.error, Some(ResponseError::CoordinatorNotAvailable));
        let d = c.describe(&group).unwrap();
        assert_eq!(d.state, GroupState::PreparingRebalance, "as Kafka, the group rebalances again");
        assert!(d.members.iter().all(|m| m.assignment.is_empty()));
        assert!(c.offsets.groups().is_empty(), "nothing was stored");
    }

    #[test]
    fn a_leave_whose_empty_group_cannot_be_stored_fails_and_is_retried() {
        let dir = tempfile::tempdir().unwrap();
        let c = coordinator(dir.path());
        let group = "g".repeat(40_000);
        let joined = join_alone(&c, &group);
        let leaving = [LeavingMember { member_id: joined.member_id.clone(), instance_id: None }];
        assert_eq!(c.leave(&group, &leaving), Err(ResponseError::CoordinatorNotAvailable));
        let d = c.describe(&group).unwrap();
        assert_eq!((d.state, d.members.len()), (GroupState::PreparingRebalance, 0), "not Empty until stored");
        c.tick(OffsetExpiry::NotDue);
        assert_eq!(c.describe(&group).unwrap().state, GroupState::PreparingRebalance, "still failing, still not applied");
        // A group that can be stored becomes Empty at once.
        let joined = join_alone(&c, "g");
        let leaving = [LeavingMember { member_id: joined.member_id.clone(), instance_id: None }];
        assert_eq!(c.leave("g", &leaving), Ok(vec![None]));
        assert_eq!(c.describe("g").unwrap().state, GroupState::Empty);
        assert_eq!(c.offsets.groups().get("g").map(|g| g.generation), Some(2));
    }

    #[test]
    fn reads_do_not_expire_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let c = coordinator(dir.path());
        let joined = join_alone(&c, "g");
        if let Some(m) = c.lock().get_mut("g").and_then(|g| g.members.get_mut(&joined.member_id)) {
            m.session_timeout = std::time::Duration::ZERO;
        }
        assert_eq!(c.describe("g").unwrap().members.len(), 1, "describe is a read");
        assert_eq!(c.list().len(), 1);
        c.tick(OffsetExpiry::NotDue);
        assert_eq!(c.describe("g").unwrap().members.len(), 0, "the timer expires the session");
    }
}
