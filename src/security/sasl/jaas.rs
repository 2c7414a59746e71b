//! JAAS configuration as Kafka reads it (`sasl.jaas.config` values and the sections of a JAAS
//! file): `LoginModule flag key="value" ...;`.

use std::collections::BTreeMap;

/// One login module entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JaasEntry {
    /// The login module class (`org.apache.kafka.common.security.plain.PlainLoginModule`).
    pub login_module: String,
    /// `required`, `requisite`, `sufficient` or `optional`.
    pub flag: String,
    /// The options, in order of their names.
    pub options: BTreeMap<String, String>,
}

/// Why a JAAS text could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid JAAS configuration: {0}")]
pub struct JaasError(pub String);

/// Parses a `sasl.jaas.config` value: one or more entries, each ending in `;`.
pub fn parse_entries(_text: &str) -> Result<Vec<JaasEntry>, JaasError> {
    Err(JaasError("not implemented yet".to_string()))
}

/// Parses a JAAS file: `Context { entries };` sections, by context name.
pub fn parse_file(_text: &str) -> Result<BTreeMap<String, Vec<JaasEntry>>, JaasError> {
    Err(JaasError("not implemented yet".to_string()))
}

/// The PLAIN users of `entries` (options `user_<name>="<password>"`).
pub fn plain_users(_entries: &[JaasEntry]) -> std::collections::HashMap<String, String> {
    std::collections::HashMap::new()
}

/// OAUTHBEARER's unsecured validator options of `entries`.
pub fn validator_options(_entries: &[JaasEntry]) -> super::oauthbearer::ValidatorOptions {
    super::oauthbearer::ValidatorOptions::default()
}
