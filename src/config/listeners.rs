//! Kafka's listener settings (`SocketServerConfigs`): `listeners` as `NAME://host:port` entries,
//! each named listener's security protocol from `listener.security.protocol.map`, its advertised
//! endpoint from `advertised.listeners` by name, and the controller listeners, which are accepted
//! and not served (Odradek is its own controller).

use crate::config_def::{invalid, ConfigError};
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// Kafka's `SecurityProtocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    /// No encryption, no authentication.
    Plaintext,
    /// TLS (the principal from a client certificate, if any).
    Ssl,
    /// SASL over plaintext.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// The protocol of a Kafka name (`SASL_SSL`).
    pub fn from_name(name: &str) -> Option<SecurityProtocol> {
        match name.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(SecurityProtocol::Plaintext),
            "SSL" => Some(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Some(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }

    /// Whether connections start with a TLS handshake.
    pub fn tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether connections must authenticate with SASL before any other request.
    pub fn sasl(self) -> bool {
        matches!(self, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl)
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        })
    }
}

/// One listener the broker serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// Its name, upper case as Kafka normalises it (`PLAINTEXT`, `CLIENT`).
    pub name: String,
    /// Its security protocol.
    pub protocol: SecurityProtocol,
    /// The address to bind.
    pub bind: SocketAddr,
    /// The endpoint clients on this listener are given; `None`: the bound address.
    pub advertised: Option<(String, u16)>,
}

/// Resolves the served listeners from the raw keys: every entry of `listeners` except the
/// controller's, in order, with its protocol and advertised endpoint.
pub fn resolve(
    listeners: &str,
    advertised: Option<&str>,
    protocol_map: &str,
    controller_names: Option<&str>,
) -> Result<Vec<ListenerConfig>, ConfigError> {
    let map = parse_protocol_map(protocol_map).map_err(|r| invalid("listener.security.protocol.map", protocol_map, r))?;
    let controllers: Vec<String> = controller_names.unwrap_or("").split(',').map(normalise).filter(|n| !n.is_empty()).collect();
    let entries = parse_entries(listeners).map_err(|r| invalid("listeners", listeners, r))?;
    let mut out: Vec<ListenerConfig> = Vec::new();
    for (name, host, port) in entries {
        if controllers.contains(&name) {
            continue;
        }
        if out.iter().any(|l| l.name == name) {
            return Err(invalid("listeners", listeners, format!("listener name {name} appears more than once")));
        }
        let Some(&protocol) = map.get(&name) else {
            return Err(invalid("listeners", listeners, format!("no security protocol for listener {name} in listener.security.protocol.map")));
        };
        let bind = bind_addr(&host, port).map_err(|r| invalid("listeners", listeners, r))?;
        out.push(ListenerConfig { name, protocol, bind, advertised: None });
    }
    if out.is_empty() {
        return Err(invalid("listeners", listeners, "no listener left to serve clients (all are controller listeners)"));
    }
    if let Some(adv) = advertised.filter(|a| !a.trim().is_empty()) {
        let entries = parse_entries(adv).map_err(|r| invalid("advertised.listeners", adv, r))?;
        for (name, host, port) in entries {
            if controllers.contains(&name) {
                continue;
            }
            let Some(l) = out.iter_mut().find(|l| l.name == name) else {
                return Err(invalid("advertised.listeners", adv, format!("listener {name} is not one of listeners")));
            };
            if host.is_empty() {
                return Err(invalid("advertised.listeners", adv, format!("listener {name} needs a host to advertise")));
            }
            l.advertised = Some((host, port));
        }
    }
    Ok(out)
}

/// Kafka's `ListenerName.normalised`: names compare upper case.
pub fn normalise(name: &str) -> String {
    name.trim().to_ascii_uppercase()
}

fn parse_protocol_map(v: &str) -> Result<BTreeMap<String, SecurityProtocol>, String> {
    let mut map = BTreeMap::new();
    for entry in v.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, proto) = entry.split_once(':').ok_or_else(|| format!("{entry:?} is not NAME:PROTOCOL"))?;
        let proto = SecurityProtocol::from_name(proto).ok_or_else(|| format!("unknown security protocol {proto:?} (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)"))?;
        map.insert(normalise(name), proto);
    }
    Ok(map)
}

/// `NAME://host:port` entries (an entry without `NAME://` is PLAINTEXT, as Odradek's `--listen
/// HOST:PORT` has always taken it).
fn parse_entries(v: &str) -> Result<Vec<(String, String, u16)>, String> {
    let mut out = Vec::new();
    for entry in v.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, hp) = entry.split_once("://").unwrap_or(("PLAINTEXT", entry));
        let name = normalise(name);
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(format!("bad listener name in {entry:?}"));
        }
        let (host, port) = hp.rsplit_once(':').ok_or_else(|| format!("{entry:?}: expected HOST:PORT"))?;
        let port: u16 = port.parse().map_err(|_| format!("{entry:?}: bad port {port:?}"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        out.push((name, host.to_string(), port));
    }
    Ok(out)
}

fn bind_addr(host: &str, port: u16) -> Result<SocketAddr, String> {
    // An empty host means every interface, IPv6 and IPv4 (clients may resolve localhost to ::1).
    let ip = match host {
        "" => "::",
        "localhost" => "127.0.0.1",
        h => h,
    };
    let ip: IpAddr = ip.parse().map_err(|_| format!("listener host {host:?} must be an IP address or localhost"))?;
    Ok(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAP: &str = "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL";

    #[test]
    fn several_named_listeners_with_their_advertised_endpoints() {
        let l = resolve("PLAINTEXT://:9092,SSL://127.0.0.1:9093,SASL_SSL://localhost:9094", Some("SSL://example:1,PLAINTEXT://h:2"), MAP, None).unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!((l[0].name.as_str(), l[0].protocol, l[0].advertised.clone()), ("PLAINTEXT", SecurityProtocol::Plaintext, Some(("h".into(), 2))));
        assert_eq!((l[1].protocol, l[1].bind), (SecurityProtocol::Ssl, "127.0.0.1:9093".parse().unwrap()));
        assert_eq!(l[1].advertised, Some(("example".into(), 1)));
        assert_eq!((l[2].protocol, l[2].advertised.clone()), (SecurityProtocol::SaslSsl, None));
    }

    #[test]
    fn custom_names_map_and_controller_listeners_are_not_served() {
        let l = resolve(
            "client://0.0.0.0:9092,BROKER://127.0.0.1:9093,CONTROLLER://127.0.0.1:9094",
            Some("CLIENT://localhost:32768,BROKER://kafka:9093"),
            "CLIENT:SASL_PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT",
            Some("CONTROLLER"),
        )
        .unwrap();
        assert_eq!(l.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["CLIENT", "BROKER"]);
        assert_eq!(l[0].protocol, SecurityProtocol::SaslPlaintext);
        assert_eq!(l[1].advertised, Some(("kafka".into(), 9093)));
    }

    #[test]
    fn what_cannot_be_served_is_refused() {
        let err = |l: &str, a: Option<&str>, m: &str| resolve(l, a, m, None).unwrap_err().to_string();
        assert!(err("X://:1", None, MAP).contains("no security protocol for listener X"));
        assert!(err("X://:1", None, "X:KERBEROS").contains("unknown security protocol"));
        assert!(err("PLAINTEXT://:1,PLAINTEXT://:2", None, MAP).contains("more than once"));
        assert!(err("PLAINTEXT://:1", Some("SSL://h:1"), MAP).contains("not one of listeners"));
        assert!(err("PLAINTEXT://example.com:1", None, MAP).contains("IP address"));
        assert!(resolve("CONTROLLER://:1", None, MAP, Some("CONTROLLER")).is_err());
    }

    #[test]
    fn a_bare_address_is_plaintext() {
        let l = resolve("127.0.0.1:0", Some("localhost:5"), MAP, None).unwrap();
        assert_eq!((l[0].name.as_str(), l[0].bind.port(), l[0].advertised.clone()), ("PLAINTEXT", 0, Some(("localhost".into(), 5))));
    }
}
