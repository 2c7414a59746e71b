//! DescribeUserScramCredentials and AlterUserScramCredentials (KIP-554), with Kafka's checks and
//! errors (ScramControlManager, and KafkaApis' describe): one result per user, a user at most once
//! per request, iterations within 4096..=16384, deleting or describing what is not there
//! RESOURCE_NOT_FOUND.

use super::blocking;
use crate::broker::Broker;
use crate::meta::scram_credentials::{ScramChange, ScramChangeError};
use crate::request::RequestContext;
use crate::security::sasl::scram::{ScramCredential, ScramMechanism, MAX_ITERATIONS, MIN_ITERATIONS};
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::describe_user_scram_credentials_response::{CredentialInfo, DescribeUserScramCredentialsResult};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// DescribeUserScramCredentials: the mechanisms and iterations of the users asked for (all users
/// when none are named).
pub async fn describe(broker: &Arc<Broker>, _ctx: &RequestContext, req: DescribeUserScramCredentialsRequest) -> DescribeUserScramCredentialsResponse {
    let store = &broker.scram;
    let names: Vec<String> = match req.users {
        Some(users) if !users.is_empty() => users.into_iter().map(|u| u.name.to_string()).collect(),
        _ => store.users(),
    };
    let mut seen = HashSet::new();
    let duplicates: HashSet<&String> = names.iter().filter(|n| !seen.insert(*n)).collect();
    let mut done = HashSet::new();
    let results = names
        .iter()
        .filter(|n| done.insert(*n))
        .map(|name| {
            let r = DescribeUserScramCredentialsResult::default().with_user(StrBytes::from_string(name.clone()));
            if duplicates.contains(name) {
                return r.with_error_code(ResponseError::DuplicateResource.code()).with_error_message(Some("Cannot describe SCRAM credentials for the same user twice in a single request".into()));
            }
            let infos: Vec<CredentialInfo> = store.describe(name).into_iter().map(|(m, iterations)| CredentialInfo::default().with_mechanism(m.code()).with_iterations(iterations)).collect();
            if infos.is_empty() {
                return r.with_error_code(ResponseError::ResourceNotFound.code()).with_error_message(Some("Attempt to describe a user credential that does not exist".into()));
            }
            r.with_credential_infos(infos)
        })
        .collect();
    DescribeUserScramCredentialsResponse::default().with_results(results)
}

/// A user's outcome: none, or an error code and message.
type Outcome = Option<(ResponseError, &'static str)>;

/// AlterUserScramCredentials: deletions, then upsertions, each user at most once; the valid
/// changes are stored (durably) before the answer.
pub async fn alter(broker: &Arc<Broker>, _ctx: &RequestContext, req: AlterUserScramCredentialsRequest) -> AlterUserScramCredentialsResponse {
    let mut outcomes: BTreeMap<String, Outcome> = BTreeMap::new();
    let mut changes: BTreeMap<String, ScramChange> = BTreeMap::new();
    let twice = Some((ResponseError::DuplicateResource, "A user credential cannot be altered twice in the same request"));
    let validate = |name: &str, mechanism: i8| -> Result<ScramMechanism, Outcome> {
        if name.is_empty() {
            return Err(Some((ResponseError::UnacceptableCredential, "Username must not be empty")));
        }
        ScramMechanism::from_code(mechanism).ok_or(Some((ResponseError::UnsupportedSaslMechanism, "Unknown SCRAM mechanism")))
    };
    for d in req.deletions {
        let name = d.name.to_string();
        if matches!(outcomes.get(&name), Some(Some(_))) {
            continue;
        }
        if changes.remove(&name).is_some() {
            outcomes.insert(name, twice);
            continue;
        }
        match validate(&name, d.mechanism) {
            Ok(m) => {
                changes.insert(name.clone(), ScramChange::Delete(name.clone(), m));
                outcomes.insert(name, None);
            }
            Err(e) => drop(outcomes.insert(name, e)),
        }
    }
    for u in req.upsertions {
        let name = u.name.to_string();
        if matches!(outcomes.get(&name), Some(Some(_))) {
            continue;
        }
        if changes.remove(&name).is_some() {
            outcomes.insert(name, twice);
            continue;
        }
        let checked = validate(&name, u.mechanism).and_then(|m| match u.iterations {
            i if i < MIN_ITERATIONS => Err(Some((ResponseError::UnacceptableCredential, "Too few iterations"))),
            i if i > MAX_ITERATIONS => Err(Some((ResponseError::UnacceptableCredential, "Too many iterations"))),
            _ => Ok(m),
        });
        match checked {
            Ok(m) => {
                let cred = ScramCredential::from_salted_password(m, u.salt.to_vec(), &u.salted_password, u.iterations);
                changes.insert(name.clone(), ScramChange::Upsert(name.clone(), m, cred));
                outcomes.insert(name, None);
            }
            Err(e) => drop(outcomes.insert(name, e)),
        }
    }
    let (names, changes): (Vec<String>, Vec<ScramChange>) = changes.into_iter().unzip();
    let b = broker.clone();
    let applied = blocking(move || b.scram.alter(changes)).await;
    match applied {
        Ok(Ok(results)) => {
            for (name, r) in names.into_iter().zip(results) {
                if let Err(ScramChangeError::NotFound) = r {
                    outcomes.insert(name, Some((ResponseError::ResourceNotFound, "Attempt to delete a user credential that does not exist")));
                }
            }
        }
        failed => {
            if let Ok(Err(e)) = &failed {
                tracing::error!(error = %e, "cannot store SCRAM credentials");
            }
            for name in names {
                outcomes.insert(name, Some((ResponseError::KafkaStorageError, "The credentials could not be stored")));
            }
        }
    }
    let results = outcomes
        .into_iter()
        .map(|(name, o)| {
            let r = AlterUserScramCredentialsResult::default().with_user(StrBytes::from_string(name));
            match o {
                None => r,
                Some((e, m)) => r.with_error_code(e.code()).with_error_message(Some(m.into())),
            }
        })
        .collect();
    AlterUserScramCredentialsResponse::default().with_results(results)
}
