//! A fake of Amazon SES that holds up under sustained load, for the
//! benchmark scripts in this folder. It is the test suite's own SMTP fake
//! (SES's greeting, EHLO, STARTTLS, AUTH PLAIN and LOGIN) and API fake (STS
//! `GetCallerIdentity`, SESv2 `GetAccount` and `SendEmail` in their wire
//! formats, and the STS and IAM calls of the SMTP check's key-ownership
//! lookup), run without a time limit and keeping no log, so the benches
//! and the tests measure against the same peers.
//!
//! ```text
//! fake-ses DIR
//! ```
//!
//! Listens on ephemeral 127.0.0.1 ports, writes `DIR/ca.pem` (the CA whose
//! leaf, for `localhost` and `127.0.0.1`, the SMTP side presents) and then
//! `DIR/endpoints`, shell assignments the scripts source:
//!
//! ```text
//! SMTP_PORT=41234
//! API_URL=http://127.0.0.1:41235
//! KEY_ID=AKIAIOSFODNN7EXAMPLE
//! SECRET=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
//! SMTP_PASSWORD=...      # SECRET derived for eu-west-1
//! ```
//!
//! It runs until killed. The API side accepts any signature (it measures
//! the client, not SigV4).

#[path = "../tests/support/ca.rs"]
#[allow(dead_code)]
mod ca;
#[path = "../tests/support/fake_aws.rs"]
#[allow(dead_code)]
mod fake_aws;
#[path = "../tests/support/fake_smtp.rs"]
#[allow(dead_code)]
mod fake_smtp;
#[path = "../tests/support/server.rs"]
mod server;

use server::ServerThread;

use std::path::PathBuf;

use fake_aws::{FakeAws, Reply};
use fake_smtp::{FakeSmtp, Script};
use ses_probe::credentials::{derive_smtp_password_v4, Secret};

/// The AWS documentation's example key pair: never a real credential.
const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const REGION: &str = "eu-west-1";

fn main() {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: fake-ses DIR");
        std::process::exit(2);
    };
    std::fs::create_dir_all(&dir).expect("create DIR");
    let ca = ca::trusted();
    ca.write_pem(&dir);
    let password = derive_smtp_password_v4(&Secret::new(SECRET), REGION);
    let leaf = ca.leaf(&["localhost", "127.0.0.1"]);
    let smtp = FakeSmtp::start(Script::ses(leaf, KEY_ID, password.expose()).for_load());
    let api = FakeAws::start_for_load(|r| match r.op() {
        "GetCallerIdentity" => Reply::sts_identity(
            "arn:aws:iam::123456789012:user/ses-smtp",
            "123456789012",
            "AIDAEXAMPLEUSERID0001",
        ),
        // The SMTP check's key-ownership lookup: the key is the caller's.
        "GetAccessKeyInfo" => Reply::access_key_info("123456789012"),
        "GetAccessKeyLastUsed" => {
            Reply::access_key_last_used("ses-smtp", "2026-11-30T08:00:00Z", "ses", "eu-west-1")
        }
        "GetAccount" => Reply::account(true, true, "HEALTHY", 50_000.0, 12.0),
        "SendEmail" => Reply::sent(),
        _ => Reply::not_found(),
    });
    let endpoints = format!(
        "SMTP_PORT={}\nAPI_URL={}\nKEY_ID={KEY_ID}\nSECRET={SECRET}\nSMTP_PASSWORD={}\n",
        smtp.port,
        api.url,
        password.expose()
    );
    // Written whole, then renamed: a script polling for the file never
    // reads half of it.
    let tmp = dir.join("endpoints.tmp");
    std::fs::write(&tmp, endpoints).expect("write endpoints");
    std::fs::rename(&tmp, dir.join("endpoints")).expect("publish endpoints");
    loop {
        std::thread::park();
    }
}
