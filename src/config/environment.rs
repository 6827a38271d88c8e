//! The plan without a config file, and the environment the config reads.
//!
//! A newcomer runs `ses-probe --once` before writing any config: one target
//! named `default` is built from what the host already has. Region from
//! `AWS_REGION`/`AWS_DEFAULT_REGION` or the selected AWS profile; API
//! credentials from the default chain; SMTP credentials from
//! `SES_SMTP_USERNAME`/`SES_SMTP_PASSWORD` or the first SES entry of a
//! readable Postfix `sasl_passwd`. It is written as the raw form of a file
//! and goes through the same validator, so its defaults are the file's.

use std::collections::HashMap;
use std::path::PathBuf;

use super::raw::{RawApi, RawFile, RawServer, RawSmtp, RawTarget};
use super::secrets::{read_secret_file, SecretSpec};
use super::{validate, ConfigError, Plan};
use crate::credentials::Secret;
use crate::postfix;

/// Environment variables and well-known paths the config reads, injected
/// so tests need not touch the process environment.
#[derive(Clone, Debug, Default)]
pub struct Env {
    vars: HashMap<String, String>,
    /// Postfix's relay credentials, for the environment-built default.
    pub postfix_sasl_passwd: Option<PathBuf>,
}

impl Env {
    /// The process environment and the real Postfix path.
    pub fn from_process() -> Env {
        Env {
            vars: std::env::vars().collect(),
            postfix_sasl_passwd: Some(postfix::SASL_PASSWD.into()),
        }
    }

    /// A fixed set of variables (tests, embedding).
    pub fn from_pairs<I, K, V>(pairs: I) -> Env
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            postfix_sasl_passwd: None,
        }
    }

    pub fn var(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Region from `AWS_REGION`, then `AWS_DEFAULT_REGION`.
    pub fn region(&self) -> Option<String> {
        self.var("AWS_REGION")
            .or_else(|| self.var("AWS_DEFAULT_REGION"))
            .map(str::to_owned)
    }
}

/// The region of the selected AWS profile (`AWS_PROFILE`, else `default`),
/// from the shared config files named by `AWS_CONFIG_FILE` (else
/// `~/.aws/config`) only: no IMDS, which a mail host outside EC2 would wait
/// on until its timeout.
pub async fn profile_region(env: &Env) -> Option<String> {
    use aws_config::meta::region::ProvideRegion;
    use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
    let config_file = env.var("AWS_CONFIG_FILE").map(PathBuf::from).or_else(|| {
        env.var("HOME")
            .map(|h| PathBuf::from(h).join(".aws/config"))
    })?;
    let files = EnvConfigFiles::builder()
        .with_file(EnvConfigFileKind::Config, config_file)
        .build();
    let mut provider =
        aws_config::profile::ProfileFileRegionProvider::builder().profile_files(files);
    if let Some(profile) = env.var("AWS_PROFILE") {
        provider = provider.profile_name(profile);
    }
    provider.build().region().await.map(|r| r.to_string())
}

/// The plan of the environment-built `default` target.
pub fn plan(env: &Env, profile_region: Option<String>) -> Result<Plan, ConfigError> {
    let mut region = env.region().or(profile_region);
    let mut smtp = None;
    if env.var("SES_SMTP_USERNAME").is_some() && env.var("SES_SMTP_PASSWORD").is_some() {
        smtp = Some(RawSmtp {
            username: Some(SecretSpec::Env("SES_SMTP_USERNAME".into())),
            password: Some(SecretSpec::Env("SES_SMTP_PASSWORD".into())),
            ..RawSmtp::default()
        });
    } else if let Some((path, host, port, r)) =
        env.postfix_sasl_passwd.as_deref().and_then(ses_relay)
    {
        region = region.or(Some(r));
        smtp = Some(RawSmtp {
            host: Some(host),
            port,
            sasl_passwd: Some(path.clone()),
            ..RawSmtp::default()
        });
    }
    if let Some(smtp) = smtp.as_mut() {
        smtp.host = smtp
            .host
            .take()
            .or_else(|| env.var("SES_SMTP_HOST").map(str::to_owned));
        smtp.port = smtp
            .port
            .or_else(|| env.var("SES_SMTP_PORT").and_then(|p| p.parse().ok()));
    }
    let raw = RawFile {
        server: RawServer::default(),
        targets: vec![std::sync::Arc::new(RawTarget {
            name: "default".to_owned(),
            region,
            expected_account: None,
            smtp,
            api: Some(RawApi::default()),
        })],
        postfix_log: None,
    };
    let mut plan = validate::environment(raw, env)?;
    // The secret key behind the SMTP user, when the environment has it,
    // lets the wrong-region check run.
    if let Some(smtp) = plan
        .targets
        .iter_mut()
        .find_map(|t| std::sync::Arc::make_mut(t).smtp.as_mut())
    {
        if env.var("AWS_ACCESS_KEY_ID") == Some(smtp.username.as_str()) {
            smtp.secret_access_key = env.var("AWS_SECRET_ACCESS_KEY").map(Secret::new);
        }
    }
    Ok(plan)
}

/// The first entry of a readable `sasl_passwd` for an SES SMTP endpoint:
/// the file, the host and port of its key, and the host's region.
fn ses_relay(path: &std::path::Path) -> Option<(PathBuf, String, Option<u16>, String)> {
    let text = read_secret_file(path).ok()?;
    postfix::sasl::parse(text.expose())
        .into_iter()
        .find_map(|e| {
            let (host, port) = postfix::sasl::split_key(&e.key);
            crate::regions::region_of_smtp_host(&host).map(|r| (path.to_owned(), host, port, r))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_default_target() {
        let mut env = Env::from_pairs([
            ("AWS_REGION", "eu-west-1"),
            ("SES_SMTP_USERNAME", "AKIAIOSFODNN7EXAMPLE"),
            ("SES_SMTP_PASSWORD", "pw"),
        ]);
        env.postfix_sasl_passwd = None;
        let p = plan(&env, None).unwrap();
        let t = &p.targets[0];
        assert_eq!(t.region.as_deref(), Some("eu-west-1"));
        assert_eq!(
            t.smtp.as_ref().unwrap().host,
            "email-smtp.eu-west-1.amazonaws.com"
        );

        // Region and host from a Postfix sasl_passwd when nothing else says.
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("sasl_passwd");
        std::fs::write(
            &f,
            "[email-smtp.ap-southeast-2.amazonaws.com]:2587 AKIAIOSFODNN7EXAMPLE:pw\n",
        )
        .unwrap();
        let mut env = Env::from_pairs::<[(&str, &str); 0], _, _>([]);
        env.postfix_sasl_passwd = Some(f);
        let p = plan(&env, None).unwrap();
        let t = &p.targets[0];
        assert_eq!(t.region.as_deref(), Some("ap-southeast-2"));
        let smtp = t.smtp.as_ref().unwrap();
        assert_eq!(
            (smtp.host.as_str(), smtp.port),
            ("email-smtp.ap-southeast-2.amazonaws.com", 2587)
        );
    }
}
