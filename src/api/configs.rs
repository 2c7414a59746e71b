//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for topic (and, read-only, broker)
//! resources. The entries come from the config rows (`config::describe`): types, sources,
//! synonyms and documentation as Kafka 4.x reports them. Both alter APIs share one body.

use super::admin::topic_error_code;
use super::blocking;
use crate::broker::Broker;
use crate::config::Described;
use crate::log::config::{is_list, parse_list, topic_key};
use crate::request::RequestContext;
use kafka_protocol::messages::describe_configs_response::*;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Kafka's `ConfigResource.Type` codes.
pub mod resource_type {
    /// A topic.
    pub const TOPIC: i8 = 2;
    /// A broker, by id (or the empty name for cluster-wide defaults).
    pub const BROKER: i8 = 4;
    /// A broker's loggers.
    pub const BROKER_LOGGER: i8 = 8;
    /// A client metrics subscription.
    pub const CLIENT_METRICS: i8 = 16;
    /// A consumer group.
    pub const GROUP: i8 = 32;
}

/// Kafka's `AlterConfigOp.OpType` codes (IncrementalAlterConfigs).
pub mod config_op {
    /// Set the value.
    pub const SET: i8 = 0;
    /// Remove the override (back to the default).
    pub const DELETE: i8 = 1;
    /// Add items to a LIST value.
    pub const APPEND: i8 = 2;
    /// Remove items from a LIST value.
    pub const SUBTRACT: i8 = 3;
}

use resource_type::{BROKER, TOPIC};

fn sb(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// DescribeConfigs (Kafka's `ConfigHelper.describeConfigs`).
pub async fn describe_configs(broker: &Arc<Broker>, ctx: &RequestContext, req: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let version = ctx.header.request_api_version;
    let results = req
        .resources
        .into_iter()
        .map(|r| {
            let result = DescribeConfigsResult::default().with_resource_type(r.resource_type).with_resource_name(r.resource_name.clone());
            let entries = match r.resource_type {
                TOPIC => match broker.logs.get(&r.resource_name) {
                    Some(t) => broker.config.describe_topic(&t.configs),
                    None => {
                        return result
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_error_message(Some(sb(format!("Topic {} does not exist", r.resource_name.as_str()))))
                    }
                },
                BROKER if r.resource_name.is_empty() || r.resource_name.as_str() == broker.node_id.to_string() => broker.config.describe_broker(),
                BROKER => {
                    return result.with_error_code(ResponseError::InvalidRequest.code()).with_error_message(Some(sb(format!(
                        "Unexpected broker id, expected {} or empty string, but received {}",
                        broker.node_id,
                        r.resource_name.as_str()
                    ))))
                }
                other => {
                    return result
                        .with_error_code(ResponseError::InvalidRequest.code())
                        .with_error_message(Some(sb(format!("Unsupported resource type {other}"))))
                }
            };
            let wanted = |k: &str| r.configuration_keys.as_ref().is_none_or(|keys| keys.iter().any(|w| w.as_str() == k));
            let configs = entries
                .into_iter()
                .filter(|d| wanted(d.name))
                .map(|d| entry(d, req.include_synonyms, req.include_documentation, version))
                .collect();
            result.with_configs(configs)
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

/// One entry of the response; `config_type` and `documentation` exist from v3.
fn entry(d: Described, include_synonyms: bool, include_documentation: bool, version: i16) -> DescribeConfigsResourceResult {
    let synonyms = match include_synonyms {
        true => d.synonyms.into_iter().map(|s| DescribeConfigsSynonym::default().with_name(sb(s.name)).with_value(s.value.map(sb)).with_source(s.source)).collect(),
        false => Vec::new(),
    };
    let e = DescribeConfigsResourceResult::default()
        .with_name(sb(d.name))
        .with_value(d.value.map(sb))
        .with_read_only(d.read_only)
        .with_is_sensitive(d.sensitive)
        .with_config_source(d.source)
        .with_synonyms(synonyms);
    if version < 3 {
        return e;
    }
    e.with_config_type(d.config_type).with_documentation(include_documentation.then(|| sb(d.doc)))
}

/// One change asked of a key: the shape both alter APIs reduce to.
struct Change {
    key: String,
    op: i8,
    value: Option<String>,
}

/// One resource's alteration: `replace` (the legacy AlterConfigs) starts from no overrides.
struct Alteration {
    resource_type: i8,
    name: StrBytes,
    replace: bool,
    changes: Vec<Change>,
}

/// Applies every alteration (off the async threads: it may write `topics.json`) and returns
/// each resource's type, name, error code and message.
async fn alter(broker: &Arc<Broker>, alterations: Vec<Alteration>, validate_only: bool) -> Vec<(i8, StrBytes, i16, Option<StrBytes>)> {
    let b = broker.clone();
    blocking(move || {
        alterations
            .into_iter()
            .map(|a| {
                let (code, msg) = alter_topic(&b, &a, validate_only);
                (a.resource_type, a.name, code, msg)
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default()
}

/// Applies one resource's alteration to a topic.
fn alter_topic(broker: &Broker, a: &Alteration, validate_only: bool) -> (i16, Option<StrBytes>) {
    if a.resource_type == BROKER {
        return (ResponseError::InvalidRequest.code(), Some(sb("Odradek has no dynamic broker configs; set them at start-up")));
    }
    if a.resource_type != TOPIC {
        return (ResponseError::InvalidRequest.code(), Some(sb(format!("Unsupported resource type {}", a.resource_type))));
    }
    let Some(topic) = broker.logs.get(&a.name) else {
        return (ResponseError::UnknownTopicOrPartition.code(), Some(sb(format!("Topic {} does not exist", a.name.as_str()))));
    };
    let base = if a.replace { BTreeMap::new() } else { topic.configs.clone() };
    let new = match apply(broker, base, &a.changes) {
        Ok(n) => n,
        Err((e, msg)) => return (e.code(), Some(sb(msg))),
    };
    match broker.logs.set_topic_configs(&a.name, new, validate_only) {
        Ok(()) => (0, None),
        Err(e) => (topic_error_code(&e).code(), Some(sb(e.to_string()))),
    }
}

/// Kafka's `ConfigAdminManager.prepareIncrementalConfigs` over a topic's overrides.
fn apply(broker: &Broker, mut new: BTreeMap<String, String>, changes: &[Change]) -> Result<BTreeMap<String, String>, (ResponseError, String)> {
    use config_op::{APPEND, DELETE, SET, SUBTRACT};
    for c in changes {
        let key = c.key.clone();
        if topic_key(&key).is_none() {
            return Err((ResponseError::InvalidConfig, format!("Unknown topic config name: {key}")));
        }
        match (c.op, c.value.clone()) {
            (SET, Some(v)) => {
                new.insert(key, v);
            }
            (SET, None) => return Err((ResponseError::InvalidRequest, format!("Null value not supported for : {key}"))),
            (DELETE, _) => {
                new.remove(&key);
            }
            (APPEND | SUBTRACT, _) if !is_list(&key) => {
                return Err((ResponseError::InvalidConfig, format!("Config value append is not allowed for config key: {key}")))
            }
            (op @ (APPEND | SUBTRACT), v) => {
                let base = new.get(&key).cloned().unwrap_or_else(|| broker.config.broker_default_for_topic_key(&key));
                let mut items: Vec<String> = parse_list(&base).into_iter().filter(|s| !s.is_empty()).collect();
                for item in parse_list(&v.unwrap_or_default()).into_iter().filter(|s| !s.is_empty()) {
                    if op == APPEND && !items.contains(&item) {
                        items.push(item);
                    } else if op == SUBTRACT {
                        items.retain(|i| *i != item);
                    }
                }
                new.insert(key, items.join(","));
            }
            (op, _) => return Err((ResponseError::InvalidRequest, format!("Unknown config operation {op}"))),
        }
    }
    Ok(new)
}

/// AlterConfigs: the legacy API replaces the whole set of overrides (a null value removes one).
pub async fn alter_configs(broker: &Arc<Broker>, _ctx: &RequestContext, req: AlterConfigsRequest) -> AlterConfigsResponse {
    use alter_configs_response::AlterConfigsResourceResponse;
    let to_change = |c: alter_configs_request::AlterableConfig| {
        let op = if c.value.is_some() { config_op::SET } else { config_op::DELETE };
        Change { key: c.name.to_string(), op, value: c.value.map(|v| v.to_string()) }
    };
    let alterations = req.resources.into_iter().map(|r| {
        let changes = r.configs.into_iter().map(to_change).collect();
        Alteration { resource_type: r.resource_type, name: r.resource_name, replace: true, changes }
    });
    let responses = alter(broker, alterations.collect(), req.validate_only).await.into_iter();
    let responses = responses.map(|(t, name, code, msg)| AlterConfigsResourceResponse::default().with_resource_type(t).with_resource_name(name).with_error_code(code).with_error_message(msg));
    AlterConfigsResponse::default().with_responses(responses.collect())
}

/// IncrementalAlterConfigs: SET, DELETE, APPEND and SUBTRACT over the current overrides.
pub async fn incremental_alter_configs(broker: &Arc<Broker>, _ctx: &RequestContext, req: IncrementalAlterConfigsRequest) -> IncrementalAlterConfigsResponse {
    use incremental_alter_configs_response::AlterConfigsResourceResponse;
    let to_change = |c: incremental_alter_configs_request::AlterableConfig| Change { key: c.name.to_string(), op: c.config_operation, value: c.value.map(|v| v.to_string()) };
    let alterations = req.resources.into_iter().map(|r| {
        let changes = r.configs.into_iter().map(to_change).collect();
        Alteration { resource_type: r.resource_type, name: r.resource_name, replace: false, changes }
    });
    let responses = alter(broker, alterations.collect(), req.validate_only).await.into_iter();
    let responses = responses.map(|(t, name, code, msg)| AlterConfigsResourceResponse::default().with_resource_type(t).with_resource_name(name).with_error_code(code).with_error_message(msg));
    IncrementalAlterConfigsResponse::default().with_responses(responses.collect())
}
