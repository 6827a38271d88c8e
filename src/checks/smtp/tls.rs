//! TLS for the SMTP check: trust, handshake errors, certificate facts.
//!
//! Certificates are always verified: against the system's roots plus the
//! target's optional `ca_file`. There is deliberately no way to turn
//! verification off; a relay with a private CA is trusted by naming that CA.
//! rustls runs on the aws-lc-rs provider, the same one the AWS SDK uses.

use std::io;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ProtocolVersion, RootCertStore};

use crate::diagnosis::Class;

/// Largest `ca_file` read: a bundle of every public root is ~250 KiB.
const MAX_CA_FILE: u64 = 4 << 20;

/// The system's roots, read once per process: walking and parsing
/// `/etc/ssl/certs` costs more than the whole TLS handshake, and it is
/// blocking file I/O.
fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        // Unreadable entries in the system store are skipped, as every TLS
        // client does; an empty store just makes every handshake fail with
        // an unknown issuer, which the check reports.
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        roots
    })
}

/// The client configuration for one check run: system roots plus
/// `ca_file`. The CA file is read every run (bounded, regular files only),
/// so a changed CA file needs no restart.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = system_roots().clone();
    if let Some(path) = ca_file {
        let pem =
            crate::text::read_small_file(path, MAX_CA_FILE).map_err(|e| format!("ca_file {e}"))?;
        let pem = pem.as_bytes();
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("ca_file {}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
            added += 1;
        }
        if added == 0 {
            return Err(format!(
                "ca_file {}: no PEM certificate in the file",
                path.display()
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The name the certificate is verified against.
pub fn server_name(name: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(name.to_owned())
        .map_err(|_| format!("tls_server_name {name:?} is neither a DNS name nor an IP address"))
}

/// Class of a failed handshake: certificate problems (untrusted issuer,
/// wrong name, expired, revoked...) are `tls_certificate_invalid`, anything
/// else (protocol versions, ciphers, alerts, a peer that hangs up) is
/// `tls_handshake_failed`. Decided from the rustls error type, not text.
pub fn classify_handshake_error(e: &io::Error) -> Class {
    let rustls_error = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match rustls_error {
        Some(rustls::Error::InvalidCertificate(_)) => Class::TlsCertificateInvalid,
        _ => Class::TlsHandshakeFailed,
    }
}

/// The way rustls names a protocol version, as the report shows it.
pub fn version_name(v: ProtocolVersion) -> String {
    match v {
        ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
        ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
        other => format!("{other:?}"),
    }
}

/// `notAfter` of a DER certificate, seconds since the Unix epoch.
pub fn not_after(cert: &CertificateDer<'_>) -> Option<i64> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    Some(parsed.validity().not_after.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_errors_are_told_apart_from_handshake_errors() {
        let cert = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert_eq!(
            classify_handshake_error(&cert),
            Class::TlsCertificateInvalid
        );
        let alert = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure),
        );
        assert_eq!(classify_handshake_error(&alert), Class::TlsHandshakeFailed);
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(classify_handshake_error(&eof), Class::TlsHandshakeFailed);
    }

    #[test]
    fn a_ca_file_without_certificates_is_an_error() {
        let dir = std::env::temp_dir().join(format!("ses-probe-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = client_config(Some(&path)).unwrap_err();
        assert!(err.contains("no PEM certificate"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(client_config(None).is_ok());
    }

    #[test]
    fn names_and_versions() {
        assert!(server_name("email-smtp.eu-west-1.amazonaws.com").is_ok());
        assert!(server_name("127.0.0.1").is_ok());
        assert!(server_name("bad name").is_err());
        assert_eq!(version_name(ProtocolVersion::TLSv1_3), "TLSv1.3");
    }
}
