//! TLS: certificate files, or a self-signed certificate generated on first start, and the server
//! configuration (TLS 1.2 and 1.3 only, ECDHE with AES-GCM or ChaCha20: Mozilla "intermediate").

use crate::config::Tls;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;

/// Loads (or first generates) the certificate and key, and builds the server configuration.
pub fn server_config(tls: &Tls) -> Result<Arc<rustls::ServerConfig>, String> {
    if !tls.cert.exists() && !tls.key.exists() && !tls.self_signed.is_empty() {
        generate_self_signed(tls)?;
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read the certificate '{}': {e}", tls.cert.display()))?;
    if certs.is_empty() {
        return Err(format!("'{}' holds no PEM certificate", tls.cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key)
        .map_err(|e| format!("cannot read the private key '{}': {e}", tls.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS set-up failed: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("the certificate and key do not fit together: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn generate_self_signed(tls: &Tls) -> Result<(), String> {
    let certified = rcgen::generate_simple_self_signed(tls.self_signed.clone())
        .map_err(|e| format!("cannot generate a certificate: {e}"))?;
    for path in [&tls.cert, &tls.key] {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create '{}': {e}", dir.display()))?;
        }
    }
    std::fs::write(&tls.cert, certified.cert.pem())
        .map_err(|e| format!("cannot write '{}': {e}", tls.cert.display()))?;
    write_private(&tls.key, certified.signing_key.serialize_pem().as_bytes())?;
    eprintln!(
        "reverse-proxy: generated a self-signed certificate for {} in {}",
        tls.self_signed.join(", "),
        tls.cert.display()
    );
    Ok(())
}

/// Writes a file only its owner can read.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot write '{}': {e}", path.display()))?;
    file.write_all(bytes).map_err(|e| format!("cannot write '{}': {e}", path.display()))
}
