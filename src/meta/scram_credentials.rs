//! The SCRAM credentials (Kafka keeps them as `UserScramCredentialRecord`s in the metadata log):
//! one small JSON file replaced atomically, written before memory changes, so an acknowledged
//! AlterUserScramCredentials survives kill -9.

use crate::security::sasl::scram::{ScramCredential, ScramCredentialLookup, ScramMechanism, MAX_ITERATIONS, MIN_ITERATIONS};
use crate::util::fs::write_atomic;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::RwLock;

const FILE: &str = "scram_credentials.json";
/// A credentials file larger than this is damaged, not read.
const MAX_FILE_BYTES: u64 = 64 << 20;

/// One change of an AlterUserScramCredentials request.
#[derive(Debug, Clone)]
pub enum ScramChange {
    /// Sets the credential of a user and mechanism.
    Upsert(String, ScramMechanism, ScramCredential),
    /// Removes it.
    Delete(String, ScramMechanism),
}

/// Why a change was not applied.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScramChangeError {
    /// Deleting a credential that does not exist.
    #[error("Attempt to delete a user credential that does not exist")]
    NotFound,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    user: String,
    mechanism: String,
    iterations: i32,
    salt: String,
    stored_key: String,
    server_key: String,
}

type Map = BTreeMap<(String, ScramMechanism), ScramCredential>;

/// The broker's SCRAM users.
pub struct ScramCredentialStore {
    dir: PathBuf,
    credentials: RwLock<Map>,
}

impl ScramCredentialStore {
    /// Opens the store in `dir`; a damaged file is an error naming it (the broker does not start
    /// rather than lose users).
    pub fn open(dir: PathBuf) -> io::Result<ScramCredentialStore> {
        let path = dir.join(FILE);
        let bad = |why: String| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {why}", path.display()));
        let mut credentials = Map::new();
        match std::fs::metadata(&path) {
            Ok(m) if m.len() > MAX_FILE_BYTES => return Err(bad(format!("{} bytes is too large", m.len()))),
            Ok(_) => {
                let stored: Vec<Stored> = serde_json::from_slice(&std::fs::read(&path)?).map_err(|e| bad(e.to_string()))?;
                for s in stored {
                    let mechanism = ScramMechanism::from_name(&s.mechanism).ok_or_else(|| bad(format!("unknown mechanism {:?}", s.mechanism)))?;
                    let b64 = |v: &str| B64.decode(v).map_err(|e| bad(format!("{}: {e}", s.user)));
                    let c = ScramCredential { salt: b64(&s.salt)?, stored_key: b64(&s.stored_key)?, server_key: b64(&s.server_key)?, iterations: s.iterations };
                    credentials.insert((s.user, mechanism), c);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(ScramCredentialStore { dir, credentials: RwLock::new(credentials) })
    }

    /// Applies `changes` in order, each as Kafka would alone; the file is written (once) before
    /// memory changes. Gives each change's outcome.
    pub fn alter(&self, changes: Vec<ScramChange>) -> io::Result<Vec<Result<(), ScramChangeError>>> {
        let mut current = self.credentials.write().unwrap_or_else(|p| p.into_inner());
        let mut next = current.clone();
        let outcomes: Vec<_> = changes
            .into_iter()
            .map(|c| match c {
                ScramChange::Upsert(user, m, cred) => {
                    next.insert((user, m), cred);
                    Ok(())
                }
                ScramChange::Delete(user, m) => next.remove(&(user, m)).map(drop).ok_or(ScramChangeError::NotFound),
            })
            .collect();
        if next != *current {
            self.write(&next)?;
            *current = next;
        }
        Ok(outcomes)
    }

    fn write(&self, map: &Map) -> io::Result<()> {
        let stored: Vec<Stored> = map
            .iter()
            .map(|((user, m), c)| Stored {
                user: user.clone(),
                mechanism: m.name().to_string(),
                iterations: c.iterations,
                salt: B64.encode(&c.salt),
                stored_key: B64.encode(&c.stored_key),
                server_key: B64.encode(&c.server_key),
            })
            .collect();
        let bytes = serde_json::to_vec_pretty(&stored).map_err(io::Error::other)?;
        write_atomic(&self.dir, FILE, &bytes)
    }

    /// The mechanisms and iterations of `user`'s credentials.
    pub fn describe(&self, user: &str) -> Vec<(ScramMechanism, i32)> {
        let map = self.credentials.read().unwrap_or_else(|p| p.into_inner());
        map.iter().filter(|((u, _), _)| u == user).map(|((_, m), c)| (*m, c.iterations)).collect()
    }

    /// Every user with a credential, in name order.
    pub fn users(&self) -> Vec<String> {
        let map = self.credentials.read().unwrap_or_else(|p| p.into_inner());
        let mut users: Vec<String> = map.keys().map(|(u, _)| u.clone()).collect();
        users.dedup();
        users
    }

    /// Stores the users of an `add.scram` value (`kafka-storage format --add-scram` syntax:
    /// `SCRAM-SHA-256=[name=alice,password=secret,iterations=8192]`, `;`-separated) for which
    /// there is no credential of that mechanism yet: a password changed since is kept.
    pub fn seed(&self, add_scram: &str) -> Result<(), String> {
        let mut changes = Vec::new();
        for entry in add_scram.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let (mech, rest) = entry.split_once('=').ok_or_else(|| format!("add.scram: {entry:?} is not MECHANISM=[name=...,password=...]"))?;
            let mechanism = ScramMechanism::from_name(mech.trim()).ok_or_else(|| format!("add.scram: unknown SCRAM mechanism {mech:?}"))?;
            let body = rest.trim().strip_prefix('[').and_then(|r| r.strip_suffix(']')).ok_or_else(|| format!("add.scram: {entry:?}: the settings go in [...]"))?;
            let (mut name, mut password, mut iterations) = (None, None, MIN_ITERATIONS);
            for kv in body.split(',') {
                let (k, v) = kv.split_once('=').ok_or_else(|| format!("add.scram: {kv:?} is not key=value"))?;
                let v = v.trim().trim_matches('"');
                match k.trim() {
                    "name" => name = Some(v.to_string()),
                    "password" => password = Some(v.to_string()),
                    "iterations" => iterations = v.parse().map_err(|_| format!("add.scram: iterations {v:?} is not a number"))?,
                    other => return Err(format!("add.scram: unsupported setting {other:?} (name, password, iterations)")),
                }
            }
            let name = name.filter(|n| !n.is_empty()).ok_or_else(|| format!("add.scram: {entry:?} has no name"))?;
            let password = password.ok_or_else(|| format!("add.scram: {entry:?} has no password"))?;
            if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
                return Err(format!("add.scram: iterations must be between {MIN_ITERATIONS} and {MAX_ITERATIONS}"));
            }
            if self.describe(&name).iter().any(|(m, _)| *m == mechanism) {
                continue;
            }
            let n = NonZeroU32::new(iterations as u32).ok_or("add.scram: iterations must be positive")?;
            let cred = ScramCredential::from_password(mechanism, &password, n).ok_or("add.scram: the OS has no random generator for salts")?;
            changes.push(ScramChange::Upsert(name, mechanism, cred));
        }
        self.alter(changes).map(drop).map_err(|e| format!("add.scram: cannot store the credentials: {e}"))
    }
}

impl ScramCredentialLookup for ScramCredentialStore {
    fn credential(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential> {
        let map = self.credentials.read().unwrap_or_else(|p| p.into_inner());
        map.get(&(user.to_string(), mechanism)).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_persist_and_seeding_keeps_changed_passwords() {
        let d = tempfile::tempdir().unwrap();
        let s = ScramCredentialStore::open(d.path().to_path_buf()).unwrap();
        s.seed("SCRAM-SHA-256=[name=alice,password=a];SCRAM-SHA-512=[name=alice,iterations=8192,password=b]").unwrap();
        assert_eq!(s.describe("alice"), vec![(ScramMechanism::Sha256, 4096), (ScramMechanism::Sha512, 8192)]);
        let before = s.credential("alice", ScramMechanism::Sha256).unwrap();
        let s = ScramCredentialStore::open(d.path().to_path_buf()).unwrap();
        assert_eq!(s.credential("alice", ScramMechanism::Sha256), Some(before.clone()));
        s.seed("SCRAM-SHA-256=[name=alice,password=other]").unwrap();
        assert_eq!(s.credential("alice", ScramMechanism::Sha256), Some(before), "an existing credential is kept");
        let r = s.alter(vec![ScramChange::Delete("alice".into(), ScramMechanism::Sha512), ScramChange::Delete("bob".into(), ScramMechanism::Sha512)]).unwrap();
        assert_eq!(r, vec![Ok(()), Err(ScramChangeError::NotFound)]);
        let s = ScramCredentialStore::open(d.path().to_path_buf()).unwrap();
        assert_eq!((s.users(), s.describe("alice").len()), (vec!["alice".to_string()], 1));
        for bad in ["SCRAM-SHA-1=[name=a,password=b]", "SCRAM-SHA-256=name=a", "SCRAM-SHA-256=[password=b]", "SCRAM-SHA-256=[name=a]", "SCRAM-SHA-256=[name=a,password=b,iterations=10]", "SCRAM-SHA-256=[name=a,salt=x,password=b]"] {
            assert!(s.seed(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_damaged_file_is_refused() {
        let d = tempfile::tempdir().unwrap();
        for junk in [&b"{"[..], b"[{\"user\":\"a\"}]", b"[{\"user\":\"a\",\"mechanism\":\"MD5\",\"iterations\":1,\"salt\":\"\",\"stored_key\":\"\",\"server_key\":\"\"}]", b"\xff\xfe"] {
            std::fs::write(d.path().join(FILE), junk).unwrap();
            assert!(ScramCredentialStore::open(d.path().to_path_buf()).is_err());
        }
    }
}
