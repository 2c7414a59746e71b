//! PLAIN (RFC 4616; Kafka's PlainSaslServer): one message `authzid NUL authcid NUL passwd`.

use super::{SaslError, SaslServer, Step};
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
    fn evaluate(&mut self, _token: &[u8]) -> Result<Step, SaslError> {
        let _ = &self.users;
        Err(SaslError::AuthenticationFailed("PLAIN is not implemented yet".to_string()))
    }
}
