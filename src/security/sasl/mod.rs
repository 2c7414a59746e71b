//! The server side of Kafka's SASL mechanisms. Each exchange is a `SaslServer`: client tokens in,
//! server tokens out, until it is done with an authorization id or fails. The connection's state
//! machine (handshake, SaslAuthenticate framing, re-authentication) lives in `server`.

pub mod jaas;
pub mod oauthbearer;
pub mod plain;
pub mod scram;

use std::collections::HashMap;
use std::sync::Arc;

/// The mechanisms Odradek serves, under Kafka's names.
pub const MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"];

/// One step of an exchange.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this token and wait for the client's next one.
    Challenge(Vec<u8>),
    /// Authenticated: send `response` (may be empty) as the last server token.
    Done {
        /// The last server token (SCRAM's server-final message; empty for PLAIN).
        response: Vec<u8>,
        /// The authorization id: the principal is `User:<authorization_id>`.
        authorization_id: String,
        /// When the credential stops being valid (OAUTHBEARER's `exp`), epoch ms; None: never.
        expires_at_ms: Option<i64>,
    },
}

/// Why an exchange failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SaslError {
    /// Bad credentials or a malformed token: SASL_AUTHENTICATION_FAILED with this message (which
    /// never says whether the user exists).
    #[error("{0}")]
    AuthenticationFailed(String),
}

/// The server side of one SASL exchange (Kafka's `javax.security.sasl.SaslServer`).
pub trait SaslServer: Send {
    /// The mechanism's name (`PLAIN`, `SCRAM-SHA-256`, ...).
    fn mechanism(&self) -> &'static str;
    /// Takes the client's next token.
    fn evaluate(&mut self, token: &[u8]) -> Result<Step, SaslError>;
}

/// What a listener's mechanisms check credentials against.
#[derive(Clone, Default)]
pub struct Credentials {
    /// PLAIN users and passwords (JAAS `user_<name>="<password>"`).
    pub plain_users: Arc<HashMap<String, String>>,
    /// SCRAM credentials (the durable store).
    pub scram: Option<Arc<dyn scram::ScramCredentialLookup>>,
    /// OAUTHBEARER's unsecured validator options (JAAS `unsecuredValidator*`).
    pub oauthbearer: oauthbearer::ValidatorOptions,
}

/// A new exchange for `mechanism`, or None when Odradek does not serve it.
pub fn server(mechanism: &str, credentials: &Credentials) -> Option<Box<dyn SaslServer>> {
    match mechanism {
        "PLAIN" => Some(Box::new(plain::PlainServer::new(credentials.plain_users.clone()))),
        "SCRAM-SHA-256" | "SCRAM-SHA-512" => {
            let m = scram::ScramMechanism::from_name(mechanism)?;
            Some(Box::new(scram::ScramServer::new(m, credentials.scram.clone())))
        }
        "OAUTHBEARER" => Some(Box::new(oauthbearer::OAuthBearerServer::new(credentials.oauthbearer.clone()))),
        _ => None,
    }
}

/// Compares secrets without leaking where they differ through timing.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
