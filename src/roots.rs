//! The system's root certificates, read once per process, only when
//! something needs them, and shared by the SMTP check's TLS and the AWS
//! SDK's HTTPS client.
//!
//! Both would otherwise read them on their own: on Debian that is the
//! bundle plus every file of `/etc/ssl/certs`, about 300 files and 4-5 ms
//! of CPU each time, which is a large part of a `--once` run. Reading them
//! is blocking file I/O, so async code asks for them through [`load`],
//! which reads them on a blocking thread; the daemon also starts reading
//! them at start-up ([`prewarm`]). A run that needs no system root (an SMTP
//! relay whose certificate chains to its `ca_file`, an API endpoint over
//! plain HTTP) never reads them.

use std::sync::OnceLock;

use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();

/// The certificates the platform trusts (as `rustls-native-certs` finds
/// them: `SSL_CERT_FILE`, `SSL_CERT_DIR`, then the system's store) that
/// parse as trust anchors. Unreadable entries are skipped, as every TLS
/// client does; none at all makes every handshake fail with an unknown
/// issuer, which the checks report.
///
/// Reads them on first use, blocking: from async code, await [`load`].
pub fn system() -> &'static [CertificateDer<'static>] {
    ROOTS.get_or_init(|| {
        rustls_native_certs::load_native_certs()
            .certs
            .into_iter()
            .filter(|cert| RootCertStore::empty().add(cert.clone()).is_ok())
            .collect()
    })
}

/// The roots, read on a blocking thread if they have not been read yet,
/// so no async worker waits on the file system.
pub async fn load() -> &'static [CertificateDer<'static>] {
    if let Some(roots) = ROOTS.get() {
        return roots;
    }
    match tokio::task::spawn_blocking(system).await {
        Ok(roots) => roots,
        // Only a panic inside the read gets here; reading again on this
        // thread reports it the same way.
        Err(_) => system(),
    }
}

/// Start reading the roots on a blocking thread now, so the first
/// handshake finds them read. Needs a Tokio runtime.
pub fn prewarm() {
    drop(tokio::task::spawn_blocking(|| {
        system();
    }));
}

/// The roots as one PEM bundle, for clients that take PEM; encoded once.
pub fn system_pem() -> &'static str {
    static PEM: OnceLock<String> = OnceLock::new();
    PEM.get_or_init(|| {
        use base64::Engine as _;
        let mut out = String::new();
        for cert in system() {
            let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
            out.push_str("-----BEGIN CERTIFICATE-----\n");
            for line in b64.as_bytes().chunks(64) {
                out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
                out.push('\n');
            }
            out.push_str("-----END CERTIFICATE-----\n");
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;

    #[test]
    fn the_pem_bundle_holds_the_same_certificates() {
        let pem = system_pem();
        let parsed: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(parsed, system());
        let mut store = RootCertStore::empty();
        let (added, skipped) = store.add_parsable_certificates(parsed);
        assert_eq!((added, skipped), (system().len(), 0));
    }
}
