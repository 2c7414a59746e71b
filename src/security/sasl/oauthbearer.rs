//! OAUTHBEARER (RFC 7628, KIP-255) with Kafka's unsecured (unsigned JWS) validator, for
//! development: Kafka's OAuthBearerSaslServer and OAuthBearerUnsecuredValidatorCallbackHandler.

use super::{SaslError, SaslServer, Step};

/// The unsecured validator's JAAS options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorOptions {
    /// `unsecuredValidatorPrincipalClaimName` (default `sub`).
    pub principal_claim: String,
    /// `unsecuredValidatorScopeClaimName` (default `scope`).
    pub scope_claim: String,
    /// `unsecuredValidatorRequiredScope`: scopes the token must carry.
    pub required_scope: Vec<String>,
    /// `unsecuredValidatorAllowableClockSkewMs` (default 0).
    pub allowable_clock_skew_ms: i64,
}

impl Default for ValidatorOptions {
    fn default() -> ValidatorOptions {
        ValidatorOptions { principal_claim: "sub".to_string(), scope_claim: "scope".to_string(), required_scope: Vec::new(), allowable_clock_skew_ms: 0 }
    }
}

/// One OAUTHBEARER exchange.
pub struct OAuthBearerServer {
    options: ValidatorOptions,
}

impl OAuthBearerServer {
    /// An exchange validating tokens with `options`.
    pub fn new(options: ValidatorOptions) -> OAuthBearerServer {
        OAuthBearerServer { options }
    }
}

impl SaslServer for OAuthBearerServer {
    fn mechanism(&self) -> &'static str {
        "OAUTHBEARER"
    }
    fn evaluate(&mut self, _token: &[u8]) -> Result<Step, SaslError> {
        let _ = &self.options;
        Err(SaslError::AuthenticationFailed("OAUTHBEARER is not implemented yet".to_string()))
    }
}
