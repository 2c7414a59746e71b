//! The topic table, `topics.json` in the data dir: each topic's name, id, partition count and
//! config overrides. Replaced atomically on every change; checked where it is parsed, since a
//! damaged or hostile file must not name directories outside the data dir.

use crate::util::fs::write_atomic;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::Path;

/// One topic as persisted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TopicMeta {
    /// The topic's name, a legal Kafka topic name.
    pub name: String,
    /// The topic id (KIP-516).
    pub id: uuid::Uuid,
    /// Partition count, at least 1.
    pub partitions: i32,
    /// Per-topic config overrides, Kafka topic-level names.
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
}

const TOPICS_FILE: &str = "topics.json";

/// The topic table in `dir`'s `topics.json` (none if there is no file). A file that does not
/// parse, or names an illegal topic or partition count, is an error naming it.
pub fn load_topics(dir: &Path) -> io::Result<Vec<TopicMeta>> {
    let path = dir.join(TOPICS_FILE);
    match std::fs::read(&path) {
        Ok(b) => parse_topics(&b).map_err(|why| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {why}", path.display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Parses and checks `topics.json`: a hostile or damaged table must not name directories outside
/// the data dir, nor partition counts below 1.
pub fn parse_topics(bytes: &[u8]) -> Result<Vec<TopicMeta>, String> {
    let topics: Vec<TopicMeta> = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    for t in &topics {
        super::topic::validate_topic_name(&t.name).map_err(|why| format!("topic {:?}: {why}", t.name))?;
        if t.partitions < 1 {
            return Err(format!("topic {:?}: {} partitions", t.name, t.partitions));
        }
    }
    Ok(topics)
}

/// Replaces the topic table in `dir` with `topics`.
pub fn save_topics(dir: &Path, topics: &[TopicMeta]) -> io::Result<()> {
    let json = serde_json::to_vec_pretty(topics).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    write_atomic(dir, TOPICS_FILE, &json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_persist() {
        let d = tempfile::tempdir().unwrap();
        let t = TopicMeta { name: "a".into(), id: uuid::Uuid::new_v4(), partitions: 3, configs: BTreeMap::new() };
        save_topics(d.path(), std::slice::from_ref(&t)).unwrap();
        assert_eq!(load_topics(d.path()).unwrap(), vec![t]);
    }
}
