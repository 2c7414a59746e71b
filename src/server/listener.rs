//! The listeners (Kafka's SocketServer acceptors): one accept loop per named listener, each with
//! its security (Kafka's ChannelBuilders: TLS, the principal mapper, SASL), all within Kafka's
//! connection limits (`ConnectionQuotas`: `max.connections`, `max.connections.per.ip`).

use super::authenticator::SaslListener;
use super::{connection, transport, StartError};
use crate::broker::Broker;
use crate::config::listeners::{ListenerConfig, SecurityProtocol};
use crate::config::Config;
use crate::request::Client;
use crate::security::sasl::{self, jaas, Credentials};
use crate::security::tls::PrincipalMapper;
use crate::security::KafkaPrincipal;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

/// A listener's security, built once at start.
pub(super) struct Security {
    /// The listener's name.
    name: Arc<str>,
    protocol: SecurityProtocol,
    tls: Option<(TlsAcceptor, PrincipalMapper)>,
    sasl: Option<Arc<SaslListener>>,
}

impl Security {
    /// Builds a listener's TLS and SASL from the settings; a listener that cannot be served as
    /// configured stops the start (it is never served as plaintext instead).
    pub(super) fn build(config: &Config, l: &ListenerConfig, scram: Option<Arc<dyn sasl::scram::ScramCredentialLookup>>) -> Result<Security, StartError> {
        let fail = |reason: String| StartError::Listener { listener: l.name.clone(), reason };
        let tls = match l.protocol.tls() {
            false => None,
            true => {
                let get = |key: &str| config.listener_setting(&l.name, key).map(str::to_string);
                let server = crate::security::tls::server_config(&get).map_err(|e| fail(e.to_string()))?;
                let rules = config.listener_setting(&l.name, "ssl.principal.mapping.rules").unwrap_or("DEFAULT");
                let mapper = PrincipalMapper::parse(rules).map_err(|e| fail(e.to_string()))?;
                Some((TlsAcceptor::from(server), mapper))
            }
        };
        let sasl = match l.protocol.sasl() {
            false => None,
            true => Some(Arc::new(sasl_listener(config, &l.name, scram).map_err(fail)?)),
        };
        Ok(Security { name: Arc::from(l.name.as_str()), protocol: l.protocol, tls, sasl })
    }
}

/// A SASL listener's mechanisms and credentials: `sasl.enabled.mechanisms` and the JAAS entries
/// of each mechanism, found as Kafka's JaasContext finds them
/// (`listener.name.<l>.<mechanism>.sasl.jaas.config`, then the JAAS file's `<l>.KafkaServer`,
/// then its `KafkaServer`).
fn sasl_listener(config: &Config, listener: &str, scram: Option<Arc<dyn sasl::scram::ScramCredentialLookup>>) -> Result<SaslListener, String> {
    let mechanisms: Vec<String> = config
        .listener_setting(listener, "sasl.enabled.mechanisms")
        .unwrap_or("GSSAPI")
        .split(',')
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
        .collect();
    if mechanisms.is_empty() {
        return Err("sasl.enabled.mechanisms is empty".into());
    }
    if let Some(m) = mechanisms.iter().find(|m| !sasl::MECHANISMS.contains(&m.as_str())) {
        return Err(format!("SASL mechanism {m} is not supported (sasl.enabled.mechanisms may list {})", sasl::MECHANISMS.join(", ")));
    }
    let file = match config.listener_setting(listener, "java.security.auth.login.config") {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read the JAAS file {path}: {e}"))?;
            Some(jaas::parse_file(&text).map_err(|e| format!("{path}: {e}"))?)
        }
    };
    let from_file = |section: &str| file.as_ref().and_then(|f| f.get(section)).cloned();
    let mut credentials = Credentials { scram, ..Credentials::default() };
    let mut reauth_ms = HashMap::new();
    for m in &mechanisms {
        let entries = match config.listener_mechanism_setting(listener, m, "sasl.jaas.config") {
            Some(text) => jaas::parse_entries(text).map_err(|e| format!("sasl.jaas.config of {m}: {e}"))?,
            None => from_file(&format!("{}.KafkaServer", listener.to_ascii_lowercase())).or_else(|| from_file("KafkaServer")).unwrap_or_default(),
        };
        match m.as_str() {
            "PLAIN" => {
                let users = jaas::plain_users(&entries);
                if users.is_empty() {
                    return Err(format!("PLAIN is enabled but no users are configured: set listener.name.{}.plain.sasl.jaas.config with user_<name>=\"<password>\" entries, or a KafkaServer section in the JAAS file", listener.to_ascii_lowercase()));
                }
                credentials.plain_users = Arc::new(users);
            }
            "OAUTHBEARER" => credentials.oauthbearer = jaas::validator_options(&entries),
            _ => {}
        }
        let ms = config.listener_mechanism_setting(listener, m, "connections.max.reauth.ms").unwrap_or("0");
        let ms: i64 = ms.trim().parse().map_err(|_| format!("connections.max.reauth.ms of {m}: {ms:?} is not a number"))?;
        reauth_ms.insert(m.clone(), ms);
    }
    Ok(SaslListener { mechanisms, credentials, reauth_ms })
}

/// Binds a listener's address.
pub(super) async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    match TcpListener::bind(addr).await {
        // No IPv6 on this host (some containers): every IPv4 interface instead.
        Err(_) if addr.ip() == std::net::Ipv6Addr::UNSPECIFIED => {
            let v4 = SocketAddr::from(([0, 0, 0, 0], addr.port()));
            TcpListener::bind(v4).await.map_err(|source| StartError::Bind { addr: v4, source })
        }
        r => r.map_err(|source| StartError::Bind { addr, source }),
    }
}

/// Accepts connections on one listener until shutdown.
pub(super) async fn run(listener: TcpListener, security: Arc<Security>, quotas: Arc<ConnectionQuotas>, broker: Arc<Broker>) {
    let mut shutdown = broker.shutdown.clone();
    loop {
        // As Kafka's acceptor, at max.connections the broker stops accepting until one closes.
        let permit = tokio::select! {
            p = quotas.total.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = shutdown.changed() => break,
        };
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let Some(slot) = quotas.admit(peer.ip(), permit) else {
                        tracing::info!(%peer, limit = quotas.per_ip, "closing connection: max.connections.per.ip reached");
                        continue;
                    };
                    let _ = socket.set_nodelay(true);
                    let broker = broker.clone();
                    let security = security.clone();
                    tokio::spawn(async move {
                        open(socket, peer, &security, broker).await;
                        drop(slot);
                    });
                }
                Err(e) => {
                    // Usually EMFILE: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => break,
        }
    }
}

/// Runs a connection's TLS handshake (on a TLS listener), then serves it.
async fn open(socket: TcpStream, peer: SocketAddr, security: &Security, broker: Arc<Broker>) {
    let mut principal = KafkaPrincipal::anonymous();
    let (r, w) = match &security.tls {
        None => transport::plain(socket),
        Some((acceptor, mapper)) => {
            // The handshake must finish within connections.max.idle.ms, as any request must.
            let idle = Duration::from_millis(broker.config.connections_max_idle_ms);
            let mut shutdown = broker.shutdown.clone();
            let stream = tokio::select! {
                r = tokio::time::timeout(idle, acceptor.accept(socket)) => match r {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => {
                        tracing::info!(%peer, listener = %security.name, error = %e, "closing connection: TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::info!(%peer, listener = %security.name, "closing connection: no TLS handshake within connections.max.idle.ms");
                        return;
                    }
                },
                _ = shutdown.changed() => return,
            };
            // On SSL the principal is the client certificate's; SASL_SSL takes SASL's.
            if security.protocol == SecurityProtocol::Ssl {
                if let Some(cert) = stream.get_ref().1.peer_certificates().and_then(|c| c.first()) {
                    principal = match mapper.principal(cert.as_ref()) {
                        Ok(p) => p,
                        Err(e) => {
                            tracing::info!(%peer, listener = %security.name, error = %e, "closing connection: no principal for the client certificate");
                            return;
                        }
                    };
                }
            }
            transport::tls(stream)
        }
    };
    let client = Client { peer, listener: security.name.clone(), principal: Arc::new(principal) };
    connection::serve(r, w, client, security.sasl.clone(), broker).await;
}

/// Open connections, in all and per client address.
pub(super) struct ConnectionQuotas {
    total: Arc<Semaphore>,
    per_ip: usize,
    by_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// A connection's place in the quotas, given back when it is dropped.
struct Slot {
    ip: IpAddr,
    by_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
    _total: OwnedSemaphorePermit,
}

impl ConnectionQuotas {
    pub(super) fn new(total: usize, per_ip: usize) -> ConnectionQuotas {
        let total = total.min(Semaphore::MAX_PERMITS);
        ConnectionQuotas { total: Arc::new(Semaphore::new(total)), per_ip, by_ip: Arc::default() }
    }

    /// A slot for a new connection from `ip`, or None when that address is at its limit.
    fn admit(&self, ip: IpAddr, total: OwnedSemaphorePermit) -> Option<Slot> {
        let mut by_ip = self.by_ip.lock().unwrap_or_else(|p| p.into_inner());
        let n = by_ip.entry(ip).or_default();
        if *n >= self.per_ip {
            return None;
        }
        *n += 1;
        Some(Slot { ip, by_ip: self.by_ip.clone(), _total: total })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut by_ip = self.by_ip.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = by_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                by_ip.remove(&self.ip);
            }
        }
    }
}
