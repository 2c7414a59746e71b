//! `--tls`: a throwaway CA and a certificate for localhost/127.0.0.1 (rcgen), so the bench's broker
//! can serve an SSL listener and the rdkafka rows measure produce and consume over TLS.

use anyhow::{Context, Result};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use std::path::{Path, PathBuf};

/// Writes `dir/ca.pem` and `dir/keystore.pem` (the server's key and certificate chain, Kafka's
/// PEM keystore), points the rdkafka clients at the CA, and returns the keystore's path.
pub fn certificates(dir: &Path) -> Result<PathBuf> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).context("CA params")?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "odradek-bench CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().context("CA key")?).context("CA certificate")?;
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).context("server params")?;
    params.distinguished_name.push(DnType::CommonName, "localhost");
    let key = KeyPair::generate().context("server key")?;
    let cert = params.signed_by(&key, &ca).context("server certificate")?;
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca.pem())?;
    let keystore = dir.join("keystore.pem");
    std::fs::write(&keystore, format!("{}{}{}", key.serialize_pem(), cert.pem(), ca.pem()))?;
    let _ = crate::bench::rdk::TLS_CA.set(ca_path);
    Ok(keystore)
}
