//! Cluster metadata that must survive restarts: the cluster id (`meta.properties`, as Kafka
//! keeps it) and the topic table (`topics.json`).
//!
//! Both are small files replaced atomically: write a temp file, fsync, rename, fsync the dir.

pub mod internal_topic;
pub mod producer_ids;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;

/// One topic as persisted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TopicMeta {
    pub name: String,
    pub id: uuid::Uuid,
    pub partitions: i32,
    /// Per-topic config overrides, Kafka topic-level names.
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
}

const TOPICS_FILE: &str = "topics.json";
const META_FILE: &str = "meta.properties";

/// Writes `bytes` to `dir/name` atomically and durably.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

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
        crate::log::manager::validate_topic_name(&t.name).map_err(|why| format!("topic {:?}: {why}", t.name))?;
        if t.partitions < 1 {
            return Err(format!("topic {:?}: {} partitions", t.name, t.partitions));
        }
    }
    Ok(topics)
}

pub fn save_topics(dir: &Path, topics: &[TopicMeta]) -> io::Result<()> {
    let json = serde_json::to_vec_pretty(topics).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    write_atomic(dir, TOPICS_FILE, &json)
}

/// Reads the cluster id from `meta.properties`, creating it (Kafka's 22-char base64 UUID) on first
/// start. A file that is there but unreadable or without a cluster id is an error naming it, as
/// Kafka refuses to start on one: replacing it would silently change the cluster's identity.
pub fn load_or_create_cluster_id(dir: &Path, node_id: i32) -> io::Result<String> {
    let path = dir.join(META_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {why}", path.display()));
            let text = String::from_utf8(bytes).map_err(|_| bad("not text"))?;
            let id = crate::config::parse_properties(&text).into_iter().find(|(k, _)| k == "cluster.id").map(|(_, id)| id);
            return match id {
                Some(id) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => Ok(id),
                _ => Err(bad("no valid cluster.id")),
            };
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let id = base64_url(uuid::Uuid::new_v4().as_bytes());
    let text = format!("#Written by Odradek\nversion=1\nnode.id={node_id}\ncluster.id={id}\n");
    write_atomic(dir, META_FILE, text.as_bytes())?;
    Ok(id)
}

/// Unpadded URL-safe base64, as Kafka's `Uuid.toString()` prints ids.
pub fn base64_url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (*b as u32) << (16 - 8 * i));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_kafka_shape() {
        assert_eq!(base64_url(&[0u8; 16]), "AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(base64_url(b"foob"), "Zm9vYg");
    }

    #[test]
    fn topics_and_cluster_id_persist() {
        let d = tempfile::tempdir().unwrap();
        let t = TopicMeta { name: "a".into(), id: uuid::Uuid::new_v4(), partitions: 3, configs: BTreeMap::new() };
        save_topics(d.path(), &[t.clone()]).unwrap();
        assert_eq!(load_topics(d.path()).unwrap(), vec![t]);
        let id = load_or_create_cluster_id(d.path(), 0).unwrap();
        assert_eq!(id.len(), 22);
        assert_eq!(load_or_create_cluster_id(d.path(), 0).unwrap(), id);
    }
}
