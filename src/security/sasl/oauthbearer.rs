//! OAUTHBEARER (RFC 7628, KIP-255) with Kafka's unsecured (unsigned JWS) validator, for
//! development: Kafka's OAuthBearerSaslServer and OAuthBearerUnsecuredValidatorCallbackHandler.
//! A token that does not validate is answered, as Kafka does, with an RFC 7628 error challenge
//! (`{"status":"invalid_token"}`); the client acknowledges it with `\x01` and the exchange fails.

use super::{SaslError, SaslServer, Step};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use serde_json::Value;

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
    /// The error challenge sent, once a token failed; the client's `\x01` ends the exchange.
    error: Option<String>,
    over: bool,
}

impl OAuthBearerServer {
    /// An exchange validating tokens with `options`.
    pub fn new(options: ValidatorOptions) -> OAuthBearerServer {
        OAuthBearerServer { options, error: None, over: false }
    }
}

/// A validated token: its principal and when it expires (epoch ms).
#[derive(Debug, PartialEq)]
struct Token {
    principal: String,
    expires_at_ms: i64,
}

/// Why a token was refused, as RFC 7628's error status and a message for the log.
#[derive(Debug, PartialEq)]
struct Invalid {
    status: &'static str,
    scope: Option<String>,
    message: String,
}

fn invalid(message: impl Into<String>) -> Invalid {
    Invalid { status: "invalid_token", scope: None, message: message.into() }
}

impl Invalid {
    fn challenge(&self) -> String {
        let mut j = serde_json::json!({ "status": self.status });
        if let Some(s) = &self.scope {
            j["scope"] = Value::String(s.clone());
        }
        j.to_string()
    }
}

/// A claim holding seconds since the epoch, as milliseconds.
fn seconds_claim(claims: &Value, name: &str) -> Result<Option<i64>, Invalid> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_f64().filter(|s| s.is_finite()).map(|s| Some((s * 1000.0) as i64)).ok_or_else(|| invalid(format!("the {name} claim is not a number"))),
        Some(_) => Err(invalid(format!("the {name} claim is not a number"))),
    }
}

/// The unsecured validator: an unsigned JWS (`alg: none`) whose claims are checked.
fn validate(jws: &str, o: &ValidatorOptions, now_ms: i64) -> Result<Token, Invalid> {
    let parts: Vec<&str> = jws.split('.').collect();
    let [header, payload, signature] = parts.as_slice() else {
        return Err(invalid("an unsecured JWS has three dot-separated parts"));
    };
    if !signature.is_empty() {
        return Err(invalid("a signed JWS cannot be validated by the unsecured validator"));
    }
    let json = |part: &str, what: &str| -> Result<Value, Invalid> {
        let bytes = B64URL.decode(part.trim_end_matches('=')).map_err(|_| invalid(format!("the {what} is not base64url")))?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v @ Value::Object(_)) => Ok(v),
            _ => Err(invalid(format!("the {what} is not a JSON object"))),
        }
    };
    let header = json(header, "JOSE header")?;
    if header.get("alg").and_then(Value::as_str) != Some("none") {
        return Err(invalid("the JOSE header's alg is not \"none\""));
    }
    let claims = json(payload, "claims")?;
    let principal = match claims.get(&o.principal_claim) {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => return Err(invalid(format!("no {} claim with the principal name", o.principal_claim))),
    };
    let exp = seconds_claim(&claims, "exp")?.ok_or_else(|| invalid("no exp claim"))?;
    let skew = o.allowable_clock_skew_ms;
    if now_ms > exp.saturating_add(skew) {
        return Err(invalid("the token has expired"));
    }
    if let Some(iat) = seconds_claim(&claims, "iat")? {
        if iat > now_ms.saturating_add(skew) {
            return Err(invalid("the token was issued in the future"));
        }
    }
    if !o.required_scope.is_empty() {
        let scopes: Vec<&str> = match claims.get(&o.scope_claim) {
            Some(Value::String(s)) => s.split_whitespace().collect(),
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if let Some(missing) = o.required_scope.iter().find(|r| !scopes.contains(&r.as_str())) {
            return Err(Invalid { status: "insufficient_scope", scope: Some(o.required_scope.join(" ")), message: format!("the token lacks the required scope {missing}") });
        }
    }
    Ok(Token { principal, expires_at_ms: exp })
}

/// RFC 7628's client initial response: `gs2-header \x01 auth=Bearer <token> \x01 (key=value \x01)* \x01`.
/// Gives the authorization id (may be empty) and the token.
fn initial_response(msg: &str) -> Option<(&str, &str)> {
    let rest = msg.strip_prefix("n,").or_else(|| msg.strip_prefix("y,"))?;
    let (authz, kvs) = rest.split_once(',')?;
    let authzid = match authz {
        "" => "",
        a => a.strip_prefix("a=")?,
    };
    let kvs = kvs.strip_prefix('\x01')?.strip_suffix("\x01\x01")?;
    let mut auth = None;
    for kv in kvs.split('\x01') {
        let (k, v) = kv.split_once('=')?;
        if k == "auth" {
            auth = Some(v);
        } else if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphabetic()) {
            return None;
        }
    }
    let (scheme, token) = auth?.split_once(' ')?;
    scheme.eq_ignore_ascii_case("Bearer").then_some((authzid, token.trim()))
}

impl SaslServer for OAuthBearerServer {
    fn mechanism(&self) -> &'static str {
        "OAUTHBEARER"
    }

    fn evaluate(&mut self, token: &[u8]) -> Result<Step, SaslError> {
        let fail = |m: String| Err(SaslError::AuthenticationFailed(m));
        if self.over {
            return fail("Authentication failed: the OAUTHBEARER exchange is over".into());
        }
        self.over = true;
        if let Some(error) = self.error.take() {
            // The client's acknowledgement of the error challenge (RFC 7628 3.2.3).
            return fail(format!("Authentication failed: {error}"));
        }
        let Some((authzid, jws)) = std::str::from_utf8(token).ok().and_then(initial_response) else {
            return fail("Authentication failed: Invalid OAUTHBEARER client first message".into());
        };
        match validate(jws, &self.options, crate::util::time::now_ms()) {
            Ok(t) if !authzid.is_empty() && authzid != t.principal => {
                fail(format!("Authentication failed: Client requested an authorization id ({authzid}) that is different from the token's principal name ({})", t.principal))
            }
            Ok(t) => Ok(Step::Done { response: Vec::new(), authorization_id: t.principal, expires_at_ms: Some(t.expires_at_ms) }),
            Err(e) => {
                tracing::debug!(reason = %e.message, "OAUTHBEARER token refused");
                let challenge = e.challenge();
                self.error = Some(format!("{}: {}", e.status, e.message));
                self.over = false;
                Ok(Step::Challenge(challenge.into_bytes()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jws(claims: &str) -> String {
        format!("{}.{}.", B64URL.encode(r#"{"alg":"none"}"#), B64URL.encode(claims))
    }

    fn first(token: &str) -> Vec<u8> {
        format!("n,,\x01auth=Bearer {token}\x01\x01").into_bytes()
    }

    #[test]
    fn unsecured_tokens_validate_as_kafka_checks_them() {
        let now = 1_700_000_000_000;
        let o = ValidatorOptions { required_scope: vec!["read".into()], ..ValidatorOptions::default() };
        let ok = validate(&jws(r#"{"sub":"alice","exp":1700000100,"iat":1699999900,"scope":"read write"}"#), &o, now).unwrap();
        assert_eq!(ok, Token { principal: "alice".into(), expires_at_ms: 1_700_000_100_000 });
        assert!(validate(&jws(r#"{"sub":"alice","exp":1700000100,"scope":["read"]}"#), &o, now).is_ok());
        let scope = validate(&jws(r#"{"sub":"alice","exp":1700000100,"scope":"write"}"#), &o, now).unwrap_err();
        assert_eq!(scope.challenge(), r#"{"scope":"read","status":"insufficient_scope"}"#);
        let o = ValidatorOptions::default();
        for bad in [
            jws(r#"{"sub":"alice","exp":1699999999}"#),
            jws(r#"{"sub":"alice"}"#),
            jws(r#"{"exp":1700000100}"#),
            jws(r#"{"sub":"","exp":1700000100}"#),
            jws(r#"{"sub":"alice","exp":"soon"}"#),
            jws(r#"{"sub":"alice","exp":1700000100,"iat":1700000050}"#),
            jws("[1]"),
            format!("{}.{}.", B64URL.encode(r#"{"alg":"HS256"}"#), B64URL.encode(r#"{"sub":"a","exp":1700000100}"#)),
            format!("{}sig", jws(r#"{"sub":"alice","exp":1700000100}"#)),
            "a.b".into(),
            "!!.??.".into(),
        ] {
            assert_eq!(validate(&bad, &o, now).map_err(|e| e.status), Err("invalid_token"), "{bad}");
        }
    }

    #[test]
    fn the_exchange_sends_an_error_challenge_then_fails() {
        let far = r#"{"sub":"alice","exp":99999999999}"#;
        let mut s = OAuthBearerServer::new(ValidatorOptions::default());
        assert!(matches!(s.evaluate(&first(&jws(far))).unwrap(), Step::Done { authorization_id, expires_at_ms: Some(99_999_999_999_000), .. } if authorization_id == "alice"));
        let mut s = OAuthBearerServer::new(ValidatorOptions::default());
        assert_eq!(s.evaluate(&first(&jws(r#"{"sub":"alice","exp":1}"#))).unwrap(), Step::Challenge(br#"{"status":"invalid_token"}"#.to_vec()));
        assert!(s.evaluate(b"\x01").is_err());
        assert!(s.evaluate(b"\x01").is_err());
        let with_ext = format!("n,a=alice,\x01auth=Bearer {}\x01traceId=abc\x01\x01", jws(far));
        assert!(OAuthBearerServer::new(ValidatorOptions::default()).evaluate(with_ext.as_bytes()).is_ok());
        for bad in [format!("n,a=bob,\x01auth=Bearer {}\x01\x01", jws(far)), format!("n,,\x01auth=Basic {}\x01\x01", jws(far)), format!("n,,\x01auth=Bearer {}\x01", jws(far)), "n,,\x01\x01".into(), String::new()] {
            assert!(OAuthBearerServer::new(ValidatorOptions::default()).evaluate(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }
}
