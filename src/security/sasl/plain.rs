//! PLAIN (RFC 4616; Kafka's PlainSaslServer): one message `authzid NUL authcid NUL passwd`,
//! checked against the JAAS users (PlainServerCallbackHandler).

use super::{constant_time_eq, SaslError, SaslServer, Step};
use std::collections::HashMap;
use std::sync::Arc;

/// A PLAIN exchange against the JAAS users.
pub struct PlainServer {
    users: Arc<HashMap<String, String>>,
}

impl PlainServer {
    /// An exchange checking against `users` (name -> password).
    pub fn new(users: Arc<HashMap<String, String>>) -> PlainServer {
        PlainServer { users }
    }
}

impl SaslServer for PlainServer {
    fn mechanism(&self) -> &'static str {
        "PLAIN"
    }

    fn evaluate(&mut self, token: &[u8]) -> Result<Step, SaslError> {
        let fail = |m: &str| Err(SaslError::AuthenticationFailed(m.to_string()));
        let Ok(text) = std::str::from_utf8(token) else {
            return fail("Invalid SASL/PLAIN response: not UTF-8");
        };
        let parts: Vec<&str> = text.split('\0').collect();
        let [authzid, user, password] = parts.as_slice() else {
            return fail(&format!("Invalid SASL/PLAIN response: expected 3 tokens, got {}", parts.len()));
        };
        if user.is_empty() {
            return fail("Authentication failed: username not specified");
        }
        if password.is_empty() {
            return fail("Authentication failed: password not specified");
        }
        if !authzid.is_empty() && authzid != user {
            return fail("Authentication failed: Client requested an authorization id that is different from username");
        }
        match self.users.get(*user) {
            Some(expected) if constant_time_eq(expected.as_bytes(), password.as_bytes()) => {
                Ok(Step::Done { response: Vec::new(), authorization_id: user.to_string(), expires_at_ms: None })
            }
            _ => fail("Authentication failed: Invalid username or password"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> PlainServer {
        PlainServer::new(Arc::new(HashMap::from([("alice".to_string(), "secret".to_string())])))
    }

    #[test]
    fn plain_checks_the_jaas_users() {
        let done = server().evaluate(b"\0alice\0secret").unwrap();
        assert_eq!(done, Step::Done { response: vec![], authorization_id: "alice".into(), expires_at_ms: None });
        assert!(server().evaluate(b"alice\0alice\0secret").is_ok());
        for bad in [&b"\0alice\0wrong"[..], b"\0bob\0secret", b"bob\0alice\0secret", b"\0alice", b"\0\0secret", b"\0alice\0", b"\0alice\0secret\0", b"\xff\0alice\0secret", b""] {
            assert!(server().evaluate(bad).is_err(), "{bad:?}");
        }
    }
}
