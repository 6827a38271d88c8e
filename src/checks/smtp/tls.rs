//! TLS for the SMTP check: trust, handshake errors, certificate facts.
//!
//! Certificates are always verified: against the system's roots plus the
//! target's optional `ca_file`. There is deliberately no way to turn
//! verification off; a relay with a private CA is trusted by naming that CA.
//! rustls runs on the aws-lc-rs provider, the same one the AWS SDK uses.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ProtocolVersion, RootCertStore};

use crate::diagnosis::Class;

/// Largest `ca_file` read: a bundle of every public root is ~250 KiB.
const MAX_CA_FILE: u64 = 4 << 20;

/// The system's roots as a store, built once per process (from
/// [`crate::roots`], which the AWS SDK's client shares).
fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(crate::roots::system().iter().cloned());
        roots
    })
}

/// One trust setting's client configuration, built on first use.
type TrustCell = Arc<tokio::sync::OnceCell<Result<Arc<ClientConfig>, String>>>;

/// The client configurations in use, one per distinct `ca_file` (and one
/// for none), shared by every target that names it: building one clones
/// the whole root store, so per run or per target it would cost more CPU
/// and memory than the probe itself. Emptied by [`forget_trust`] when a
/// configuration is loaded, so a reload re-reads every CA file.
fn trust_cache() -> &'static Mutex<HashMap<Option<PathBuf>, TrustCell>> {
    static CACHE: OnceLock<Mutex<HashMap<Option<PathBuf>, TrustCell>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// Drop the cached trust: the next run of each check reads its `ca_file`
/// again. Called for every configuration (re)load.
pub fn forget_trust() {
    forget_in(trust_cache());
}

fn forget_in(cache: &Mutex<HashMap<Option<PathBuf>, TrustCell>>) {
    cache.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

/// The client configuration for `ca_file` (system roots plus the file),
/// from the cache, or built once off the async workers (reading the system
/// store and the CA file is blocking file I/O). A broken CA file is cached
/// as its error, so every run reports it until a reload.
pub async fn trusted_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    trusted_config_in(trust_cache(), ca_file).await
}

async fn trusted_config_in(
    cache: &Mutex<HashMap<Option<PathBuf>, TrustCell>>,
    ca_file: Option<&Path>,
) -> Result<Arc<ClientConfig>, String> {
    let cell = cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(ca_file.map(Path::to_path_buf))
        .or_default()
        .clone();
    let ca_file = ca_file.map(Path::to_path_buf);
    cell.get_or_init(|| async move {
        tokio::task::spawn_blocking(move || client_config(ca_file.as_deref()))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r)
    })
    .await
    .clone()
}

/// The client configuration for system roots plus `ca_file` (bounded,
/// regular files only). Session resumption is off: every probe makes a
/// full handshake and verifies the certificate, as a first connection from
/// the mail host would.
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
    let mut config = config;
    config.resumption = rustls::client::Resumption::disabled();
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

    #[tokio::test]
    async fn trust_is_built_once_per_load_and_shared() {
        // A cache of the test's own: other tests may reset the global one.
        let cache = Mutex::new(HashMap::new());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        // A broken file is reported, and stays the answer until a reload.
        let err = trusted_config_in(&cache, Some(&path)).await.unwrap_err();
        assert!(err.contains("no PEM certificate"), "{err}");
        std::fs::remove_file(&path).unwrap();
        let again = trusted_config_in(&cache, Some(&path)).await.unwrap_err();
        assert_eq!(again, err);
        // Two runs share one configuration.
        let a = trusted_config_in(&cache, None).await.unwrap();
        let b = trusted_config_in(&cache, None).await.unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        // A reload forgets both: the file is read again (and is gone now),
        // a new configuration is built.
        forget_in(&cache);
        let err = trusted_config_in(&cache, Some(&path)).await.unwrap_err();
        assert!(err.contains("ca_file"), "{err}");
        assert!(!err.contains("no PEM certificate"), "{err}");
        let c = trusted_config_in(&cache, None).await.unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
    }

    #[test]
    fn names_and_versions() {
        assert!(server_name("email-smtp.eu-west-1.amazonaws.com").is_ok());
        assert!(server_name("127.0.0.1").is_ok());
        assert!(server_name("bad name").is_err());
        assert_eq!(version_name(ProtocolVersion::TLSv1_3), "TLSv1.3");
    }
}
