//! TLS listeners from Kafka's `ssl.*` keys (SslConfigs, BrokerSecurityConfigs): a rustls
//! `ServerConfig` per listener, and the mTLS principal from a client certificate.

use super::KafkaPrincipal;
use std::sync::Arc;

/// Why a listener's TLS settings cannot be used; the broker does not start.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct TlsError {
    /// The key at fault.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Builds the server config of a listener; `get` gives a key's value for that listener
/// (`listener.name.<l>.<key>` over `<key>`).
pub fn server_config(_get: &dyn Fn(&str) -> Option<String>) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    Err(TlsError { key: "ssl.keystore.location".to_string(), reason: "TLS is not implemented yet".to_string() })
}

/// Kafka's `ssl.principal.mapping.rules` (SslPrincipalMapper), applied to RFC 2253 names.
#[derive(Debug, Clone)]
pub struct PrincipalMapper {
    _rules: Vec<String>,
}

impl PrincipalMapper {
    /// Parses the rules (`DEFAULT`, `RULE:pattern/replacement/[LU]`, comma-separated).
    pub fn parse(rules: &str) -> Result<PrincipalMapper, TlsError> {
        Ok(PrincipalMapper { _rules: vec![rules.to_string()] })
    }

    /// The principal of a connection whose verified client certificate chain starts with
    /// `end_entity` (DER).
    pub fn principal(&self, _end_entity: &[u8]) -> KafkaPrincipal {
        KafkaPrincipal::anonymous()
    }
}
