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

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, DigitallySignedStruct, ProtocolVersion, RootCertStore, SignatureScheme,
};

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
/// the mail host would. Blocking: the system roots may be read here (with
/// a `ca_file`, only if a certificate does not chain to it).
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let mut config = match ca_file {
        None => builder
            .with_root_certificates(system_roots().clone())
            .with_no_client_auth(),
        Some(path) => {
            let own = read_ca_file(path)?;
            let verifier = OwnCaFirst::new(own, provider, crate::roots::system)
                .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth()
        }
    };
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

/// The certificates of a `ca_file`: at least one, each a valid anchor.
fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem =
        crate::text::read_small_file(path, MAX_CA_FILE).map_err(|e| format!("ca_file {e}"))?;
    let mut certs = Vec::new();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("ca_file {}: {e}", path.display()))?;
        RootCertStore::empty()
            .add(cert.clone())
            .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
        certs.push(cert);
    }
    if certs.is_empty() {
        return Err(format!(
            "ca_file {}: no PEM certificate in the file",
            path.display()
        ));
    }
    Ok(certs)
}

/// Where the system's roots come from: [`crate::roots::system`], or a
/// test's own list.
type RootSource = fn() -> &'static [CertificateDer<'static>];

/// Trust in the system's roots plus a `ca_file`, checked in two steps: the
/// `ca_file`'s certificates alone first, then, only if the chain does not
/// lead to one of them, the system's roots plus the file. A chain that
/// leads to an anchor of the file is valid under both, so the answer is
/// the same as one check against the union; but a relay with a private CA
/// (the reason `ca_file` exists) is verified without reading the system
/// store at all, which is most of the CPU of a `--once` run. Both steps
/// are full webpki verification (chain, name, validity, key usage).
#[derive(Debug)]
struct OwnCaFirst {
    own: Arc<WebPkiServerVerifier>,
    own_certs: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
    system: RootSource,
    all: OnceLock<Result<Arc<WebPkiServerVerifier>, rustls::Error>>,
}

impl OwnCaFirst {
    fn new(
        own_certs: Vec<CertificateDer<'static>>,
        provider: Arc<CryptoProvider>,
        system: RootSource,
    ) -> Result<Self, rustls::client::VerifierBuilderError> {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(own_certs.iter().cloned());
        let own = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()?;
        Ok(OwnCaFirst {
            own,
            own_certs,
            provider,
            system,
            all: OnceLock::new(),
        })
    }

    /// The verifier of the system's roots plus the file, built on first
    /// need. Reading the system store blocks: on a multi-threaded runtime
    /// the worker hands its other tasks on first. The daemon reads the
    /// store at start-up, so there this is only a lookup.
    fn all(&self) -> Result<&Arc<WebPkiServerVerifier>, rustls::Error> {
        self.all
            .get_or_init(|| {
                let system = blocking(self.system);
                let mut roots = RootCertStore::empty();
                roots.add_parsable_certificates(system.iter().cloned());
                roots.add_parsable_certificates(self.own_certs.iter().cloned());
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                    .build()
                    .map_err(|e| rustls::Error::General(format!("trust store: {e}")))
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// Run `f` (blocking I/O) from sync code that may be on an async worker.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

impl ServerCertVerifier for OwnCaFirst {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verify = |v: &WebPkiServerVerifier| {
            v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        };
        match verify(&self.own) {
            Ok(verified) => Ok(verified),
            // Whatever went wrong against the file alone, the answer is
            // the one against every anchor.
            Err(_) => verify(self.all()?),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.own.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.own.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.own.supported_verify_schemes()
    }
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

    /// A CA of the test's own (named `ca`) and a leaf for `name` it signed.
    fn ca_and_leaf(ca: &str, name: &str) -> (CertificateDer<'static>, CertificateDer<'static>) {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, ca);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().unwrap();
        let ca = params.self_signed(&ca_key).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &ca, &ca_key)
            .unwrap();
        (ca.der().clone(), leaf.der().clone())
    }

    struct Pki {
        file: (CertificateDer<'static>, CertificateDer<'static>),
        system: (CertificateDer<'static>, CertificateDer<'static>),
        stranger: (CertificateDer<'static>, CertificateDer<'static>),
    }

    fn pki() -> &'static Pki {
        static PKI: OnceLock<Pki> = OnceLock::new();
        PKI.get_or_init(|| Pki {
            file: ca_and_leaf("Relay CA", "relay.example"),
            system: ca_and_leaf("Public CA", "relay.example"),
            stranger: ca_and_leaf("Stranger CA", "relay.example"),
        })
    }

    fn test_system_roots() -> &'static [CertificateDer<'static>] {
        std::slice::from_ref(&pki().system.0)
    }

    fn system_roots_must_not_be_read() -> &'static [CertificateDer<'static>] {
        panic!("the system roots were read although the ca_file's CA signed the certificate")
    }

    fn verify(
        system: RootSource,
        leaf: &CertificateDer<'static>,
        name: &str,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = OwnCaFirst::new(vec![pki().file.0.clone()], provider, system).unwrap();
        verifier.verify_server_cert(
            leaf,
            &[],
            &ServerName::try_from(name.to_owned()).unwrap(),
            &[],
            UnixTime::now(),
        )
    }

    #[test]
    fn a_ca_file_chain_is_verified_without_the_system_roots() {
        let pki = pki();
        assert!(verify(system_roots_must_not_be_read, &pki.file.1, "relay.example").is_ok());
    }

    #[test]
    fn with_a_ca_file_the_system_roots_are_still_trusted_and_failures_are_theirs() {
        let pki = pki();
        // Signed by a system root, not by the file: trusted, as by the union.
        assert!(verify(test_system_roots, &pki.system.1, "relay.example").is_ok());
        // Signed by neither: unknown issuer.
        assert_eq!(
            verify(test_system_roots, &pki.stranger.1, "relay.example").unwrap_err(),
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
        );
        // The file's CA, but another name: the name error, not a pass.
        let err = verify(test_system_roots, &pki.file.1, "other.example").unwrap_err();
        assert!(
            matches!(
                err,
                rustls::Error::InvalidCertificate(
                    rustls::CertificateError::NotValidForName
                        | rustls::CertificateError::NotValidForNameContext { .. }
                )
            ),
            "{err:?}"
        );
    }

    #[test]
    fn names_and_versions() {
        assert!(server_name("email-smtp.eu-west-1.amazonaws.com").is_ok());
        assert!(server_name("127.0.0.1").is_ok());
        assert!(server_name("bad name").is_err());
        assert_eq!(version_name(ProtocolVersion::TLSv1_3), "TLSv1.3");
    }
}
