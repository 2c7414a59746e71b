//! DescribeConfigs entries as Kafka 4.x builds them (`ConfigHelper.createTopicConfigEntry`,
//! `createBrokerConfigEntry`, `configSynonyms`), free of the wire types: the API layer only
//! copies these fields into the response.
//!
//! Kafka's rule: the synonyms of a key are the broker keys that can supply it
//! (`brokerConfigSynonyms`), listed first as set at start-up (STATIC_BROKER_CONFIG) and then as
//! defaulted (DEFAULT_CONFIG, only keys with a non-null default), dropping the leading entries
//! for other keys than the one described; a topic override comes first as DYNAMIC_TOPIC_CONFIG.
//! The entry's source is that of its first synonym, DEFAULT_CONFIG when there is none.

use super::keys::{broker_key, broker_synonyms, BROKER_KEYS};
use super::Config;
use crate::config_def::config_source::{DEFAULT_CONFIG, DYNAMIC_TOPIC_CONFIG, STATIC_BROKER_CONFIG};
use crate::config_def::{ConfigKey, Type};
use crate::log::config::{LogConfig, TOPIC_KEYS};
use std::collections::BTreeMap;

/// One synonym of a described key: a key that supplies its value, and from where.
#[derive(Debug, Clone, PartialEq)]
pub struct Synonym {
    /// The supplying key.
    pub name: &'static str,
    /// Its value (`None` for a sensitive key).
    pub value: Option<String>,
    /// A `config_source` code.
    pub source: i8,
}

/// One DescribeConfigs entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Described {
    /// The key.
    pub name: &'static str,
    /// Its value as Kafka renders it; `None` when unset without a default, or sensitive.
    pub value: Option<String>,
    /// A `config_source` code.
    pub source: i8,
    /// A `config_type` code, from the key's row.
    pub config_type: i8,
    /// Whether AlterConfigs cannot change it.
    pub read_only: bool,
    /// Whether the value is a secret (a PASSWORD key).
    pub sensitive: bool,
    /// The row's documentation.
    pub doc: &'static str,
    /// Every synonym, in Kafka's order (the response carries them when asked for).
    pub synonyms: Vec<Synonym>,
}

impl Config {
    /// Kafka's `configSynonyms(name, names)`: static then default entries of `names`, from `name` on.
    fn config_synonyms(&self, name: &str, names: &[&'static str]) -> Vec<Synonym> {
        let set = names.iter().filter_map(|n| self.raw.get(*n).map(|v| Synonym { name: n, value: Some(v.clone()), source: STATIC_BROKER_CONFIG }));
        let defaults = names.iter().filter_map(|n| {
            let d = broker_key(n)?.default?;
            Some(Synonym { name: n, value: Some(d.to_string()), source: DEFAULT_CONFIG })
        });
        set.chain(defaults).skip_while(|s| s.name != name).collect()
    }

    /// Every broker key, as DescribeConfigs reports it for this broker's id.
    pub fn describe_broker(&self) -> Vec<Described> {
        BROKER_KEYS
            .iter()
            .map(|k| {
                let synonyms = self.config_synonyms(k.name, &broker_synonyms(k.name));
                let value = self.values.get(k.name).ok().flatten().map(|v| v.to_string());
                entry(k, value, synonyms)
            })
            .collect()
    }

    /// Every topic key of a topic with `overrides`, as DescribeConfigs reports it.
    pub fn describe_topic(&self, overrides: &BTreeMap<String, String>) -> Vec<Described> {
        TOPIC_KEYS
            .iter()
            .map(|t| {
                let value = LogConfig::describe_value(&self.topic_defaults, overrides, t.key.name);
                let mut synonyms = match t.synonyms.first() {
                    Some(s) => self.config_synonyms(s.name, &broker_synonyms(s.name)),
                    None => Vec::new(),
                };
                if overrides.contains_key(t.key.name) {
                    synonyms.insert(0, Synonym { name: t.key.name, value: value.clone(), source: DYNAMIC_TOPIC_CONFIG });
                }
                entry(&t.key, value, synonyms)
            })
            .collect()
    }
}

fn entry(k: &ConfigKey, value: Option<String>, mut synonyms: Vec<Synonym>) -> Described {
    let sensitive = k.ty == Type::Password;
    if sensitive {
        synonyms.iter_mut().for_each(|s| s.value = None);
    }
    Described {
        name: k.name,
        value: value.filter(|_| !sensitive),
        source: synonyms.first().map_or(DEFAULT_CONFIG, |s| s.source),
        config_type: k.ty.code(),
        read_only: !k.dynamic,
        sensitive,
        doc: k.doc,
        synonyms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config_def::config_type;

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        Config::from_map(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()).unwrap()
    }

    fn find<'a>(d: &'a [Described], name: &str) -> &'a Described {
        d.iter().find(|e| e.name == name).unwrap()
    }

    fn syn(e: &Described) -> Vec<(&str, Option<&str>, i8)> {
        e.synonyms.iter().map(|s| (s.name, s.value.as_deref(), s.source)).collect()
    }

    #[test]
    fn topic_entries_as_kafka_reports_them() {
        let c = cfg(&[("message.max.bytes", "2000000"), ("log.retention.hours", "24")]);
        let o: BTreeMap<String, String> = [("segment.bytes".to_string(), "1048576".to_string())].into();
        let d = c.describe_topic(&o);
        let seg = find(&d, "segment.bytes");
        assert_eq!((seg.value.as_deref(), seg.source, seg.config_type), (Some("1048576"), DYNAMIC_TOPIC_CONFIG, config_type::INT));
        assert_eq!(syn(seg), vec![("segment.bytes", Some("1048576"), DYNAMIC_TOPIC_CONFIG), ("log.segment.bytes", Some("1073741824"), DEFAULT_CONFIG)]);
        let mmb = find(&d, "max.message.bytes");
        assert_eq!(mmb.source, STATIC_BROKER_CONFIG);
        assert_eq!(syn(mmb), vec![("message.max.bytes", Some("2000000"), STATIC_BROKER_CONFIG), ("message.max.bytes", Some("1048588"), DEFAULT_CONFIG)]);
        // retention.ms comes from log.retention.hours, but Kafka lists synonyms from
        // log.retention.ms on, so there are none and the source is DEFAULT_CONFIG.
        let r = find(&d, "retention.ms");
        assert_eq!((r.value.as_deref(), r.source, r.synonyms.len()), (Some("86400000"), DEFAULT_CONFIG, 0));
        assert_eq!(find(&d, "cleanup.policy").config_type, config_type::LIST);
        assert_eq!(find(&d, "min.cleanable.dirty.ratio").value.as_deref(), Some("0.5"));
        assert!(d.iter().all(|e| !e.read_only && !e.doc.is_empty()));
    }

    #[test]
    fn broker_entries_as_kafka_reports_them() {
        let c = cfg(&[("num.partitions", "3"), ("log.retention.minutes", "60")]);
        let d = c.describe_broker();
        let n = find(&d, "num.partitions");
        assert_eq!((n.value.as_deref(), n.source, n.config_type, n.read_only), (Some("3"), STATIC_BROKER_CONFIG, config_type::INT, true));
        assert_eq!(syn(n), vec![("num.partitions", Some("3"), STATIC_BROKER_CONFIG), ("num.partitions", Some("1"), DEFAULT_CONFIG)]);
        let ms = find(&d, "log.retention.ms");
        assert_eq!((ms.value.as_deref(), ms.source), (None, DEFAULT_CONFIG), "unset without a default: a null value");
        let min = find(&d, "log.retention.minutes");
        assert_eq!(syn(min), vec![("log.retention.minutes", Some("60"), STATIC_BROKER_CONFIG), ("log.retention.hours", Some("168"), DEFAULT_CONFIG)]);
        assert_eq!(find(&d, "auto.create.topics.enable").config_type, config_type::BOOLEAN);
        assert_eq!(find(&d, "log.cleaner.min.cleanable.ratio").config_type, config_type::DOUBLE);
        assert_eq!(find(&d, "listeners").config_type, config_type::STRING);
        assert_eq!(d.len(), BROKER_KEYS.len());
    }
}
