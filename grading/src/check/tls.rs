//! `tls`: a TLS handshake with SNI, and what the certificate and the server's versions look like.
//!
//! The grader inspects certificates rather than trusting them (a lab's certificate is usually
//! self-signed), so its client accepts any certificate and this check judges it explicitly: names
//! (subject alternative names, wildcards), validity window, days left, and TLS versions.
//! The client speaks TLS 1.2 and 1.3 only, so "refuses" can be checked for 1.2 (a TLS 1.3-only
//! server), and older versions cannot be offered at all.

use super::{Attempt, Context, Kind, Mismatch, Needs};
use futures_util::future::BoxFuture;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme, SupportedProtocolVersion};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsCheck {
    /// `host:port` to connect to.
    pub address: String,
    /// The name sent as SNI (and, by default, expected on the certificate).
    pub server_name: String,
    #[serde(default)]
    pub expect: TlsExpect,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsExpect {
    /// Names the certificate must cover (default: the server name).
    pub names_include: Option<Vec<String>>,
    /// The certificate is valid now (default true).
    #[serde(default = "yes")]
    pub valid_now: bool,
    /// At least this many days before the certificate expires.
    pub min_days_left: Option<u32>,
    /// Versions a client limited to that one version must be able to use: "1.2", "1.3".
    #[serde(default)]
    pub accepts: Vec<String>,
    /// Versions the server must refuse: "1.2" (i.e. TLS 1.3 only).
    #[serde(default)]
    pub refuses: Vec<String>,
}

impl Default for TlsExpect {
    fn default() -> TlsExpect {
        TlsExpect {
            names_include: None,
            valid_now: true,
            min_days_left: None,
            accepts: Vec::new(),
            refuses: Vec::new(),
        }
    }
}

fn yes() -> bool {
    true
}

fn version(name: &str) -> Option<&'static SupportedProtocolVersion> {
    match name {
        "1.2" => Some(&rustls::version::TLS12),
        "1.3" => Some(&rustls::version::TLS13),
        _ => None,
    }
}

impl TlsCheck {
    pub(crate) async fn attempt_at(&self, ctx: &Context, deadline: Instant) -> Attempt {
        let address = ctx.vars.expand(&self.address);
        let server_name = ctx.vars.expand(&self.server_name);
        let all = [&rustls::version::TLS13, &rustls::version::TLS12];
        let stream = match tokio::time::timeout_at(deadline, connect(&address, &server_name, &all)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(actual)) => {
                return Attempt::Fail(Mismatch::new(
                    format!("a TLS handshake with {address} for {server_name}"),
                    actual,
                ))
            }
            Err(_) => {
                return Attempt::Fail(Mismatch::cut_off(
                    format!("a TLS handshake with {address} for {server_name}"),
                    "the handshake did not finish before the deadline",
                ))
            }
        };
        let (_, connection) = stream.get_ref();
        let Some(leaf) = connection.peer_certificates().and_then(|c| c.first()).cloned() else {
            return Attempt::Fail(Mismatch::new("a certificate", "the server sent none"));
        };
        drop(stream);
        let mut mismatches = match inspect(&leaf, &self.expect, &server_name, ctx) {
            Ok(mismatches) => mismatches,
            Err(actual) => return Attempt::Fail(Mismatch::new("a readable X.509 certificate", actual)),
        };
        for v in &self.expect.accepts {
            let limited = [version(v).expect("validated")];
            if let Err(e) = connect(&address, &server_name, &limited).await {
                mismatches
                    .push(Mismatch::new(format!("TLS {v} accepted"), format!("a TLS {v}-only handshake failed: {e}")));
            }
        }
        for v in &self.expect.refuses {
            let limited = [version(v).expect("validated")];
            if connect(&address, &server_name, &limited).await.is_ok() {
                mismatches.push(Mismatch::new(
                    format!("TLS {v} refused"),
                    format!("the server accepted a TLS {v}-only handshake"),
                ));
            }
        }
        if mismatches.is_empty() {
            Attempt::Pass
        } else {
            Attempt::Fail(Mismatch::join(mismatches))
        }
    }
}

impl Kind for TlsCheck {
    fn name(&self) -> &'static str {
        "tls"
    }

    fn needs(&self) -> Needs {
        Needs::LIVE
    }

    fn strings(&self) -> Vec<&str> {
        let mut all = vec![self.address.as_str(), self.server_name.as_str()];
        if let Some(names) = &self.expect.names_include {
            all.extend(names.iter().map(String::as_str));
        }
        all
    }

    fn validate(&self) -> Result<(), String> {
        for v in self.expect.accepts.iter().chain(&self.expect.refuses) {
            if version(v).is_none() {
                return Err(format!(
                    "TLS version '{v}' cannot be tested (the grader's client speaks \"1.2\" and \"1.3\")"
                ));
            }
        }
        Ok(())
    }

    fn attempt<'a>(&'a self, ctx: &'a Context, deadline: Instant, _interval: Duration) -> BoxFuture<'a, Attempt> {
        Box::pin(self.attempt_at(ctx, deadline))
    }
}

/// Judges the leaf certificate: names, validity window, days left.
fn inspect(
    leaf: &CertificateDer<'_>,
    expect: &TlsExpect,
    server_name: &str,
    ctx: &Context,
) -> Result<Vec<Mismatch>, String> {
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(leaf.as_ref()).map_err(|e| format!("cannot parse it: {e}"))?;
    let mut names: Vec<String> = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => names.push(dns.to_string()),
                GeneralName::IPAddress(bytes) => names.push(ip_text(bytes)),
                _ => {}
            }
        }
    }
    if names.is_empty() {
        // No SAN: clients fall back to the common name.
        names.extend(cert.subject().iter_common_name().filter_map(|cn| cn.as_str().ok()).map(str::to_string));
    }
    let mut mismatches = Vec::new();
    let wanted: Vec<String> = match &expect.names_include {
        Some(list) => list.iter().map(|n| ctx.vars.expand(n)).collect(),
        None => vec![server_name.to_string()],
    };
    for want in wanted {
        if !names.iter().any(|have| name_matches(have, &want)) {
            mismatches.push(Mismatch::new(
                format!("a certificate for {want}"),
                format!("the certificate is for {}", names.join(", ")),
            ));
        }
    }
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let validity = cert.validity();
    if expect.valid_now {
        if now < validity.not_before.timestamp() {
            mismatches.push(Mismatch::new(
                "a certificate valid now",
                format!("it is not valid before {}", validity.not_before),
            ));
        }
        if now > validity.not_after.timestamp() {
            mismatches.push(Mismatch::new("a certificate valid now", format!("it expired on {}", validity.not_after)));
        }
    }
    if let Some(days) = expect.min_days_left {
        let left = (validity.not_after.timestamp() - now) / 86_400;
        if left < i64::from(days) {
            mismatches.push(Mismatch::new(
                format!("at least {days} days before the certificate expires"),
                format!("{left} days left (expires {})", validity.not_after),
            ));
        }
    }
    Ok(mismatches)
}

fn ip_text(bytes: &[u8]) -> String {
    match bytes.len() {
        4 => std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string(),
        16 => std::net::Ipv6Addr::from(<[u8; 16]>::try_from(bytes).expect("16 bytes")).to_string(),
        _ => format!("{bytes:?}"),
    }
}

/// RFC 6125 matching: case-insensitive, a leading `*.` covers exactly one label.
pub(crate) fn name_matches(pattern: &str, name: &str) -> bool {
    let (pattern, name) = (pattern.to_ascii_lowercase(), name.to_ascii_lowercase());
    if let Some(suffix) = pattern.strip_prefix("*.") {
        return name.split_once('.').is_some_and(|(label, rest)| !label.is_empty() && rest == suffix);
    }
    pattern == name
}

/// Connects and completes a handshake offering only `versions`, accepting any certificate.
pub(crate) async fn connect(
    address: &str,
    server_name: &str,
    versions: &[&'static SupportedProtocolVersion],
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| format!("TLS set-up failed: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(InspectOnly(provider)))
        .with_no_client_auth();
    let name = ServerName::try_from(server_name.to_string())
        .map_err(|_| format!("'{server_name}' is not a valid server name"))?;
    let tcp = tokio::net::TcpStream::connect(address).await.map_err(|e| super::tcp::connect_error(address, &e))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("the TLS handshake failed: {e}"))
}

/// Accepts any certificate (the checks judge it), but still verifies handshake signatures.
#[derive(Debug)]
struct InspectOnly(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for InspectOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn wildcard_names() {
        let check = |pattern: &str, name: &str, expected: bool| {
            assert_eq!(super::name_matches(pattern, name), expected, "{pattern} vs {name}")
        };
        check("localhost", "LOCALHOST", true);
        check("*.example.test", "www.example.test", true);
        check("*.example.test", "example.test", false);
        check("*.example.test", "a.b.example.test", false);
        check("www.example.test", "example.test", false);
    }
}
