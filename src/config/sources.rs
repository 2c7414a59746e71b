//! Where settings come from, in rising precedence: a `server.properties` file (`--config`),
//! `KAFKA_*` then `ODRADEK_*` environment variables, command-line flags (`--log-segment-bytes
//! 1024` sets `log.segment.bytes`), and `--override key=value` (as `kafka-server-start.sh`
//! takes them). The result is one map of Kafka keys; the rows in `keys` give it meaning.

use crate::config_def::{parse_properties, ConfigError};
use std::collections::BTreeMap;

/// KAFKA_* variables that images use for other purposes than broker settings.
const KAFKA_ENV_IGNORED: &[&str] = &["HEAP_OPTS", "OPTS", "JVM_PERFORMANCE_OPTS", "LOG4J_OPTS", "JMX_OPTS", "HOME", "VERSION", "DEBUG", "GC_LOG_OPTS"];

/// Flag and environment aliases for the keys people type most: (alias, Kafka key).
pub const ALIASES: &[(&str, &str)] = &[
    ("listen", "listeners"),
    ("data.dir", "log.dirs"),
    ("log.dir", "log.dirs"),
    ("segment.bytes", "log.segment.bytes"),
    ("retention.ms", "log.retention.ms"),
    ("retention.bytes", "log.retention.bytes"),
];

/// Collects command-line arguments (without the program name) and the environment into one
/// map of Kafka keys, later sources overriding earlier ones.
pub fn collect(args: &[String], env: impl Iterator<Item = (String, String)>) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut file: Option<String> = None;
    let mut flags: Vec<(String, String)> = Vec::new();
    let mut overrides: Vec<(String, String)> = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let Some(name) = arg.strip_prefix("--") else {
            return Err(ConfigError::Arg(arg.clone()));
        };
        let (name, inline) = match name.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (name.to_string(), None),
        };
        let mut value = || -> Result<String, ConfigError> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it.next().cloned().ok_or_else(|| ConfigError::Arg(arg.clone())),
            }
        };
        match name.as_str() {
            "config" => file = Some(value()?),
            "override" => {
                let kv = value()?;
                let (k, v) = kv.split_once('=').ok_or_else(|| ConfigError::Arg(kv.clone()))?;
                overrides.push((k.trim().to_string(), v.trim().to_string()));
            }
            _ => flags.push((name.replace('-', "."), value()?)),
        }
    }
    let mut raw: BTreeMap<String, String> = BTreeMap::new();
    if let Some(path) = file {
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::File { path, source })?;
        for (k, v) in parse_properties(&text) {
            raw.insert(canonical(&k), v);
        }
    }
    // Kafka image-style KAFKA_* variables (KAFKA_ADVERTISED_LISTENERS -> advertised.listeners),
    // so compose files written for Kafka port over; ODRADEK_* ones win over them.
    let env: Vec<(String, String)> = env.collect();
    // The container convention for a JAAS file: KAFKA_OPTS=-Djava.security.auth.login.config=PATH.
    let jaas_file = env.iter().filter(|(k, _)| k == "KAFKA_OPTS").flat_map(|(_, v)| v.split_whitespace()).filter_map(|o| o.strip_prefix("-Djava.security.auth.login.config="));
    let jaas_file: Vec<(u8, String, String)> = jaas_file.map(|p| (0, "java.security.auth.login.config".to_string(), p.to_string())).collect();
    let mut env: Vec<(u8, String, String)> = env
        .into_iter()
        .filter_map(|(k, v)| {
            let (rank, k) = match k.strip_prefix("ODRADEK_") {
                Some(k) => (1, k),
                None => (0, k.strip_prefix("KAFKA_").filter(|k| !KAFKA_ENV_IGNORED.contains(k))?),
            };
            Some((rank, k.to_ascii_lowercase().replace("__", "-").replace('_', "."), v))
        })
        .chain(jaas_file)
        .collect();
    env.sort();
    let env = env.into_iter().map(|(_, k, v)| (k, v));
    for (k, v) in env.chain(flags).chain(overrides) {
        raw.insert(canonical(&k), v);
    }
    Ok(raw)
}

/// The Kafka key an alias stands for (or the key itself).
fn canonical(key: &str) -> String {
    let key = key.trim();
    ALIASES.iter().find(|(a, _)| *a == key).map(|(_, k)| k.to_string()).unwrap_or_else(|| key.to_string())
}

/// The flags that set `key` through an alias (`--listen` for `listeners`), for the README.
pub fn flag_aliases(key: &str) -> Vec<String> {
    ALIASES.iter().filter(|(_, k)| *k == key).map(|(a, _)| format!("--{}", a.replace('.', "-"))).collect()
}
