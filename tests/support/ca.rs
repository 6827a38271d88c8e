//! A test certificate authority, made at test time with rcgen: the CA the
//! checks are told to trust (through `ca_file`), and leaves signed by it or
//! by a second CA nobody trusts.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use time::OffsetDateTime;

/// A CA that can sign leaves.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A server certificate and its key, DER-encoded.
#[derive(Clone)]
pub struct Leaf {
    pub chain: Vec<Vec<u8>>,
    pub key: Vec<u8>,
    /// `notAfter`, seconds since the Unix epoch.
    pub not_after: i64,
}

static TRUSTED: LazyLock<TestCa> = LazyLock::new(|| TestCa::new("ses-probe test CA"));
static UNTRUSTED: LazyLock<TestCa> = LazyLock::new(|| TestCa::new("ses-probe untrusted CA"));

/// The CA the tests trust.
pub fn trusted() -> &'static TestCa {
    &TRUSTED
}

/// A CA no check is told about.
pub fn untrusted() -> &'static TestCa {
    &UNTRUSTED
}

fn unix(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).expect("valid time")
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

const DAY: i64 = 86_400;

impl TestCa {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = at(now() - DAY);
        params.not_after = at(now() + 3650 * DAY);
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA cert");
        TestCa { cert, key }
    }

    /// The CA certificate as PEM.
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// Write the CA certificate to `dir/ca.pem` for a target's `ca_file`.
    pub fn write_pem(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, self.pem()).expect("write CA");
        path
    }

    /// A leaf for `names`, valid from yesterday for `valid_for` from now
    /// (negative: already expired).
    pub fn leaf_valid(&self, names: &[&str], valid_for: Duration, expired: bool) -> Leaf {
        let secs = valid_for.as_secs() as i64;
        let (not_before, not_after) = if expired {
            (now() - 30 * DAY, now() - secs)
        } else {
            (now() - DAY, now() + secs)
        };
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("leaf params");
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or("leaf"));
        params.not_before = at(not_before);
        params.not_after = at(not_after);
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("sign leaf");
        Leaf {
            chain: vec![cert.der().to_vec()],
            key: key.serialize_der(),
            not_after: unix(at(not_after)),
        }
    }

    /// A leaf for `names`, valid for a year.
    pub fn leaf(&self, names: &[&str]) -> Leaf {
        self.leaf_valid(names, Duration::from_secs(365 * DAY as u64), false)
    }

    /// The leaf as PEM files (`cert.pem`, `key.pem`) in `dir`, for peers
    /// that load certificates from files (aiosmtpd).
    pub fn write_leaf(&self, dir: &Path, names: &[&str]) -> (PathBuf, PathBuf) {
        let leaf = self.leaf(names);
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        std::fs::write(&cert, pem("CERTIFICATE", &leaf.chain[0])).expect("write cert");
        std::fs::write(&key, pem("PRIVATE KEY", &leaf.key)).expect("write key");
        (cert, key)
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("ascii"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
