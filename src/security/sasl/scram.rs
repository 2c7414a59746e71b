//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677; Kafka's ScramSaslServer): client-first,
//! server-first (salt, iterations, nonce), client-final with the proof, server-final with the
//! server's signature. Credentials are stored as Kafka stores them (ScramCredential): salt,
//! StoredKey, ServerKey and iterations, never the password.

use super::{constant_time_eq, SaslError, SaslServer, Step};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::{digest, hmac, pbkdf2, rand::SecureRandom};
use std::num::NonZeroU32;
use std::sync::Arc;

/// The two SCRAM mechanisms, with Kafka's codes in the SCRAM admin APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScramMechanism {
    /// SCRAM-SHA-256 (code 1).
    Sha256,
    /// SCRAM-SHA-512 (code 2).
    Sha512,
}

/// Kafka's bounds on a credential's iterations (ScramMechanism.minIterations, and the
/// AlterUserScramCredentials check against 16384).
pub const MIN_ITERATIONS: i32 = 4096;
/// See `MIN_ITERATIONS`.
pub const MAX_ITERATIONS: i32 = 16384;

impl ScramMechanism {
    /// The mechanism of a SASL name.
    pub fn from_name(name: &str) -> Option<ScramMechanism> {
        match name {
            "SCRAM-SHA-256" => Some(ScramMechanism::Sha256),
            "SCRAM-SHA-512" => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    /// The mechanism of an admin API code (1, 2).
    pub fn from_code(code: i8) -> Option<ScramMechanism> {
        match code {
            1 => Some(ScramMechanism::Sha256),
            2 => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    /// The admin API code.
    pub fn code(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    /// The SASL name.
    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    fn hmac_alg(self) -> hmac::Algorithm {
        match self {
            ScramMechanism::Sha256 => hmac::HMAC_SHA256,
            ScramMechanism::Sha512 => hmac::HMAC_SHA512,
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        hmac::sign(&hmac::Key::new(self.hmac_alg(), key), data).as_ref().to_vec()
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        let alg = match self {
            ScramMechanism::Sha256 => &digest::SHA256,
            ScramMechanism::Sha512 => &digest::SHA512,
        };
        digest::digest(alg, data).as_ref().to_vec()
    }

    /// Hi(password, salt, i): PBKDF2 with the mechanism's HMAC.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: NonZeroU32) -> Vec<u8> {
        let (alg, len) = match self {
            ScramMechanism::Sha256 => (pbkdf2::PBKDF2_HMAC_SHA256, 32),
            ScramMechanism::Sha512 => (pbkdf2::PBKDF2_HMAC_SHA512, 64),
        };
        let mut out = vec![0; len];
        pbkdf2::derive(alg, iterations, salt, password, &mut out);
        out
    }
}

/// A stored SCRAM credential (Kafka's ScramCredential): never the password itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramCredential {
    /// The salt.
    pub salt: Vec<u8>,
    /// H(ClientKey).
    pub stored_key: Vec<u8>,
    /// HMAC(SaltedPassword, "Server Key").
    pub server_key: Vec<u8>,
    /// PBKDF2 iterations.
    pub iterations: i32,
}

impl ScramCredential {
    /// The credential of a salted password (what AlterUserScramCredentials carries).
    pub fn from_salted_password(mechanism: ScramMechanism, salt: Vec<u8>, salted_password: &[u8], iterations: i32) -> ScramCredential {
        let client_key = mechanism.hmac(salted_password, b"Client Key");
        let stored_key = mechanism.hash(&client_key);
        let server_key = mechanism.hmac(salted_password, b"Server Key");
        ScramCredential { salt, stored_key, server_key, iterations }
    }

    /// The credential of a password with a fresh random salt (`add.scram` seeding); None when
    /// the OS has no random generator.
    pub fn from_password(mechanism: ScramMechanism, password: &str, iterations: NonZeroU32) -> Option<ScramCredential> {
        let salt = random_bytes(24)?;
        let salted = mechanism.salted_password(password.as_bytes(), &salt, iterations);
        let iterations = i32::try_from(iterations.get()).unwrap_or(i32::MAX);
        Some(ScramCredential::from_salted_password(mechanism, salt, &salted, iterations))
    }
}

/// The characters of a server nonce: 36 of them, as a base-36 BigInteger prints.
const ALPHANUMERIC: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// `n` bytes from the OS generator; None when there is none (a predictable salt or nonce is
/// never used instead).
fn random_bytes(n: usize) -> Option<Vec<u8>> {
    let mut b = vec![0; n];
    ring::rand::SystemRandom::new().fill(&mut b).ok()?;
    Some(b)
}

/// Where SCRAM exchanges find credentials.
pub trait ScramCredentialLookup: Send + Sync {
    /// The credential of `user` for `mechanism`, if there is one.
    fn credential(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential>;
}

enum Stage {
    ClientFirst,
    ClientFinal { user: String, gs2_header: String, client_first_bare: String, server_first: String, nonce: String, credential: ScramCredential },
    Over,
}

/// One SCRAM exchange.
pub struct ScramServer {
    mechanism: ScramMechanism,
    lookup: Option<Arc<dyn ScramCredentialLookup>>,
    stage: Stage,
}

impl ScramServer {
    /// An exchange for `mechanism` against `lookup` (None: every user is unknown).
    pub fn new(mechanism: ScramMechanism, lookup: Option<Arc<dyn ScramCredentialLookup>>) -> ScramServer {
        ScramServer { mechanism, lookup, stage: Stage::ClientFirst }
    }

    fn client_first(&mut self, msg: &str) -> Result<Step, SaslError> {
        // gs2-header: "n," (no channel binding), an optional "a=authzid", ","; then the bare
        // message "n=user,r=nonce[,extensions]".
        let (gs2_header, bare) = match msg.strip_prefix("n,") {
            Some(rest) => match rest.split_once(',') {
                Some((authz, bare)) if authz.is_empty() || authz.starts_with("a=") => (format!("n,{authz},"), bare),
                _ => return Err(invalid("client first message")),
            },
            None if msg.starts_with("y,") || msg.starts_with("p=") => {
                return Err(fail("Authentication failed: channel binding is not supported"));
            }
            None => return Err(invalid("client first message")),
        };
        let mut fields = bare.split(',');
        let user = fields.next().and_then(|f| f.strip_prefix("n=")).ok_or_else(|| invalid("client first message"))?;
        let client_nonce = fields.next().and_then(|f| f.strip_prefix("r=")).ok_or_else(|| invalid("client first message"))?;
        let user = decode_sasl_name(user).ok_or_else(|| invalid("client first message"))?;
        if user.is_empty() || client_nonce.is_empty() {
            return Err(invalid("client first message"));
        }
        let authzid = &gs2_header[2..gs2_header.len() - 1];
        if let Some(a) = authzid.strip_prefix("a=") {
            if decode_sasl_name(a).as_deref() != Some(user.as_str()) {
                return Err(fail("Authentication failed: Client requested an authorization id that is different from username"));
            }
        }
        let credential = self.lookup.as_ref().and_then(|l| l.credential(&user, self.mechanism)).ok_or_else(|| fail("Authentication failed: Invalid user credentials"))?;
        // Alphanumeric, as Kafka's ScramFormatter.secureRandomString makes it.
        let server_nonce = random_bytes(26).ok_or_else(|| fail("Authentication failed: no random generator for the server nonce"))?;
        let server_nonce: String = server_nonce.iter().map(|b| char::from(ALPHANUMERIC[usize::from(*b) % ALPHANUMERIC.len()])).collect();
        let nonce = format!("{client_nonce}{server_nonce}");
        let server_first = format!("r={nonce},s={},i={}", B64.encode(&credential.salt), credential.iterations);
        let step = Step::Challenge(server_first.clone().into_bytes());
        self.stage = Stage::ClientFinal { user, gs2_header, client_first_bare: bare.to_string(), server_first, nonce, credential };
        Ok(step)
    }
}

fn fail(m: &str) -> SaslError {
    SaslError::AuthenticationFailed(m.to_string())
}

fn invalid(what: &str) -> SaslError {
    fail(&format!("Authentication failed: Invalid {what}"))
}

/// RFC 5802's saslname: `=2C` is `,`, `=3D` is `=`, and no other `=`.
fn decode_sasl_name(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let esc = rest.get(i..i + 3)?;
        out.push(match esc {
            "=2C" => ',',
            "=3D" => '=',
            _ => return None,
        });
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

impl SaslServer for ScramServer {
    fn mechanism(&self) -> &'static str {
        self.mechanism.name()
    }

    fn evaluate(&mut self, token: &[u8]) -> Result<Step, SaslError> {
        let msg = std::str::from_utf8(token).map_err(|_| invalid("SCRAM message (not UTF-8)"))?;
        match std::mem::replace(&mut self.stage, Stage::Over) {
            Stage::ClientFirst => self.client_first(msg),
            Stage::ClientFinal { user, gs2_header, client_first_bare, server_first, nonce, credential } => {
                // "c=<base64 gs2-header>,r=<nonce>[,extensions],p=<proof>"
                let (without_proof, proof) = msg.rsplit_once(",p=").ok_or_else(|| invalid("client final message"))?;
                let mut fields = without_proof.split(',');
                let binding = fields.next().and_then(|f| f.strip_prefix("c=")).ok_or_else(|| invalid("client final message"))?;
                let r = fields.next().and_then(|f| f.strip_prefix("r=")).ok_or_else(|| invalid("client final message"))?;
                // Kafka's ScramSaslServer checks endsWith, not equality: librdkafka 2.0 (Debian's kcat)
                // sends its own nonce again in front of the combined one.
                if !r.ends_with(nonce.as_str()) {
                    return Err(fail("Authentication failed: Invalid client nonce in the final client message."));
                }
                if B64.decode(binding).ok().as_deref() != Some(gs2_header.as_bytes()) {
                    return Err(invalid("channel binding"));
                }
                let proof = B64.decode(proof).map_err(|_| invalid("client final message"))?;
                let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
                let m = self.mechanism;
                let client_signature = m.hmac(&credential.stored_key, auth_message.as_bytes());
                if proof.len() != client_signature.len() {
                    return Err(fail("Authentication failed: Invalid client credentials"));
                }
                let client_key: Vec<u8> = proof.iter().zip(&client_signature).map(|(a, b)| a ^ b).collect();
                if !constant_time_eq(&m.hash(&client_key), &credential.stored_key) {
                    return Err(fail("Authentication failed: Invalid client credentials"));
                }
                let server_signature = m.hmac(&credential.server_key, auth_message.as_bytes());
                let response = format!("v={}", B64.encode(server_signature)).into_bytes();
                Ok(Step::Done { response, authorization_id: user, expires_at_ms: None })
            }
            Stage::Over => Err(fail("Authentication failed: the SCRAM exchange is over")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Users(HashMap<(String, ScramMechanism), ScramCredential>);
    impl ScramCredentialLookup for Users {
        fn credential(&self, user: &str, m: ScramMechanism) -> Option<ScramCredential> {
            self.0.get(&(user.to_string(), m)).cloned()
        }
    }

    /// A client's side of the exchange (RFC 5802 section 3), to drive the server.
    fn login(m: ScramMechanism, users: Arc<Users>, user: &str, password: &str) -> Result<Step, SaslError> {
        login_with(m, users, user, password, "")
    }

    /// `login`, with `nonce_prefix` sent before the combined nonce in client-final.
    fn login_with(m: ScramMechanism, users: Arc<Users>, user: &str, password: &str, nonce_prefix: &str) -> Result<Step, SaslError> {
        let mut s = ScramServer::new(m, Some(users));
        let first_bare = format!("n={user},r=clientnonce");
        let Step::Challenge(server_first) = s.evaluate(format!("n,,{first_bare}").as_bytes())? else { panic!("no challenge") };
        let server_first = String::from_utf8(server_first).unwrap();
        let parts: HashMap<&str, &str> = server_first.split(',').map(|f| f.split_at(2)).collect();
        let (nonce, salt, iters) = (parts["r="], B64.decode(parts["s="]).unwrap(), parts["i="].parse::<u32>().unwrap());
        assert!(nonce.starts_with("clientnonce") && nonce.len() > 20);
        assert!(nonce.bytes().all(|b| b.is_ascii_alphanumeric()), "{nonce}");
        let salted = m.salted_password(password.as_bytes(), &salt, NonZeroU32::new(iters).unwrap());
        let without_proof = format!("c=biws,r={nonce_prefix}{nonce}");
        let auth = format!("{first_bare},{server_first},{without_proof}");
        let client_key = m.hmac(&salted, b"Client Key");
        let sig = m.hmac(&m.hash(&client_key), auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&sig).map(|(a, b)| a ^ b).collect();
        let step = s.evaluate(format!("{without_proof},p={}", B64.encode(proof)).as_bytes())?;
        if let Step::Done { response, .. } = &step {
            let expected = format!("v={}", B64.encode(m.hmac(&m.hmac(&salted, b"Server Key"), auth.as_bytes())));
            assert_eq!(String::from_utf8_lossy(response), expected, "the server proves it knows the credential");
        }
        Ok(step)
    }

    #[test]
    fn scram_logins_check_the_proof() {
        let it = NonZeroU32::new(4096).unwrap();
        let users = Arc::new(Users(HashMap::from([
            (("alice".to_string(), ScramMechanism::Sha256), ScramCredential::from_password(ScramMechanism::Sha256, "pw256", it).unwrap()),
            (("alice".to_string(), ScramMechanism::Sha512), ScramCredential::from_password(ScramMechanism::Sha512, "pw512", it).unwrap()),
        ])));
        for (m, pw) in [(ScramMechanism::Sha256, "pw256"), (ScramMechanism::Sha512, "pw512")] {
            match login(m, users.clone(), "alice", pw).unwrap() {
                Step::Done { authorization_id, .. } => assert_eq!(authorization_id, "alice"),
                s => panic!("{s:?}"),
            }
            assert!(login(m, users.clone(), "alice", "wrong").is_err());
            assert!(login(m, users.clone(), "bob", pw).is_err());
        }
        assert!(login(ScramMechanism::Sha256, users.clone(), "alice", "pw512").is_err());
        // librdkafka 2.0 repeats its nonce before the combined one; Kafka accepts it (endsWith).
        assert!(matches!(login_with(ScramMechanism::Sha512, users.clone(), "alice", "pw512", "clientnonce"), Ok(Step::Done { .. })));
        assert!(login_with(ScramMechanism::Sha512, users, "alice", "pw512", "x").is_ok());
    }

    #[test]
    fn malformed_scram_messages_fail() {
        let users = Arc::new(Users(HashMap::from([(("a,b".to_string(), ScramMechanism::Sha256), ScramCredential::from_password(ScramMechanism::Sha256, "x", NonZeroU32::new(4096).unwrap()).unwrap())])));
        assert!(matches!(login(ScramMechanism::Sha256, users.clone(), "a=2Cb", "x"), Ok(Step::Done { authorization_id, .. }) if authorization_id == "a,b"));
        for first in ["", "n,,", "n,,n=a=2Cb", "n,,r=x,n=a", "y,,n=a=2Cb,r=x", "p=tls,,n=a=2Cb,r=x", "n,a=other,n=a=2Cb,r=x", "n,,n=a=2Xb,r=x", "x,,n=a,r=b", "n,,n=,r=x"] {
            let mut s = ScramServer::new(ScramMechanism::Sha256, Some(users.clone()));
            assert!(s.evaluate(first.as_bytes()).is_err(), "{first:?}");
            assert!(s.evaluate(b"c=biws,r=x,p=AAAA").is_err(), "after a failure, {first:?}");
        }
        let mut s = ScramServer::new(ScramMechanism::Sha256, Some(users));
        assert!(matches!(s.evaluate(b"n,,n=a=2Cb,r=abc").unwrap(), Step::Challenge(_)));
        assert!(s.evaluate(b"c=biws,r=abc,p=AAAA").is_err(), "a nonce without the server's part");
        assert!(s.evaluate(b"n,,n=a=2Cb,r=abc").is_err(), "the exchange is over");
    }
}
