//! The SASL state machine of a connection on a SASL listener (Kafka's SaslServerAuthenticator and
//! KafkaChannel's re-authentication): ApiVersions at most once, then SaslHandshake, then the
//! mechanism's tokens (in SaslAuthenticate requests after handshake v1, raw size-prefixed frames
//! after v0), and only then any other request. Re-authentication (KIP-368) runs the same
//! exchange again on the live connection; a session past its lifetime is closed.

use crate::request::response::{self, Frame};
use crate::request::Chunk;
use crate::security::sasl::{self, Credentials, SaslServer, Step};
use crate::security::KafkaPrincipal;
use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestHeader, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse};
use kafka_protocol::protocol::{Decodable, Encodable, Message, StrBytes};
use kafka_protocol::ResponseError;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A SASL listener's settings.
pub(super) struct SaslListener {
    /// `sasl.enabled.mechanisms` of the listener, as configured.
    pub(super) mechanisms: Vec<String>,
    /// What the mechanisms check against.
    pub(super) credentials: Credentials,
    /// `connections.max.reauth.ms` by mechanism (0: sessions do not expire).
    pub(super) reauth_ms: HashMap<String, i64>,
}

/// What the connection does with a frame.
pub(super) enum Verdict {
    /// Hand it to the API handlers (authenticated, or the one ApiVersions before).
    Dispatch(Bytes),
    /// Send this and read on.
    Respond(Frame),
    /// Authentication failed: send `response` if any (after the failure delay), then close.
    Fail { response: Option<Frame>, reason: String },
}

/// An authenticated session.
struct Session {
    mechanism: String,
    principal: Arc<KafkaPrincipal>,
    /// When the session ends (KIP-368); None: never.
    expires_at: Option<Instant>,
    authenticated_at: Instant,
    /// The client sent SaslAuthenticate v1+, so it knows session lifetimes.
    supports_reauth: bool,
}

enum State {
    /// Nothing yet: ApiVersions or SaslHandshake may come.
    Initial,
    /// After ApiVersions: only SaslHandshake.
    Handshake,
    /// Exchanging tokens; `raw` after SaslHandshake v0. `previous` is set when re-authenticating.
    Authenticate { server: Box<dyn SaslServer>, raw: bool, supports_reauth: bool, previous: Option<Session> },
    /// Authenticated.
    Complete(Session),
    /// A step failed; nothing more is read.
    Failed,
}

/// One connection's SASL state.
pub(super) struct Authenticator {
    listener: Arc<SaslListener>,
    state: State,
}

/// Kafka's MIN_REAUTH_INTERVAL_ONE_SECOND_NANOS: a client may not re-authenticate more often.
const MIN_REAUTH_INTERVAL: Duration = Duration::from_secs(1);

impl Authenticator {
    /// A connection that has not authenticated yet.
    pub(super) fn new(listener: Arc<SaslListener>) -> Authenticator {
        Authenticator { listener, state: State::Initial }
    }

    /// The principal, once authenticated (also while re-authenticating).
    pub(super) fn principal(&self) -> Option<Arc<KafkaPrincipal>> {
        match &self.state {
            State::Complete(s) | State::Authenticate { previous: Some(s), .. } => Some(s.principal.clone()),
            _ => None,
        }
    }

    /// Whether requests other than the SASL ones are served.
    pub(super) fn authenticated(&self) -> bool {
        matches!(self.state, State::Complete(_))
    }

    /// Takes the next frame.
    pub(super) fn on_frame(&mut self, frame: Bytes) -> Verdict {
        let state = std::mem::replace(&mut self.state, State::Failed);
        let (state, verdict) = self.step(state, frame);
        self.state = state;
        verdict
    }

    fn step(&self, state: State, frame: Bytes) -> (State, Verdict) {
        match state {
            State::Complete(session) => self.authenticated_frame(session, frame),
            State::Authenticate { server, raw: true, supports_reauth, previous } => self.raw_token(server, supports_reauth, previous, frame),
            State::Authenticate { server, raw: false, supports_reauth, previous } => self.authenticate_request(server, supports_reauth, previous, frame),
            State::Initial | State::Handshake => {
                let initial = matches!(state, State::Initial);
                match api_key(&frame) {
                    Some((ApiKey::ApiVersions, _)) if initial => (State::Handshake, Verdict::Dispatch(frame)),
                    Some((ApiKey::SaslHandshake, _)) => self.handshake(None, frame),
                    Some((key, _)) => fail(None, format!("unexpected {key:?} request during SASL handshake")),
                    None => fail(None, "invalid request during SASL handshake: wrong security protocol, or not a Kafka client".into()),
                }
            }
            State::Failed => fail(None, "request after a failed SASL authentication".into()),
        }
    }

    /// A frame on an authenticated connection: served, unless the session has expired or this
    /// is the SaslHandshake that begins a re-authentication.
    fn authenticated_frame(&self, session: Session, frame: Bytes) -> (State, Verdict) {
        let key = api_key(&frame).map(|(k, _)| k);
        if key == Some(ApiKey::SaslHandshake) && session.expires_at.is_some() && session.supports_reauth && session.authenticated_at.elapsed() >= MIN_REAUTH_INTERVAL {
            return self.handshake(Some(session), frame);
        }
        if session.expires_at.is_some_and(|at| Instant::now() >= at) {
            return fail(None, format!("SASL session of {} expired without re-authentication", session.principal));
        }
        // A SaslHandshake or SaslAuthenticate here reaches its handler: ILLEGAL_SASL_STATE.
        (State::Complete(session), Verdict::Dispatch(frame))
    }

    fn handshake(&self, previous: Option<Session>, frame: Bytes) -> (State, Verdict) {
        let Some((header, req)) = decode::<SaslHandshakeRequest>(frame, ApiKey::SaslHandshake) else {
            return fail(None, "malformed SaslHandshake request".into());
        };
        let mechanism = req.mechanism.to_string();
        let enabled: Vec<StrBytes> = self.listener.mechanisms.iter().map(|m| StrBytes::from_string(m.clone())).collect();
        let enabled_here = self.listener.mechanisms.contains(&mechanism);
        let server = enabled_here.then(|| sasl::server(&mechanism, &self.listener.credentials)).flatten();
        let Some(server) = server else {
            let resp = SaslHandshakeResponse::default().with_error_code(ResponseError::UnsupportedSaslMechanism.code()).with_mechanisms(enabled);
            return fail(encode(&header, ApiKey::SaslHandshake, &resp), format!("unsupported SASL mechanism {mechanism:?}"));
        };
        let resp = SaslHandshakeResponse::default().with_mechanisms(enabled);
        let Some(frame) = encode(&header, ApiKey::SaslHandshake, &resp) else {
            return fail(None, "cannot encode SaslHandshake response".into());
        };
        if let Some(p) = &previous {
            if p.mechanism != mechanism {
                let reason = format!("SASL mechanism '{mechanism}' requested by client is not supported for re-authentication of mechanism '{}'", p.mechanism);
                // Kafka answers the handshake, then fails the exchange that follows.
                let _ = reason;
                return (State::Failed, Verdict::Respond(frame));
            }
        }
        let raw = header.request_api_version == 0;
        let supports_reauth = previous.as_ref().is_some_and(|p| p.supports_reauth);
        (State::Authenticate { server, raw, supports_reauth, previous }, Verdict::Respond(frame))
    }

    /// A token after SaslHandshake v0: the frame is the token, the answer a raw frame.
    fn raw_token(&self, mut server: Box<dyn SaslServer>, supports_reauth: bool, previous: Option<Session>, frame: Bytes) -> (State, Verdict) {
        match server.evaluate(&frame) {
            Ok(Step::Challenge(token)) => (State::Authenticate { server, raw: true, supports_reauth, previous }, Verdict::Respond(raw_frame(token))),
            Ok(Step::Done { response, authorization_id, expires_at_ms }) => match self.complete(server.mechanism(), authorization_id, expires_at_ms, false, previous) {
                Ok((session, _)) => (State::Complete(session), Verdict::Respond(raw_frame(response))),
                Err(reason) => fail(None, reason),
            },
            // The v0 exchange has no error frame: the broker just closes.
            Err(e) => fail(None, format!("SASL {} authentication failed: {e}", server.mechanism())),
        }
    }

    fn authenticate_request(&self, mut server: Box<dyn SaslServer>, supports_reauth: bool, previous: Option<Session>, frame: Bytes) -> (State, Verdict) {
        match api_key(&frame) {
            Some((ApiKey::SaslAuthenticate, _)) => {}
            Some((ApiKey::SaslHandshake, _)) => {
                let resp = SaslHandshakeResponse::default().with_error_code(ResponseError::IllegalSaslState.code());
                let response = decode::<SaslHandshakeRequest>(frame, ApiKey::SaslHandshake).and_then(|(h, _)| encode(&h, ApiKey::SaslHandshake, &resp));
                return fail(response, "SaslHandshake during SASL authentication".into());
            }
            Some((key, _)) => return fail(None, format!("unexpected {key:?} request during SASL authentication")),
            None => return fail(None, "invalid request during SASL authentication".into()),
        }
        let Some((header, req)) = decode::<SaslAuthenticateRequest>(frame, ApiKey::SaslAuthenticate) else {
            return fail(None, "malformed or unsupported SaslAuthenticate request".into());
        };
        let supports_reauth = supports_reauth || header.request_api_version > 0;
        let answer = |resp: SaslAuthenticateResponse| encode(&header, ApiKey::SaslAuthenticate, &resp);
        let failed = |message: String| SaslAuthenticateResponse::default().with_error_code(ResponseError::SaslAuthenticationFailed.code()).with_error_message(Some(StrBytes::from_string(message)));
        match server.evaluate(&req.auth_bytes) {
            Ok(Step::Challenge(token)) => match answer(SaslAuthenticateResponse::default().with_auth_bytes(token.into())) {
                Some(f) => (State::Authenticate { server, raw: false, supports_reauth, previous }, Verdict::Respond(f)),
                None => fail(None, "cannot encode SaslAuthenticate response".into()),
            },
            Ok(Step::Done { response, authorization_id, expires_at_ms }) => match self.complete(server.mechanism(), authorization_id, expires_at_ms, supports_reauth, previous) {
                Ok((session, lifetime_ms)) => match answer(SaslAuthenticateResponse::default().with_auth_bytes(response.into()).with_session_lifetime_ms(lifetime_ms)) {
                    Some(f) => (State::Complete(session), Verdict::Respond(f)),
                    None => fail(None, "cannot encode SaslAuthenticate response".into()),
                },
                Err(reason) => fail(answer(failed(reason.clone())), reason),
            },
            Err(sasl::SaslError::AuthenticationFailed(message)) => {
                let reason = format!("SASL {} authentication failed: {message}", server.mechanism());
                fail(answer(failed(message)), reason)
            }
        }
    }

    /// The session of a finished exchange, and the lifetime to tell the client (Kafka's
    /// `calcCompletionTimesAndReturnSessionLifetimeMs`: the nearer of the credential's expiry
    /// and `connections.max.reauth.ms`; 0 when neither applies).
    fn complete(&self, mechanism: &str, authorization_id: String, expires_at_ms: Option<i64>, supports_reauth: bool, previous: Option<Session>) -> Result<(Session, i64), String> {
        let principal = KafkaPrincipal::user(authorization_id);
        if let Some(p) = &previous {
            if *p.principal != principal {
                return Err(format!("Cannot change principals during re-authentication from {}: {}", p.principal, principal));
            }
        }
        let max_reauth = self.listener.reauth_ms.get(mechanism).copied().filter(|ms| *ms > 0);
        let now_ms = crate::util::time::now_ms();
        let lifetime_ms = match (expires_at_ms, max_reauth) {
            (None, None) => None,
            (None, Some(m)) => Some(m),
            (Some(exp), None) => Some((exp - now_ms).max(0)),
            (Some(exp), Some(m)) => Some((exp - now_ms).min(m).max(0)),
        };
        let now = Instant::now();
        let expires_at = lifetime_ms.map(|ms| now + Duration::from_millis(ms as u64));
        let session = Session { mechanism: mechanism.to_string(), principal: Arc::new(principal), expires_at, authenticated_at: now, supports_reauth };
        tracing::debug!(principal = %session.principal, mechanism, lifetime_ms, reauth = previous.is_some(), "SASL authentication complete");
        Ok((session, lifetime_ms.unwrap_or(0)))
    }
}

fn fail(response: Option<Frame>, reason: String) -> (State, Verdict) {
    (State::Failed, Verdict::Fail { response, reason })
}

/// The API key and version of a request frame, if it names a known API.
fn api_key(frame: &[u8]) -> Option<(ApiKey, i16)> {
    let (&[k0, k1, v0, v1], _) = frame.split_first_chunk::<4>()?;
    let key = ApiKey::try_from(i16::from_be_bytes([k0, k1])).ok()?;
    Some((key, i16::from_be_bytes([v0, v1])))
}

/// The header and body of a SASL request, if the version is served and the bytes parse.
fn decode<R: Decodable + Message>(mut frame: Bytes, key: ApiKey) -> Option<(RequestHeader, R)> {
    let (_, version) = api_key(&frame)?;
    if version < R::VERSIONS.min || version > R::VERSIONS.max {
        return None;
    }
    let header = RequestHeader::decode(&mut frame, key.request_header_version(version)).ok()?;
    let req = R::decode(&mut frame, version).ok()?;
    Some((header, req))
}

fn encode<R: Encodable>(header: &RequestHeader, key: ApiKey, resp: &R) -> Option<Frame> {
    response::encode(header, key, resp, Vec::new()).ok()
}

/// A raw SASL token as a size-prefixed frame (the v0 exchange).
fn raw_frame(token: Vec<u8>) -> Frame {
    Frame { size: token.len() as i32, chunks: vec![Chunk::Bytes(Bytes::from(token))] }
}
