//! TLS listeners from Kafka's `ssl.*` keys (SslConfigs, BrokerSecurityConfigs): a rustls
//! `ServerConfig` per listener, and the mTLS principal from a client certificate.
//!
//! Keystores and truststores are PEM only (Kafka's `PEM` store type): a file or inline text
//! holding an unencrypted private key (PKCS#8, PKCS#1 or SEC1) and the certificate chain, end
//! entity first. PKCS12 and JKS stores, and encrypted keys, stop the start with an error naming
//! the key.

use super::KafkaPrincipal;
use regex::Regex;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, SupportedProtocolVersion};
use std::sync::Arc;
use x509_parser::asn1_rs::{Any, Class, Tag};
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

/// Why a listener's TLS settings cannot be used; the broker does not start.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct TlsError {
    /// The key at fault.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

fn err(key: &str, reason: impl Into<String>) -> TlsError {
    TlsError { key: key.to_string(), reason: reason.into() }
}

/// Builds the server config of a listener; `get` gives a key's value for that listener
/// (`listener.name.<l>.<key>` over `<key>`).
pub fn server_config(get: &dyn Fn(&str) -> Option<String>) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    // An empty value is an unset one (Kafka's `""` defaults).
    let get = |key: &str| get(key).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let (chain, key) = keystore(&get)?;
    let roots = truststore(&get)?;
    let versions = protocols(get("ssl.enabled.protocols").as_deref().unwrap_or("TLSv1.2,TLSv1.3"))?;
    let provider = Arc::new(provider(get("ssl.cipher.suites").as_deref().unwrap_or(""), &versions)?);

    let auth = get("ssl.client.auth").unwrap_or_else(|| "none".to_string()).to_ascii_lowercase();
    let verifier = match auth.as_str() {
        "none" => None,
        "requested" | "required" => {
            let Some(roots) = roots else {
                return Err(err("ssl.client.auth", format!("{auth} needs a truststore to verify client certificates: set ssl.truststore.location or ssl.truststore.certificates")));
            };
            let b = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let b = if auth == "requested" { b.allow_unauthenticated() } else { b };
            Some(b.build().map_err(|e| err("ssl.truststore.location", format!("cannot verify client certificates with this truststore: {e}")))?)
        }
        other => return Err(err("ssl.client.auth", format!("{other:?} is not one of none, requested, required"))),
    };

    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| err("ssl.enabled.protocols", format!("no usable protocol version with these cipher suites: {e}")))?;
    let builder = match verifier {
        None => builder.with_no_client_auth(),
        Some(v) => builder.with_client_cert_verifier(v),
    };
    let keystore_key = if get("ssl.keystore.location").is_some() { "ssl.keystore.location" } else { "ssl.keystore.key" };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| err(keystore_key, format!("the private key and certificate chain cannot be used: {e}")))?;
    Ok(Arc::new(config))
}

/// The format of a keystore or truststore file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StoreType {
    Pem,
    Pkcs12,
}

/// `ssl.*store.type`; unset, the file tells (PEM text or a PKCS12 archive). JKS is refused.
fn store_type(key: &str, value: Option<String>, file: Option<&[u8]>) -> Result<StoreType, TlsError> {
    match value {
        Some(t) if t.eq_ignore_ascii_case("PEM") => Ok(StoreType::Pem),
        Some(t) if t.eq_ignore_ascii_case("PKCS12") => Ok(StoreType::Pkcs12),
        Some(t) => Err(err(key, format!("{t} stores are not supported (PEM or PKCS12): convert a JKS store with `keytool -importkeystore -deststoretype PKCS12`"))),
        None if file.is_some_and(|b| !contains(b, b"-----BEGIN ")) => Ok(StoreType::Pkcs12),
        None => Ok(StoreType::Pem),
    }
}

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Reads a store file, naming `key` when it cannot be read.
fn read_file(key: &str, path: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| err(key, format!("cannot read {path}: {e}")))
}

/// A PEM store's text, naming `key` when it is not PEM.
fn pem_text(key: &str, path: &str, bytes: Vec<u8>) -> Result<Vec<u8>, TlsError> {
    if !contains(&bytes, b"-----BEGIN ") {
        return Err(err(key, format!("{path} is not a PEM file (for a PKCS12 store set the type to PKCS12; JKS is not supported)")));
    }
    Ok(bytes)
}

/// A PKCS12 archive opened with `password` (Java's default for none is the empty one).
fn pkcs12(key: &str, path: &str, bytes: &[u8], password: Option<String>) -> Result<p12_keystore::Pkcs12Archive, TlsError> {
    p12_keystore::Pkcs12Archive::from_pkcs12(bytes, password.as_deref().unwrap_or(""))
        .map_err(|e| err(key, format!("cannot open the PKCS12 store {path} (wrong password, or not PKCS12): {e}")))
}

/// The listener's certificate chain (end entity first) and private key.
fn keystore(get: &dyn Fn(&str) -> Option<String>) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let file = match get("ssl.keystore.location") {
        Some(path) => Some((read_file("ssl.keystore.location", &path)?, path)),
        None => None,
    };
    let kind = store_type("ssl.keystore.type", get("ssl.keystore.type"), file.as_ref().map(|(b, _)| b.as_slice()))?;
    let (key_text, chain_text, key_key, chain_key) = match (file, get("ssl.keystore.key")) {
        (Some(_), Some(_)) => return Err(err("ssl.keystore.key", "set either ssl.keystore.location or ssl.keystore.key, not both")),
        (Some((bytes, path)), None) if kind == StoreType::Pkcs12 => return pkcs12_keystore(get, &path, &bytes),
        (Some((bytes, path)), None) => {
            if get("ssl.keystore.password").is_some() {
                return Err(err("ssl.keystore.password", "a PEM keystore has no store password (an encrypted key's would be ssl.key.password)"));
            }
            let bytes = pem_text("ssl.keystore.location", &path, bytes)?;
            (bytes.clone(), bytes, "ssl.keystore.location", "ssl.keystore.location")
        }
        (None, Some(_)) if kind == StoreType::Pkcs12 => return Err(err("ssl.keystore.key", "inline keys are PEM: ssl.keystore.type must be PEM")),
        (None, Some(key)) => {
            let chain = get("ssl.keystore.certificate.chain")
                .ok_or_else(|| err("ssl.keystore.certificate.chain", "ssl.keystore.key is set but the certificate chain is not"))?;
            (key.into_bytes(), chain.into_bytes(), "ssl.keystore.key", "ssl.keystore.certificate.chain")
        }
        (None, None) => {
            return Err(err("ssl.keystore.location", "a TLS listener needs a keystore: set ssl.keystore.location (a PEM file with the private key and certificate chain, or a PKCS12 store) or ssl.keystore.key and ssl.keystore.certificate.chain"))
        }
    };
    if contains(&key_text, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        let k = if get("ssl.key.password").is_some() { "ssl.key.password" } else { key_key };
        return Err(err(k, "encrypted PEM private keys are not supported: store the key unencrypted (`openssl pkcs8 -topk8 -nocrypt`) and protect the file, or use a PKCS12 store"));
    }
    let key = match PrivateKeyDer::from_pem_slice(&key_text) {
        Ok(k) => k,
        Err(pem::Error::NoItemsFound) => return Err(err(key_key, "no private key (PKCS#8, PKCS#1 or SEC1 PEM) found")),
        Err(e) => return Err(err(key_key, format!("cannot read the private key: {e}"))),
    };
    let chain = certificates(chain_key, &chain_text)?;
    Ok((chain, key))
}

/// The first private key of a PKCS12 keystore and its certificate chain.
fn pkcs12_keystore(get: &dyn Fn(&str) -> Option<String>, path: &str, bytes: &[u8]) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    const KEY: &str = "ssl.keystore.location";
    let password = get("ssl.keystore.password");
    // One password opens the store and its key here; Java allows a different key password.
    if get("ssl.key.password").is_some_and(|kp| Some(&kp) != password.as_ref()) {
        return Err(err("ssl.key.password", "a PKCS12 key password different from ssl.keystore.password is not supported"));
    }
    let password = password.unwrap_or_default();
    let store = p12_keystore::KeyStore::from_pkcs12(bytes, &password, p12_keystore::Pkcs12ImportPolicy::Strict)
        .map_err(|e| err(KEY, format!("cannot open the PKCS12 store {path} (wrong ssl.keystore.password, or not PKCS12): {e}")))?;
    let (_, chain) = store.private_key_chain().ok_or_else(|| err(KEY, format!("{path} holds no private key with its certificate")))?;
    let key = PrivateKeyDer::Pkcs8(chain.key().as_der().to_vec().into());
    let certs = chain.certs().iter().map(|c| CertificateDer::from(c.as_der().to_vec())).collect();
    Ok((certs, key))
}

/// Every certificate in PEM text; at least one.
fn certificates(key: &str, text: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(key, format!("cannot read the certificates: {e}")))?;
    if certs.is_empty() {
        return Err(err(key, "no certificate (BEGIN CERTIFICATE) found"));
    }
    Ok(certs)
}

/// The CA certificates client certificates are verified against, if configured.
fn truststore(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<RootCertStore>, TlsError> {
    let (key, certs) = match (get("ssl.truststore.location"), get("ssl.truststore.certificates")) {
        (Some(_), Some(_)) => return Err(err("ssl.truststore.certificates", "set either ssl.truststore.location or ssl.truststore.certificates, not both")),
        (Some(path), None) => {
            const KEY: &str = "ssl.truststore.location";
            let bytes = read_file(KEY, &path)?;
            match store_type("ssl.truststore.type", get("ssl.truststore.type"), Some(&bytes))? {
                StoreType::Pkcs12 => {
                    // Every certificate in the store is trusted, as Java's PKCS12 truststores mean.
                    let archive = pkcs12(KEY, &path, &bytes, get("ssl.truststore.password"))?;
                    let certs: Vec<_> = archive.certs.iter().map(|c| CertificateDer::from(c.cert.as_der().to_vec())).collect();
                    if certs.is_empty() {
                        return Err(err(KEY, format!("{path} holds no certificate")));
                    }
                    (KEY, certs)
                }
                StoreType::Pem => {
                    if get("ssl.truststore.password").is_some() {
                        return Err(err("ssl.truststore.password", "a PEM truststore has no password"));
                    }
                    (KEY, certificates(KEY, &pem_text(KEY, &path, bytes)?)?)
                }
            }
        }
        (None, Some(text)) => {
            if store_type("ssl.truststore.type", get("ssl.truststore.type"), None)? != StoreType::Pem {
                return Err(err("ssl.truststore.certificates", "inline certificates are PEM: ssl.truststore.type must be PEM"));
            }
            ("ssl.truststore.certificates", certificates("ssl.truststore.certificates", text.as_bytes())?)
        }
        (None, None) => return Ok(None),
    };
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|e| err(key, format!("not a usable CA certificate: {e}")))?;
    }
    Ok(Some(roots))
}

/// `ssl.enabled.protocols` as rustls versions (TLSv1.2, TLSv1.3; older ones are not offered).
fn protocols(list: &str) -> Result<Vec<&'static SupportedProtocolVersion>, TlsError> {
    const KEY: &str = "ssl.enabled.protocols";
    let mut versions = Vec::new();
    for p in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let v = match p {
            "TLSv1.3" => &rustls::version::TLS13,
            "TLSv1.2" => &rustls::version::TLS12,
            "TLSv1.1" | "TLSv1" | "SSLv3" | "SSLv2Hello" => {
                tracing::warn!(protocol = p, "{KEY}: {p} is not offered (only TLSv1.2 and TLSv1.3 are)");
                continue;
            }
            _ => return Err(err(KEY, format!("unknown protocol {p:?} (TLSv1.2 and TLSv1.3 are supported)"))),
        };
        if !versions.contains(&v) {
            versions.push(v);
        }
    }
    if versions.is_empty() {
        return Err(err(KEY, format!("{list:?} enables no supported protocol (TLSv1.2, TLSv1.3)")));
    }
    Ok(versions)
}

/// The ring provider with the suites `ssl.cipher.suites` names (IANA names; empty: all of them).
fn provider(list: &str, versions: &[&'static SupportedProtocolVersion]) -> Result<CryptoProvider, TlsError> {
    const KEY: &str = "ssl.cipher.suites";
    let mut provider = rustls::crypto::ring::default_provider();
    let names: Vec<&str> = list.split(',').map(str::trim).filter(|n| !n.is_empty()).collect();
    if names.is_empty() {
        return Ok(provider);
    }
    // rustls calls the TLS 1.3 suites TLS13_*; their IANA names are TLS_*.
    let iana = |s: &rustls::SupportedCipherSuite| s.suite().as_str().map(|n| n.replacen("TLS13_", "TLS_", 1));
    let mut chosen = Vec::new();
    for name in &names {
        let found = provider.cipher_suites.iter().find(|s| iana(s).as_deref() == Some(name) || s.suite().as_str() == Some(name));
        match found {
            Some(s) => chosen.push(*s),
            None => {
                let known: Vec<String> = provider.cipher_suites.iter().filter_map(iana).collect();
                return Err(err(KEY, format!("unknown or unsupported cipher suite {name} (supported: {})", known.join(", "))));
            }
        }
    }
    if !chosen.iter().any(|s| versions.contains(&s.version())) {
        return Err(err(KEY, "none of these suites can be used with ssl.enabled.protocols"));
    }
    provider.cipher_suites = chosen;
    Ok(provider)
}

/// One of Kafka's `ssl.principal.mapping.rules`.
#[derive(Debug, Clone)]
enum Rule {
    /// `DEFAULT`: the name is the whole DN.
    Default,
    /// `RULE:pattern/replacement/[LU]`.
    Replace {
        /// The pattern, anchored at both ends (Java's `Matcher.matches`).
        whole: Regex,
        /// The pattern as written (Java's `replaceAll`).
        pattern: Regex,
        /// The replacement in the regex crate's syntax (`${1}`).
        replacement: String,
        /// `L`: lower-case the result; `U`: upper-case it.
        case: Option<char>,
    },
}

/// Why no principal could be made of a client certificate.
#[derive(Debug, thiserror::Error)]
pub enum PrincipalError {
    /// The certificate (or its subject) cannot be parsed.
    #[error("cannot parse the client certificate: {0}")]
    BadCertificate(String),
    /// No rule of `ssl.principal.mapping.rules` matches the subject (Kafka's NoMatchingRule).
    #[error("no rule of ssl.principal.mapping.rules matches {0}")]
    NoMatchingRule(String),
}

/// Kafka's `ssl.principal.mapping.rules` (SslPrincipalMapper), applied to RFC 2253 names.
#[derive(Debug, Clone)]
pub struct PrincipalMapper {
    rules: Vec<Rule>,
}

impl PrincipalMapper {
    /// Parses the rules (`DEFAULT`, `RULE:pattern/replacement/[LU]`, comma-separated).
    pub fn parse(rules: &str) -> Result<PrincipalMapper, TlsError> {
        let bad = |reason: String| err("ssl.principal.mapping.rules", reason);
        let mut out = Vec::new();
        let mut rest = rules.trim_start();
        // As Kafka's RULE_SPLITTER: a rule runs to a `,` or newline outside its pattern and
        // replacement (which may hold commas, and `\/` for a slash).
        while !rest.is_empty() {
            let (rule, after) = if let Some(r) = rest.strip_prefix("RULE:") {
                let (pattern, r) = until_slash(r).ok_or_else(|| bad(format!("rule {rest:?} has no closing / after its pattern")))?;
                let (replacement, r) = until_slash(r).ok_or_else(|| bad(format!("rule {rest:?} has no closing / after its replacement")))?;
                let (case, r) = match r.chars().next() {
                    Some(c @ ('L' | 'U')) => (Some(c), &r[1..]),
                    _ => (None, r),
                };
                let pattern = pattern.replace("\\/", "/");
                let compile = |p: &str| Regex::new(p).map_err(|e| bad(format!("pattern {pattern:?}: {e}")));
                let rule = Rule::Replace { whole: compile(&format!("^(?:{pattern})$"))?, pattern: compile(&pattern)?, replacement: java_replacement(replacement), case };
                (rule, r)
            } else if let Some(r) = rest.strip_prefix("DEFAULT") {
                (Rule::Default, r)
            } else {
                let end = rest.find([',', '\n']).unwrap_or(rest.len());
                return Err(bad(format!("invalid rule {:?} (DEFAULT or RULE:pattern/replacement/[LU])", rest[..end].trim())));
            };
            // Kafka's `.*?` after a rule: anything up to the next separator is ignored.
            let end = after.find([',', '\n']).map_or(after.len(), |i| i + 1);
            out.push(rule);
            rest = after[end..].trim_start();
        }
        if out.is_empty() {
            return Err(bad("no rules (DEFAULT maps a certificate to its full subject)".into()));
        }
        Ok(PrincipalMapper { rules: out })
    }

    /// The name the first matching rule makes of an RFC 2253 DN.
    pub fn map_name(&self, dn: &str) -> Result<String, PrincipalError> {
        for rule in &self.rules {
            match rule {
                Rule::Default => return Ok(dn.to_string()),
                Rule::Replace { whole, pattern, replacement, case } => {
                    if !whole.is_match(dn) {
                        continue;
                    }
                    let name = pattern.replace_all(dn, replacement.as_str()).into_owned();
                    return Ok(match case {
                        Some('L') => name.to_lowercase(),
                        Some('U') => name.to_uppercase(),
                        _ => name,
                    });
                }
            }
        }
        Err(PrincipalError::NoMatchingRule(dn.to_string()))
    }

    /// The principal of a verified client certificate (DER, the end entity), or why there is
    /// none: Kafka then fails the connection.
    pub fn principal(&self, end_entity: &[u8]) -> Result<KafkaPrincipal, PrincipalError> {
        let dn = subject_rfc2253(end_entity)?;
        Ok(KafkaPrincipal::user(self.map_name(&dn)?))
    }
}

/// Splits `s` at its first `/` not escaped by a backslash: (before, after).
fn until_slash(s: &str) -> Option<(&str, &str)> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '/' => return Some((&s[..i], &s[i + 1..])),
            _ => {}
        }
    }
    None
}

/// A Java `Matcher.replaceAll` replacement in the regex crate's syntax: `$1` becomes `${1}`;
/// a backslash is literal (as Kafka's escapeLiteralBackslashes makes it); a lone `$` is literal.
fn java_replacement(r: &str) -> String {
    let mut out = String::new();
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' if chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push_str("${");
                while let Some(d) = chars.next_if(char::is_ascii_digit) {
                    out.push(d);
                }
                out.push('}');
            }
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out
}

/// The subject of a DER certificate as Java's `X500Principal.getName()` (RFC 2253) renders it.
pub fn subject_rfc2253(der: &[u8]) -> Result<String, PrincipalError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| PrincipalError::BadCertificate(e.to_string()))?;
    Ok(name_rfc2253(cert.subject()))
}

/// An X.500 name as RFC 2253: the last RDN first, AVAs of one RDN joined by `+`.
fn name_rfc2253(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter()
        .map(|rdn| rdn.iter().map(|ava| ava_rfc2253(&ava.attr_type().to_id_string(), ava.attr_value())).collect::<Vec<_>>().join("+"))
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

/// RFC 2253's keywords, the ones Java's X500Principal uses in its RFC 2253 form.
const KEYWORDS: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.9", "STREET"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("0.9.2342.19200300.100.1.1", "UID"),
];

/// One `type=value`: a keyword with its string value escaped, else the dotted OID with `#` and
/// the value's DER in hex (as Java for an OID without a keyword, or a value that is no string).
fn ava_rfc2253(oid: &str, value: &Any<'_>) -> String {
    let keyword = KEYWORDS.iter().find(|(o, _)| *o == oid).map(|(_, k)| *k);
    match (keyword, string_value(value)) {
        (Some(k), Some(s)) => format!("{k}={}", escape_rfc2253(&s)),
        (k, _) => {
            let hex: String = der_of(value).iter().map(|b| format!("{b:02x}")).collect();
            format!("{}=#{hex}", k.unwrap_or(oid))
        }
    }
}

/// The text of a directory string value, or None for other types.
fn string_value(v: &Any<'_>) -> Option<String> {
    let data = v.data;
    if v.header.class() != Class::Universal || v.header.is_constructed() {
        return None;
    }
    match v.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::NumericString | Tag::VisibleString => std::str::from_utf8(data).ok().map(str::to_string),
        // Java reads T61String as ISO-8859-1.
        Tag::TeletexString => Some(data.iter().map(|&b| char::from(b)).collect()),
        Tag::BmpString => {
            if !data.len().is_multiple_of(2) {
                return None;
            }
            let units: Vec<u16> = data.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
            String::from_utf16(&units).ok()
        }
        Tag::UniversalString => {
            if !data.len().is_multiple_of(4) {
                return None;
            }
            data.chunks_exact(4).map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))).collect()
        }
        _ => None,
    }
}

/// The DER encoding of a value (its header rebuilt, then its content).
fn der_of(v: &Any<'_>) -> Vec<u8> {
    let class = v.header.class() as u8;
    let first = (class << 6) | if v.header.is_constructed() { 0x20 } else { 0 };
    let mut out = Vec::with_capacity(v.data.len() + 8);
    let tag = v.tag().0;
    if tag < 31 {
        out.push(first | tag as u8);
    } else {
        out.push(first | 0x1f);
        let mut groups = Vec::new();
        let mut t = tag;
        loop {
            groups.push((t & 0x7f) as u8);
            t >>= 7;
            if t == 0 {
                break;
            }
        }
        let last = groups.len() - 1;
        out.extend(groups.iter().rev().enumerate().map(|(i, g)| if i < last { g | 0x80 } else { *g }));
    }
    let len = v.data.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|&b| b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(v.data);
    out
}

/// RFC 2253 escaping as Java's AVA does it: `,+"\<>;` escaped with a backslash, a leading `#`
/// or space and a trailing space too, control characters as `\XX`.
fn escape_rfc2253(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let n = s.chars().count();
    for (i, c) in s.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i + 1 == n => out.push_str("\\ "),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\{b:02X}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, DnValue, IsCa, KeyPair};
    use std::collections::HashMap;

    fn cert_with(dn: DistinguishedName) -> Vec<u8> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = dn;
        params.self_signed(&KeyPair::generate().unwrap()).unwrap().der().to_vec()
    }

    fn dn(parts: &[(DnType, &str)]) -> DistinguishedName {
        let mut dn = DistinguishedName::new();
        for (t, v) in parts {
            dn.push(t.clone(), *v);
        }
        dn
    }

    #[test]
    fn subject_is_rendered_as_java_rfc2253() {
        // rcgen encodes in push order; RFC 2253 lists the last RDN first.
        let der = cert_with(dn(&[(DnType::CountryName, "US"), (DnType::OrganizationName, "Acme"), (DnType::OrganizationalUnitName, "eng"), (DnType::CommonName, "alice")]));
        assert_eq!(subject_rfc2253(&der).unwrap(), "CN=alice,OU=eng,O=Acme,C=US");
        let der = cert_with(dn(&[(DnType::LocalityName, "Zürich"), (DnType::StateOrProvinceName, "ZH"), (DnType::CommonName, "bob")]));
        assert_eq!(subject_rfc2253(&der).unwrap(), "CN=bob,ST=ZH,L=Zürich");
    }

    #[test]
    fn subject_values_are_escaped_and_unknown_oids_are_hex() {
        let der = cert_with(dn(&[(DnType::OrganizationName, "Acme, Inc."), (DnType::CommonName, "#1 a+b <x>;\"q\\ ")]));
        assert_eq!(subject_rfc2253(&der).unwrap(), r#"CN=\#1 a\+b \<x\>\;\"q\\\ ,O=Acme\, Inc."#);
        let der = cert_with(dn(&[(DnType::CommonName, " lead")]));
        assert_eq!(subject_rfc2253(&der).unwrap(), r"CN=\ lead");
        // emailAddress has no RFC 2253 keyword: Java writes the OID and the value's DER.
        let mut d = DistinguishedName::new();
        d.push(DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]), DnValue::Ia5String("a@b".try_into().unwrap()));
        d.push(DnType::CommonName, "carol");
        assert_eq!(subject_rfc2253(&cert_with(d)).unwrap(), "CN=carol,1.2.840.113549.1.9.1=#1603614062");
        // UID and DC have keywords.
        let mut d = DistinguishedName::new();
        d.push(DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 25]), DnValue::Ia5String("example".try_into().unwrap()));
        d.push(DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 1]), DnValue::Utf8String("u1".into()));
        assert_eq!(subject_rfc2253(&cert_with(d)).unwrap(), "UID=u1,DC=example");
    }

    #[test]
    fn garbage_certificates_are_an_error_not_a_panic() {
        let m = PrincipalMapper::parse("DEFAULT").unwrap();
        for bad in [&b""[..], b"\x30", b"\x30\x82\xff\xff", b"not a cert at all"] {
            assert!(matches!(m.principal(bad), Err(PrincipalError::BadCertificate(_))));
        }
    }

    #[test]
    fn mapping_rules_as_kafka() {
        let dn = "CN=Alice,OU=ServiceUsers,O=Acme,C=US";
        let m = |rules: &str| PrincipalMapper::parse(rules).unwrap();
        assert_eq!(m("DEFAULT").map_name(dn).unwrap(), dn);
        // Kafka's documented example; a comma inside the pattern is not a separator.
        let rules = "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,DEFAULT";
        assert_eq!(m(rules).map_name(dn).unwrap(), "Alice");
        assert_eq!(m(rules).map_name("CN=Bob,OU=Eng,O=Acme,L=Here,ST=CA,C=US").unwrap(), "bob@eng");
        assert_eq!(m(rules).map_name("O=x,cn=Carol.X,C=US").unwrap(), "carol.x");
        assert_eq!(m(rules).map_name("O=nobody").unwrap(), "O=nobody");
        assert_eq!(m("RULE:^CN=([^,]*),.*$/$1/U").map_name(dn).unwrap(), "ALICE");
        // Newlines separate too; whitespace around rules is ignored; `$1x` is group 1 then x.
        assert_eq!(m("  RULE:^O=(.*)$/$1x/ \n DEFAULT ").map_name("O=a").unwrap(), "ax");
        assert_eq!(m(" RULE:^O=(.*)$/x$1/,\nDEFAULT").map_name(dn).unwrap(), dn);
        // An escaped slash belongs to the pattern.
        assert_eq!(m(r"RULE:^CN=a\/b$/slash/").map_name("CN=a/b").unwrap(), "slash");
        // No rule matches: an error (Kafka's NoMatchingRule).
        assert!(matches!(m("RULE:^CN=x$/y/").map_name(dn), Err(PrincipalError::NoMatchingRule(_))));
    }

    #[test]
    fn bad_mapping_rules_are_refused() {
        for bad in ["", "RULE:^CN=(.*)$", "RULE:^CN=(.*)$/$1", "RULE:(/x/", "KERBEROS", "DEFAULT,nonsense"] {
            let e = PrincipalMapper::parse(bad).expect_err(bad);
            assert_eq!(e.key, "ssl.principal.mapping.rules", "{bad}: {e}");
        }
    }

    #[test]
    fn principal_maps_the_certificate_subject() {
        let der = cert_with(dn(&[(DnType::OrganizationName, "Acme"), (DnType::CommonName, "alice")]));
        assert_eq!(PrincipalMapper::parse("DEFAULT").unwrap().principal(&der).unwrap(), KafkaPrincipal::user("CN=alice,O=Acme"));
        assert_eq!(PrincipalMapper::parse("RULE:^CN=(.*?),.*$/$1/U").unwrap().principal(&der).unwrap(), KafkaPrincipal::user("ALICE"));
        // No match: no principal, the connection fails (Kafka's NoMatchingRule).
        assert!(matches!(PrincipalMapper::parse("RULE:^CN=bob,.*$/bob/").unwrap().principal(&der), Err(PrincipalError::NoMatchingRule(_))));
    }

    /// A CA, and a server key with its chain, as PEM.
    struct Pems {
        ca: String,
        key: String,
        chain: String,
    }

    fn pems() -> Pems {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_string()]).unwrap().signed_by(&key, &ca).unwrap();
        Pems { ca: ca.pem(), key: key.serialize_pem(), chain: format!("{}{}", cert.pem(), ca.pem()) }
    }

    fn build(settings: &[(&str, &str)]) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let map: HashMap<String, String> = settings.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        server_config(&|k: &str| map.get(k).cloned())
    }

    fn fails(settings: &[(&str, &str)], key: &str, says: &str) {
        let e = build(settings).expect_err("must fail");
        assert_eq!(e.key, key, "{e}");
        assert!(e.to_string().contains(says), "{e} should say {says:?}");
    }

    #[test]
    fn server_config_from_inline_pem_and_files() {
        let p = pems();
        let inline = [("ssl.keystore.key", p.key.as_str()), ("ssl.keystore.certificate.chain", p.chain.as_str())];
        build(&inline).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ks = dir.path().join("keystore.pem");
        std::fs::write(&ks, format!("{}{}", p.key, p.chain)).unwrap();
        let ts = dir.path().join("ca.pem");
        std::fs::write(&ts, &p.ca).unwrap();
        let (ks, ts) = (ks.to_str().unwrap(), ts.to_str().unwrap());
        // Whether client certificates are then asked for is tested over the wire (tests/tls.rs).
        build(&[("ssl.keystore.type", "PEM"), ("ssl.keystore.location", ks), ("ssl.truststore.location", ts), ("ssl.client.auth", "required")]).unwrap();
        build(&[("ssl.keystore.location", ks), ("ssl.truststore.certificates", &p.ca), ("ssl.client.auth", "REQUESTED")]).unwrap();
        // Protocols and suites.
        build(&[("ssl.keystore.location", ks), ("ssl.enabled.protocols", "TLSv1.3")]).unwrap();
        build(&[("ssl.keystore.location", ks), ("ssl.enabled.protocols", "TLSv1.1,TLSv1.2")]).unwrap();
        build(&[("ssl.keystore.location", ks), ("ssl.cipher.suites", "TLS_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")]).unwrap();
        // Empty values are unset.
        build(&[("ssl.keystore.location", ks), ("ssl.cipher.suites", ""), ("ssl.truststore.location", "")]).unwrap();
    }

    #[test]
    fn pkcs12_keystores_and_truststores() {
        use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "p12 CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "localhost");
        let cert = params.signed_by(&key, &ca).unwrap();
        let chain = vec![Certificate::from_der(cert.der()).unwrap(), Certificate::from_der(ca.der()).unwrap()];
        let mut ks = KeyStore::new();
        ks.add_entry("broker", KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(b"1".to_vec(), PrivateKey::from_der(&key.serialize_der()).unwrap(), chain)));
        let mut ts = KeyStore::new();
        ts.add_entry("ca", KeyStoreEntry::Certificate(Certificate::from_der(ca.der()).unwrap()));
        let dir = tempfile::tempdir().unwrap();
        let (ksp, tsp) = (dir.path().join("ks.p12"), dir.path().join("ts.p12"));
        std::fs::write(&ksp, ks.writer("store-pw").write().unwrap()).unwrap();
        std::fs::write(&tsp, ts.writer("trust-pw").write().unwrap()).unwrap();
        let (ksp, tsp) = (ksp.to_str().unwrap(), tsp.to_str().unwrap());
        let (chain, _) = keystore(&|k: &str| match k {
            "ssl.keystore.location" => Some(ksp.to_string()),
            "ssl.keystore.password" => Some("store-pw".to_string()),
            _ => None,
        })
        .unwrap();
        assert_eq!(chain.len(), 2, "the end entity and its CA");
        assert_eq!(chain[0].as_ref(), cert.der().as_ref());
        build(&[("ssl.keystore.type", "PKCS12"), ("ssl.keystore.location", ksp), ("ssl.keystore.password", "store-pw"), ("ssl.key.password", "store-pw"), ("ssl.truststore.location", tsp), ("ssl.truststore.password", "trust-pw"), ("ssl.client.auth", "required")]).unwrap();
        fails(&[("ssl.keystore.location", ksp), ("ssl.keystore.password", "wrong")], "ssl.keystore.location", "wrong ssl.keystore.password");
        fails(&[("ssl.keystore.location", ksp), ("ssl.keystore.password", "store-pw"), ("ssl.key.password", "other")], "ssl.key.password", "not supported");
        fails(&[("ssl.keystore.location", tsp), ("ssl.keystore.password", "trust-pw")], "ssl.keystore.location", "no private key");
        fails(&[("ssl.keystore.location", ksp), ("ssl.keystore.password", "store-pw"), ("ssl.truststore.location", tsp), ("ssl.client.auth", "required")], "ssl.truststore.location", "cannot open");
    }

    #[test]
    fn server_config_errors_name_the_key() {
        let p = pems();
        let dir = tempfile::tempdir().unwrap();
        let ks = dir.path().join("keystore.pem");
        std::fs::write(&ks, format!("{}{}", p.key, p.chain)).unwrap();
        let ks = ks.to_str().unwrap();
        let missing = dir.path().join("nope.pem");
        let missing = missing.to_str().unwrap();
        let binary = dir.path().join("store.p12");
        std::fs::write(&binary, [0x30u8, 0x82, 0x01, 0x00, 0x02, 0x01, 0x03]).unwrap();
        let binary = binary.to_str().unwrap();
        let key_only = dir.path().join("key.pem");
        std::fs::write(&key_only, &p.key).unwrap();
        let key_only = key_only.to_str().unwrap();

        fails(&[], "ssl.keystore.location", "needs a keystore");
        fails(&[("ssl.keystore.location", missing)], "ssl.keystore.location", "cannot read");
        fails(&[("ssl.keystore.location", binary)], "ssl.keystore.location", "cannot open the PKCS12 store");
        fails(&[("ssl.keystore.location", binary), ("ssl.keystore.type", "PEM")], "ssl.keystore.location", "not a PEM file");
        fails(&[("ssl.keystore.location", key_only)], "ssl.keystore.location", "no certificate");
        fails(&[("ssl.keystore.location", ks), ("ssl.keystore.type", "PKCS12")], "ssl.keystore.location", "cannot open the PKCS12 store");
        fails(&[("ssl.keystore.location", ks), ("ssl.keystore.type", "JKS")], "ssl.keystore.type", "not supported (PEM or PKCS12)");
        fails(&[("ssl.keystore.location", ks), ("ssl.truststore.location", ks), ("ssl.truststore.type", "PKCS12")], "ssl.truststore.location", "cannot open the PKCS12 store");
        fails(&[("ssl.keystore.location", ks), ("ssl.keystore.password", "x")], "ssl.keystore.password", "no store password");
        fails(&[("ssl.keystore.key", &p.key)], "ssl.keystore.certificate.chain", "chain is not");
        fails(&[("ssl.keystore.key", &p.chain), ("ssl.keystore.certificate.chain", &p.chain)], "ssl.keystore.key", "no private key");
        fails(&[("ssl.keystore.key", &p.key), ("ssl.keystore.certificate.chain", &p.key)], "ssl.keystore.certificate.chain", "no certificate");
        let other_key = KeyPair::generate().unwrap().serialize_pem();
        fails(&[("ssl.keystore.key", &other_key), ("ssl.keystore.certificate.chain", &p.chain)], "ssl.keystore.key", "cannot be used");
        let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n";
        fails(&[("ssl.keystore.key", encrypted), ("ssl.keystore.certificate.chain", &p.chain), ("ssl.key.password", "secret")], "ssl.key.password", "encrypted PEM private keys are not supported");
        fails(&[("ssl.keystore.key", encrypted), ("ssl.keystore.certificate.chain", &p.chain)], "ssl.keystore.key", "encrypted");
        fails(&[("ssl.keystore.location", ks), ("ssl.client.auth", "required")], "ssl.client.auth", "needs a truststore");
        fails(&[("ssl.keystore.location", ks), ("ssl.client.auth", "requested")], "ssl.client.auth", "needs a truststore");
        fails(&[("ssl.keystore.location", ks), ("ssl.client.auth", "sometimes")], "ssl.client.auth", "not one of");
        fails(&[("ssl.keystore.location", ks), ("ssl.truststore.location", missing), ("ssl.client.auth", "required")], "ssl.truststore.location", "cannot read");
        fails(&[("ssl.keystore.location", ks), ("ssl.truststore.certificates", "junk"), ("ssl.client.auth", "required")], "ssl.truststore.certificates", "no certificate");
        fails(&[("ssl.keystore.location", ks), ("ssl.enabled.protocols", "TLSv1.1")], "ssl.enabled.protocols", "no supported protocol");
        fails(&[("ssl.keystore.location", ks), ("ssl.enabled.protocols", "TLSv1.2,TLSv9")], "ssl.enabled.protocols", "unknown protocol");
        fails(&[("ssl.keystore.location", ks), ("ssl.cipher.suites", "TLS_AES_128_GCM_SHA256,TLS_RSA_WITH_RC4_128_MD5")], "ssl.cipher.suites", "TLS_RSA_WITH_RC4_128_MD5");
        fails(&[("ssl.keystore.location", ks), ("ssl.enabled.protocols", "TLSv1.2"), ("ssl.cipher.suites", "TLS_AES_128_GCM_SHA256")], "ssl.cipher.suites", "none of these suites");
    }
}
