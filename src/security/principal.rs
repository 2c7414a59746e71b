//! Kafka's `KafkaPrincipal` and `DefaultKafkaPrincipalBuilder`: `User:ANONYMOUS` on plaintext and
//! on TLS without a verified client certificate, `User:<mapped RFC 2253 subject>` with one, and
//! `User:<authorization id>` after SASL.

use std::fmt;

/// Who a connection is: a principal type (always `User` here) and a name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KafkaPrincipal {
    /// The principal type, `User`.
    pub principal_type: String,
    /// The name (`ANONYMOUS` before authentication).
    pub name: String,
}

impl KafkaPrincipal {
    /// `User:<name>`.
    pub fn user(name: impl Into<String>) -> KafkaPrincipal {
        KafkaPrincipal { principal_type: "User".to_string(), name: name.into() }
    }

    /// `User:ANONYMOUS`, the principal of an unauthenticated connection.
    pub fn anonymous() -> KafkaPrincipal {
        KafkaPrincipal::user("ANONYMOUS")
    }
}

impl fmt::Display for KafkaPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.principal_type, self.name)
    }
}
