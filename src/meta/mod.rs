//! Broker metadata that must survive restarts: the cluster id (`meta.properties`, as Kafka keeps
//! it), the producer id blocks and the SCRAM credentials. All are small files replaced atomically.

pub mod producer_ids;
pub mod scram_credentials;

use crate::util::fs::write_atomic;
use std::io;
use std::path::Path;

const META_FILE: &str = "meta.properties";

/// Reads the cluster id from `meta.properties`, creating it (Kafka's 22-char base64 UUID) on first
/// start. A file that is there but unreadable or without a cluster id is an error naming it, as
/// Kafka refuses to start on one: replacing it would silently change the cluster's identity.
pub fn load_or_create_cluster_id(dir: &Path, node_id: i32) -> io::Result<String> {
    let path = dir.join(META_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {why}", path.display()));
            let text = String::from_utf8(bytes).map_err(|_| bad("not text"))?;
            let id = crate::config_def::parse_properties(&text).into_iter().find(|(k, _)| k == "cluster.id").map(|(_, id)| id);
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
    fn cluster_id_persists() {
        let d = tempfile::tempdir().unwrap();
        let id = load_or_create_cluster_id(d.path(), 0).unwrap();
        assert_eq!(id.len(), 22);
        assert_eq!(load_or_create_cluster_id(d.path(), 0).unwrap(), id);
    }
}
