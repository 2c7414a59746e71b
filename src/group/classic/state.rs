//! The states of a classic group, after Kafka's `ClassicGroupState`: each state says how the
//! group APIs are answered in it (`action`) and what moves the group on (`transition`).
//! `valid_previous` is the table `Group::transition_to` checks every change against.
//!
//! Kafka has a fifth state, Dead, for a group whose metadata is being removed. Here a deleted
//! (or forgotten) group is removed from the coordinator's map under the same lock that checked
//! it, so no request can ever see it half-removed: Dead would never be entered, and is not a
//! state. A group that does not exist is still *described* as Kafka's "Dead" ([`DEAD`]).

/// The name DescribeGroups (before v6) gives a group that does not exist, as Kafka does.
pub const DEAD: &str = "Dead";

/// The state of a classic group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GroupState {
    /// The group has no members, but lingers until its offsets have expired (also the state
    /// of a group that only commits offsets, with no members).
    ///
    /// action:
    /// - JoinGroup from a new member: accepted (the group prepares a rebalance);
    /// - SyncGroup, Heartbeat: UNKNOWN_MEMBER_ID;
    /// - OffsetCommit: accepted only from a standalone committer (generation -1);
    /// - OffsetFetch, DescribeGroups, DeleteGroups: answered.
    ///
    /// transition:
    /// - JoinGroup from a new member => PreparingRebalance;
    /// - offsets expired, or the group deleted => removed.
    Empty,
    /// The group is waiting for its members to (re)join.
    ///
    /// action:
    /// - Heartbeat, SyncGroup: REBALANCE_IN_PROGRESS;
    /// - LeaveGroup: the member is removed;
    /// - JoinGroup: parked until every expected member has joined (or the deadline);
    /// - OffsetCommit: accepted from members of the previous generation;
    /// - OffsetFetch: answered.
    ///
    /// transition:
    /// - the members have joined, or the rebalance timeout passed with some => CompletingRebalance;
    /// - every member has left or timed out => Empty.
    PreparingRebalance,
    /// The join phase is over; the group waits for the leader's assignment.
    ///
    /// action:
    /// - Heartbeat: answered normally (the member is in the new generation);
    /// - OffsetCommit: REBALANCE_IN_PROGRESS;
    /// - SyncGroup from followers: parked until the leader's arrives;
    /// - SyncGroup from the leader: its assignment is stored, then every parked sync answered;
    /// - OffsetFetch: answered.
    ///
    /// transition:
    /// - the leader's assignment stored => Stable;
    /// - JoinGroup from a new member, or a member with new metadata => PreparingRebalance;
    /// - LeaveGroup, or a member's session expired => PreparingRebalance;
    /// - the leader's assignment could not be stored => PreparingRebalance.
    CompletingRebalance,
    /// Every member has its assignment.
    ///
    /// action:
    /// - Heartbeat: answered normally;
    /// - SyncGroup: the member's current assignment;
    /// - JoinGroup from a follower with unchanged metadata: the current generation;
    /// - JoinGroup from a static member with a new member id: replaces its old incarnation;
    /// - OffsetCommit: accepted from members of the current generation;
    /// - OffsetFetch: answered.
    ///
    /// transition:
    /// - a member's session expired, or LeaveGroup => PreparingRebalance;
    /// - JoinGroup from the leader, or from a follower with new metadata => PreparingRebalance.
    Stable,
}

impl GroupState {
    /// The state's name as DescribeGroups and ListGroups report it (Kafka's spelling).
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }

    /// The states a group may move to this one from (Kafka's `validPreviousStates`).
    pub fn valid_previous(self) -> &'static [GroupState] {
        use GroupState::*;
        match self {
            Empty => &[PreparingRebalance],
            PreparingRebalance => &[Empty, CompletingRebalance, Stable],
            CompletingRebalance => &[PreparingRebalance],
            Stable => &[CompletingRebalance],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::GroupState::*;

    #[test]
    fn every_state_is_reachable_and_none_from_itself() {
        for s in [Empty, PreparingRebalance, CompletingRebalance, Stable] {
            assert!(!s.valid_previous().contains(&s), "{s:?} -> {s:?}");
            assert!([Empty, PreparingRebalance, CompletingRebalance, Stable].iter().any(|t| t.valid_previous().contains(&s)), "{s:?} is a dead end");
        }
    }
}
