//! Group APIs: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, DescribeGroups,
//! ListGroups, DeleteGroups; the offset APIs: OffsetCommit, OffsetFetch, OffsetDelete.

use super::{blocking, find_partition, find_topic};
use crate::group::requests::{JoinRequest, JoinResult, LeavingMember, MemberAssignment, SyncRequest, SyncResult, NO_GENERATION};
use crate::group::{Committed, GroupState, PartitionOffset, Protocol};
use crate::broker::Broker;
use crate::request::RequestContext;
use crate::util::time::now_ms;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use std::collections::BTreeMap;
use std::sync::Arc;

fn sb(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

fn code(e: Option<ResponseError>) -> i16 {
    e.map(|e| e.code()).unwrap_or(0)
}

/// ListGroups' type of a classic-protocol group (the only kind here).
const CLASSIC_GROUP_TYPE: &str = "classic";
/// FindCoordinator's key type for a consumer group.
const KEY_TYPE_GROUP: i8 = 0;
/// FindCoordinator's key type for a transactional id.
const KEY_TYPE_TRANSACTION: i8 = 1;
/// What OffsetFetch answers for a partition with nothing committed.
const NOTHING_COMMITTED: Committed = Committed { offset: -1, leader_epoch: -1, metadata: String::new(), commit_timestamp: -1 };

/// FindCoordinator: this broker, for groups and transactional ids alike.
pub async fn find_coordinator(broker: &Arc<Broker>, ctx: &RequestContext, req: FindCoordinatorRequest) -> FindCoordinatorResponse {
    use find_coordinator_response::Coordinator;
    let version = ctx.header.request_api_version;
    let keys: Vec<StrBytes> = if version >= 4 { req.coordinator_keys.clone() } else { vec![req.key.clone()] };
    let key_type = req.key_type;
    let mut coordinators = Vec::new();
    for key in keys {
        let c = Coordinator::default().with_key(key.clone());
        let c = match key_type {
            KEY_TYPE_GROUP | KEY_TYPE_TRANSACTION => {
                // As Kafka does, the coordinator's internal topic is created on first lookup.
                let b = broker.clone();
                let k = key.to_string();
                let _ = blocking(move || {
                    if key_type == KEY_TYPE_GROUP {
                        if let Err(e) = b.groups.ensure_offsets_topic(&k) {
                            tracing::error!(error = %e, "cannot create the offsets topic");
                        }
                    } else {
                        b.txns.ensure_topic(&k);
                    }
                })
                .await;
                let (host, port) = broker.advertised(&ctx.client.listener);
                c.with_node_id(BrokerId(broker.node_id)).with_host(sb(host.to_string())).with_port(port)
            }
            _ => c
                .with_error_code(ResponseError::InvalidRequest.code())
                .with_error_message(Some(sb(format!("unknown key type {key_type}"))))
                .with_node_id(BrokerId(-1))
                .with_port(-1),
        };
        coordinators.push(c);
    }
    if version >= 4 {
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let c = coordinators.pop().unwrap_or_default();
    let resp = FindCoordinatorResponse::default().with_error_code(c.error_code).with_node_id(c.node_id).with_host(c.host).with_port(c.port);
    if version >= 1 {
        resp.with_error_message(c.error_message)
    } else {
        resp
    }
}

/// JoinGroup: answered when the rebalance's join phase completes.
pub async fn join_group(broker: &Arc<Broker>, ctx: &RequestContext, req: JoinGroupRequest) -> JoinGroupResponse {
    let version = ctx.header.request_api_version;
    let jr = JoinRequest {
        group_id: req.group_id.to_string(),
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
        client_id: ctx.client_id(),
        client_host: format!("/{}", ctx.peer().ip()),
        session_timeout_ms: req.session_timeout_ms,
        rebalance_timeout_ms: if version >= 1 { req.rebalance_timeout_ms } else { req.session_timeout_ms },
        protocol_type: req.protocol_type.to_string(),
        protocols: req.protocols.iter().map(|p| Protocol { name: p.name.to_string(), metadata: p.metadata.clone() }).collect(),
        require_known_member_id: version >= 4,
        version,
    };
    let member_id = jr.member_id.clone();
    let b = broker.clone();
    let r = match blocking(move || b.groups.join(jr)).await {
        Ok(reply) => reply.settle().await,
        Err(e) => JoinResult { error: Some(e), generation: NO_GENERATION, member_id, ..Default::default() },
    };
    let members = r
        .members
        .into_iter()
        .map(|m| {
            join_group_response::JoinGroupResponseMember::default()
                .with_member_id(sb(m.member_id))
                .with_group_instance_id(m.instance_id.map(sb))
                .with_metadata(m.metadata)
        })
        .collect();
    let resp = JoinGroupResponse::default()
        .with_error_code(code(r.error))
        .with_generation_id(r.generation)
        .with_protocol_name(Some(sb(r.protocol_name.unwrap_or_default())))
        .with_leader(sb(r.leader))
        .with_member_id(sb(r.member_id))
        .with_members(members);
    let resp = if version >= 7 { resp.with_protocol_type(r.protocol_type.map(sb)) } else { resp };
    if version >= 9 {
        resp.with_skip_assignment(r.skip_assignment)
    } else {
        resp
    }
}

/// SyncGroup: a follower's is answered when the leader's assignment is stored.
pub async fn sync_group(broker: &Arc<Broker>, ctx: &RequestContext, req: SyncGroupRequest) -> SyncGroupResponse {
    let version = ctx.header.request_api_version;
    let sr = SyncRequest {
        group_id: req.group_id.to_string(),
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
        generation: req.generation_id,
        protocol_type: req.protocol_type.as_ref().map(|s| s.to_string()),
        protocol_name: req.protocol_name.as_ref().map(|s| s.to_string()),
        assignments: req.assignments.into_iter().map(|a| MemberAssignment { member_id: a.member_id.to_string(), assignment: a.assignment }).collect(),
    };
    let b = broker.clone();
    let r = match blocking(move || b.groups.sync(sr)).await {
        Ok(reply) => reply.settle().await,
        Err(e) => SyncResult { error: Some(e), ..Default::default() },
    };
    let resp = SyncGroupResponse::default().with_error_code(code(r.error)).with_assignment(r.assignment);
    if version >= 5 {
        resp.with_protocol_type(r.protocol_type.map(sb)).with_protocol_name(r.protocol_name.map(sb))
    } else {
        resp
    }
}

/// Heartbeat.
pub async fn heartbeat(broker: &Arc<Broker>, _ctx: &RequestContext, req: HeartbeatRequest) -> HeartbeatResponse {
    let instance = req.group_instance_id.as_ref().map(|s| s.to_string());
    let e = broker.groups.heartbeat(&req.group_id, &req.member_id, &instance, req.generation_id);
    HeartbeatResponse::default().with_error_code(code(e))
}

/// LeaveGroup: one member (v0-2) or several (v3+).
pub async fn leave_group(broker: &Arc<Broker>, ctx: &RequestContext, req: LeaveGroupRequest) -> LeaveGroupResponse {
    use leave_group_response::MemberResponse;
    let version = ctx.header.request_api_version;
    let members: Vec<LeavingMember> = if version >= 3 {
        req.members
            .iter()
            .map(|m| LeavingMember { member_id: m.member_id.to_string(), instance_id: m.group_instance_id.as_ref().map(|s| s.to_string()) })
            .collect()
    } else {
        vec![LeavingMember { member_id: req.member_id.to_string(), instance_id: None }]
    };
    let (b, group, list) = (broker.clone(), req.group_id.to_string(), members.clone());
    let result = blocking(move || b.groups.leave(&group, &list)).await.and_then(|r| r);
    match result {
        Err(e) => LeaveGroupResponse::default().with_error_code(e.code()),
        Ok(errors) if version < 3 => LeaveGroupResponse::default().with_error_code(code(errors.first().copied().flatten())),
        Ok(errors) => LeaveGroupResponse::default().with_members(
            members
                .into_iter()
                .zip(errors)
                .map(|(m, e)| {
                    MemberResponse::default().with_member_id(sb(m.member_id)).with_group_instance_id(m.instance_id.map(sb)).with_error_code(code(e))
                })
                .collect(),
        ),
    }
}

/// OffsetCommit: each partition checked, then all stored as one batch.
pub async fn offset_commit(broker: &Arc<Broker>, _ctx: &RequestContext, req: OffsetCommitRequest) -> OffsetCommitResponse {
    use offset_commit_response::*;
    let b = broker.clone();
    let topics = blocking(move || {
        let group = req.group_id.to_string();
        let instance = req.group_instance_id.as_ref().map(|s| s.to_string());
        let allowed = b.groups.check_commit(&group, &req.member_id, &instance, req.generation_id_or_member_epoch);
        let now = now_ms();
        let max_meta = b.config.group.offset_metadata_max_bytes;
        let mut plan: Vec<PlannedTopic> = Vec::new();
        let mut to_store = Vec::new();
        for t in &req.topics {
            let topic = find_topic(&b, &t.name.0, t.topic_id);
            let mut parts = Vec::new();
            for p in &t.partitions {
                let res = allowed
                    .and_then(|_| topic.as_ref().map_err(|e| *e))
                    .and_then(|topic| find_partition(topic, p.partition_index).map(|_| topic.name.clone()))
                    .and_then(|name| {
                        let metadata = p.committed_metadata.as_ref().map(|m| m.to_string()).unwrap_or_default();
                        if metadata.len() > max_meta {
                            return Err(ResponseError::OffsetMetadataTooLarge);
                        }
                        let c = Committed { offset: p.committed_offset, leader_epoch: p.committed_leader_epoch, metadata, commit_timestamp: now };
                        to_store.push(PartitionOffset { topic: name, partition: p.partition_index, committed: c });
                        Ok(())
                    });
                parts.push((p.partition_index, res));
            }
            plan.push(PlannedTopic { name: t.name.clone(), id: t.topic_id, partitions: parts });
        }
        let stored = if to_store.is_empty() { Ok(()) } else { b.groups.commit(&group, to_store) };
        plan.into_iter()
            .map(|t| {
                OffsetCommitResponseTopic::default().with_name(t.name).with_topic_id(t.id).with_partitions(
                    t.partitions
                        .into_iter()
                        .map(|(i, r)| {
                            let e = match r {
                                Ok(_) => stored.err(),
                                Err(e) => Some(e),
                            };
                            OffsetCommitResponsePartition::default().with_partition_index(i).with_error_code(code(e))
                        })
                        .collect(),
                )
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    OffsetCommitResponse::default().with_topics(topics)
}

/// One topic of an OffsetCommit: the outcome of the checks for each partition (Ok: stored
/// with the rest).
struct PlannedTopic {
    name: TopicName,
    id: uuid::Uuid,
    partitions: Vec<(i32, Result<(), ResponseError>)>,
}

/// A topic an OffsetFetch asks for (by name, or by id when the name is empty).
struct AskedTopic {
    name: TopicName,
    id: uuid::Uuid,
    partitions: Vec<i32>,
}

/// One topic's committed offsets in an OffsetFetch answer (None: nothing committed).
struct FetchedTopic {
    name: TopicName,
    id: uuid::Uuid,
    partitions: Vec<(i32, Option<Committed>)>,
}

/// One group's committed offsets for the asked topics (None = all).
fn fetch_offsets(broker: &Broker, group: &str, topics: Option<Vec<AskedTopic>>) -> Vec<FetchedTopic> {
    match topics {
        None => {
            let mut by_topic: BTreeMap<String, Vec<(i32, Option<Committed>)>> = BTreeMap::new();
            for o in broker.groups.committed_all(group) {
                by_topic.entry(o.topic).or_default().push((o.partition, Some(o.committed)));
            }
            by_topic
                .into_iter()
                .map(|(t, partitions)| {
                    let id = broker.logs.get(&t).map(|t| t.id).unwrap_or_default();
                    FetchedTopic { name: TopicName(sb(t)), id, partitions }
                })
                .collect()
        }
        Some(list) => list
            .into_iter()
            .map(|t| {
                let resolved =
                    if t.name.0.is_empty() { broker.logs.get_by_id(t.id).map(|t| t.name.clone()).unwrap_or_default() } else { t.name.0.to_string() };
                let partitions = t.partitions.into_iter().map(|p| (p, broker.groups.committed(group, &resolved, p))).collect();
                FetchedTopic { name: t.name, id: t.id, partitions }
            })
            .collect(),
    }
}

/// OffsetFetch: one group (v0-7) or several (v8+).
pub async fn offset_fetch(broker: &Arc<Broker>, ctx: &RequestContext, req: OffsetFetchRequest) -> OffsetFetchResponse {
    use offset_fetch_response::*;
    let version = ctx.header.request_api_version;
    let b = broker.clone();
    if version >= 8 {
        let groups = req
            .groups
            .into_iter()
            .map(|g| {
                let asked = g.topics.map(|ts| ts.into_iter().map(|t| AskedTopic { name: t.name, id: t.topic_id, partitions: t.partition_indexes }).collect());
                let topics = fetch_offsets(&b, &g.group_id, asked)
                    .into_iter()
                    .map(|t| {
                        OffsetFetchResponseTopics::default().with_name(t.name).with_topic_id(t.id).with_partitions(
                            t.partitions
                                .into_iter()
                                .map(|(p, c)| {
                                    let c = c.unwrap_or(NOTHING_COMMITTED);
                                    OffsetFetchResponsePartitions::default()
                                        .with_partition_index(p)
                                        .with_committed_offset(c.offset)
                                        .with_committed_leader_epoch(c.leader_epoch)
                                        .with_metadata(Some(sb(c.metadata)))
                                })
                                .collect(),
                        )
                    })
                    .collect();
                OffsetFetchResponseGroup::default().with_group_id(g.group_id).with_topics(topics)
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let asked = req.topics.map(|ts| ts.into_iter().map(|t| AskedTopic { name: t.name, id: uuid::Uuid::nil(), partitions: t.partition_indexes }).collect());
    let topics = fetch_offsets(&b, &req.group_id, asked)
        .into_iter()
        .map(|t| {
            OffsetFetchResponseTopic::default().with_name(t.name).with_partitions(
                t.partitions
                    .into_iter()
                    .map(|(p, c)| {
                        let c = c.unwrap_or(NOTHING_COMMITTED);
                        let r = OffsetFetchResponsePartition::default()
                            .with_partition_index(p)
                            .with_committed_offset(c.offset)
                            .with_metadata(Some(sb(c.metadata)));
                        if version >= 5 {
                            r.with_committed_leader_epoch(c.leader_epoch)
                        } else {
                            r
                        }
                    })
                    .collect(),
            )
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}

/// DescribeGroups.
pub async fn describe_groups(broker: &Arc<Broker>, ctx: &RequestContext, req: DescribeGroupsRequest) -> DescribeGroupsResponse {
    use describe_groups_response::*;
    let version = ctx.header.request_api_version;
    let ops = super::authorized_ops::if_asked(req.include_authorized_operations, super::authorized_ops::GROUP);
    let groups: Vec<DescribedGroup> = req
        .groups
        .into_iter()
        .map(|id| match broker.groups.describe(&id) {
            Some(d) => DescribedGroup::default()
                .with_group_id(id)
                .with_group_state(sb(d.state.name()))
                .with_protocol_type(sb(d.protocol_type))
                .with_protocol_data(sb(d.protocol))
                .with_members(
                    d.members
                        .into_iter()
                        .map(|m| {
                            DescribedGroupMember::default()
                                .with_member_id(sb(m.member_id))
                                .with_group_instance_id(m.instance_id.map(sb))
                                .with_client_id(sb(m.client_id))
                                .with_client_host(sb(m.client_host))
                                .with_member_metadata(m.metadata)
                                .with_member_assignment(m.assignment)
                        })
                        .collect(),
                ),
            None => {
                let g = DescribedGroup::default().with_group_id(id).with_group_state(sb(crate::group::classic::state::DEAD));
                // KIP-1043: v6 says the group does not exist instead of describing it as Dead.
                if version >= 6 {
                    g.with_error_code(ResponseError::GroupIdNotFound.code())
                } else {
                    g
                }
            }
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups.into_iter().map(|g| g.with_authorized_operations(ops)).collect())
}

/// ListGroups, filtered by state (v4+) and type (v5+; every group here is "classic").
pub async fn list_groups(broker: &Arc<Broker>, ctx: &RequestContext, req: ListGroupsRequest) -> ListGroupsResponse {
    use list_groups_response::ListedGroup;
    let version = ctx.header.request_api_version;
    let states: Vec<String> = req.states_filter.iter().map(|s| s.to_ascii_lowercase()).collect();
    let types: Vec<String> = req.types_filter.iter().map(|s| s.to_ascii_lowercase()).collect();
    let groups = broker
        .groups
        .list()
        .into_iter()
        .filter(|g| states.is_empty() || states.contains(&g.state.name().to_ascii_lowercase()))
        .filter(|_| types.is_empty() || types.iter().any(|t| t == CLASSIC_GROUP_TYPE))
        .map(|listing| {
            let g = ListedGroup::default().with_group_id(GroupId(sb(listing.group_id))).with_protocol_type(sb(listing.protocol_type));
            let g = if version >= 4 { g.with_group_state(sb(listing.state.name())) } else { g };
            if version >= 5 {
                g.with_group_type(sb(CLASSIC_GROUP_TYPE))
            } else {
                g
            }
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}

/// DeleteGroups: each group separately.
pub async fn delete_groups(broker: &Arc<Broker>, _ctx: &RequestContext, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    use delete_groups_response::DeletableGroupResult;
    let b = broker.clone();
    let results = blocking(move || {
        req.groups_names
            .into_iter()
            .map(|g| {
                let e = b.groups.delete_group(&g).err();
                DeletableGroupResult::default().with_group_id(g).with_error_code(code(e))
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    DeleteGroupsResponse::default().with_results(results)
}

/// OffsetDelete: refused for topics an active group subscribes to.
pub async fn offset_delete(broker: &Arc<Broker>, _ctx: &RequestContext, req: OffsetDeleteRequest) -> OffsetDeleteResponse {
    use offset_delete_response::*;
    let Some(subscriptions) = broker.groups.subscriptions(&req.group_id) else {
        return OffsetDeleteResponse::default().with_error_code(ResponseError::GroupIdNotFound.code());
    };
    let group = req.group_id.to_string();
    let mut to_delete = Vec::new();
    let topics: Vec<OffsetDeleteResponseTopic> = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let exists = broker.logs.get(&name);
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let e = if subscriptions.state != GroupState::Empty && subscriptions.topics.contains(&name) {
                        Some(ResponseError::GroupSubscribedToTopic)
                    } else if exists.as_ref().and_then(|t| find_partition(t, p.partition_index).ok()).is_none() {
                        Some(ResponseError::UnknownTopicOrPartition)
                    } else {
                        to_delete.push((name.clone(), p.partition_index));
                        None
                    };
                    OffsetDeleteResponsePartition::default().with_partition_index(p.partition_index).with_error_code(code(e))
                })
                .collect();
            OffsetDeleteResponseTopic::default().with_name(t.name).with_partitions(partitions)
        })
        .collect();
    if !to_delete.is_empty() {
        let b = broker.clone();
        match blocking(move || b.groups.delete_offsets(&group, to_delete)).await.and_then(|r| r) {
            Ok(()) => {}
            Err(e) => return OffsetDeleteResponse::default().with_error_code(e.code()),
        }
    }
    OffsetDeleteResponse::default().with_topics(topics)
}
