//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for topic (and, read-only, broker)
//! resources, reporting values, sources and synonyms as Kafka does.

use super::admin::topic_error_code;
use super::blocking;
use crate::config::{topic_key_type, TOPIC_KEYS};
use crate::broker::Broker;
use crate::request::RequestContext;
use kafka_protocol::messages::describe_configs_response::*;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use std::collections::BTreeMap;
use std::sync::Arc;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
/// Kafka's ConfigSource values.
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;

fn sb(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

pub async fn describe_configs(broker: &Arc<Broker>, ctx: &RequestContext, req: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let version = ctx.header.request_api_version;
    let results = req
        .resources
        .into_iter()
        .map(|r| {
            let result = DescribeConfigsResult::default().with_resource_type(r.resource_type).with_resource_name(r.resource_name.clone());
            let wanted = |k: &str| r.configuration_keys.as_ref().is_none_or(|keys| keys.iter().any(|w| w.as_str() == k));
            let configs = match r.resource_type {
                TOPIC => match broker.logs.get(&r.resource_name) {
                    Some(t) => topic_configs(broker, &t.configs, req.include_synonyms, version, &wanted),
                    None => {
                        return result
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_error_message(Some(sb(format!("Topic {} does not exist", r.resource_name.as_str()))))
                    }
                },
                BROKER if r.resource_name.is_empty() || r.resource_name.as_str() == broker.node_id.to_string() => {
                    broker_configs(broker, req.include_synonyms, version, &wanted)
                }
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
            result.with_configs(configs)
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn entry(name: &str, value: String, source: i8, config_type: i8, read_only: bool, synonyms: Vec<DescribeConfigsSynonym>, version: i16) -> DescribeConfigsResourceResult {
    let e = DescribeConfigsResourceResult::default()
        .with_name(sb(name))
        .with_value(Some(sb(value)))
        .with_read_only(read_only)
        .with_config_source(source)
        .with_synonyms(synonyms);
    if version >= 3 {
        e.with_config_type(config_type)
    } else {
        e
    }
}

fn synonym(name: &str, value: String, source: i8) -> DescribeConfigsSynonym {
    DescribeConfigsSynonym::default().with_name(sb(name)).with_value(Some(sb(value))).with_source(source)
}

fn topic_configs(
    broker: &Broker,
    overrides: &BTreeMap<String, String>,
    include_synonyms: bool,
    version: i16,
    wanted: &dyn Fn(&str) -> bool,
) -> Vec<DescribeConfigsResourceResult> {
    TOPIC_KEYS
        .iter()
        .filter(|(k, _)| wanted(k))
        .map(|(key, broker_key)| {
            let broker_value = broker.config.broker_default_for_topic_key(key);
            let broker_source = if broker.config.is_set(broker_key) { STATIC_BROKER_CONFIG } else { DEFAULT_CONFIG };
            let (value, source) = match overrides.get(*key) {
                Some(v) => (v.clone(), DYNAMIC_TOPIC_CONFIG),
                None => (broker_value.clone(), broker_source),
            };
            let mut synonyms = Vec::new();
            if include_synonyms {
                if let Some(v) = overrides.get(*key) {
                    synonyms.push(synonym(key, v.clone(), DYNAMIC_TOPIC_CONFIG));
                }
                synonyms.push(synonym(broker_key, broker_value, broker_source));
            }
            entry(key, value, source, topic_key_type(key), false, synonyms, version)
        })
        .collect()
}

fn broker_configs(broker: &Broker, include_synonyms: bool, version: i16, wanted: &dyn Fn(&str) -> bool) -> Vec<DescribeConfigsResourceResult> {
    broker
        .config
        .describe()
        .into_iter()
        .filter(|(k, _, _)| wanted(k))
        .map(|(key, value, set)| {
            let source = if set { STATIC_BROKER_CONFIG } else { DEFAULT_CONFIG };
            let config_type = if value == "true" || value == "false" {
                1
            } else if value.parse::<i64>().is_ok() {
                5
            } else if value.parse::<f64>().is_ok() {
                6
            } else {
                2
            };
            let synonyms = if include_synonyms { vec![synonym(&key, value.clone(), source)] } else { Vec::new() };
            // Odradek has no dynamic broker configs: every broker config is read-only.
            entry(&key, value, source, config_type, true, synonyms, version)
        })
        .collect()
}

/// Applies one resource's alteration to a topic; `f` turns the current overrides into the new ones.
fn alter_topic(
    broker: &Broker,
    resource_type: i8,
    name: &str,
    validate_only: bool,
    f: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, (ResponseError, String)>,
) -> (i16, Option<StrBytes>) {
    if resource_type == BROKER {
        return (ResponseError::InvalidRequest.code(), Some(sb("Odradek has no dynamic broker configs; set them at start-up")));
    }
    if resource_type != TOPIC {
        return (ResponseError::InvalidRequest.code(), Some(sb(format!("Unsupported resource type {resource_type}"))));
    }
    let Some(topic) = broker.logs.get(name) else {
        return (ResponseError::UnknownTopicOrPartition.code(), Some(sb(format!("Topic {name} does not exist"))));
    };
    let new = match f(&topic.configs) {
        Ok(n) => n,
        Err((e, msg)) => return (e.code(), Some(sb(msg))),
    };
    match broker.logs.set_topic_configs(name, new, validate_only) {
        Ok(()) => (0, None),
        Err(e) => (topic_error_code(&e).code(), Some(sb(e.to_string()))),
    }
}

fn known_key(k: &str) -> Result<(), (ResponseError, String)> {
    if TOPIC_KEYS.iter().any(|(t, _)| *t == k) {
        Ok(())
    } else {
        Err((ResponseError::InvalidConfig, format!("Unknown topic config name: {k}")))
    }
}

pub async fn alter_configs(broker: &Arc<Broker>, _ctx: &RequestContext, req: AlterConfigsRequest) -> AlterConfigsResponse {
    use alter_configs_response::AlterConfigsResourceResponse;
    let b = broker.clone();
    let responses = blocking(move || {
        req.resources
            .into_iter()
            .map(|r| {
                // The legacy API replaces the whole set of overrides.
                let (code, msg) = alter_topic(&b, r.resource_type, &r.resource_name, req.validate_only, |_| {
                    let mut new = BTreeMap::new();
                    for c in &r.configs {
                        known_key(&c.name)?;
                        if let Some(v) = &c.value {
                            new.insert(c.name.to_string(), v.to_string());
                        }
                    }
                    Ok(new)
                });
                AlterConfigsResourceResponse::default()
                    .with_resource_type(r.resource_type)
                    .with_resource_name(r.resource_name)
                    .with_error_code(code)
                    .with_error_message(msg)
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    AlterConfigsResponse::default().with_responses(responses)
}

pub async fn incremental_alter_configs(
    broker: &Arc<Broker>,
    _ctx: &RequestContext,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    use incremental_alter_configs_response::AlterConfigsResourceResponse;
    let b = broker.clone();
    let responses = blocking(move || {
        req.resources
            .into_iter()
            .map(|r| {
                let (code, msg) = alter_topic(&b, r.resource_type, &r.resource_name, req.validate_only, |current| {
                    let mut new = current.clone();
                    for c in &r.configs {
                        let key = c.name.to_string();
                        known_key(&key)?;
                        let value = c.value.as_ref().map(|v| v.to_string());
                        let is_list = topic_key_type(&key) == 7;
                        match (c.config_operation, value) {
                            (0, Some(v)) => {
                                new.insert(key, v);
                            }
                            (0, None) => return Err((ResponseError::InvalidRequest, format!("Null value not supported for : {key}"))),
                            (1, _) => {
                                new.remove(&key);
                            }
                            (2 | 3, _) if !is_list => {
                                return Err((ResponseError::InvalidConfig, format!("Config value append is not allowed for config key: {key}")))
                            }
                            (op @ (2 | 3), v) => {
                                let base = new.get(&key).cloned().unwrap_or_else(|| b.config.broker_default_for_topic_key(&key));
                                let mut items: Vec<String> = base.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
                                for item in v.unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()) {
                                    if op == 2 && !items.iter().any(|i| i == item) {
                                        items.push(item.to_string());
                                    } else if op == 3 {
                                        items.retain(|i| i != item);
                                    }
                                }
                                new.insert(key, items.join(","));
                            }
                            (op, _) => return Err((ResponseError::InvalidRequest, format!("Unknown config operation {op}"))),
                        }
                    }
                    Ok(new)
                });
                AlterConfigsResourceResponse::default()
                    .with_resource_type(r.resource_type)
                    .with_resource_name(r.resource_name)
                    .with_error_code(code)
                    .with_error_message(msg)
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}
