//! The file as written: serde structs that mirror the TOML.
//!
//! Everything is optional here; [`super::validate`] decides what is missing,
//! fills defaults and reports every problem with its key. Unknown keys are
//! collected by the caller (`serde_ignored`), not rejected by serde, so they
//! are reported together with the other problems.

use std::path::PathBuf;

use serde::Deserialize;

use super::secrets::SecretSpec;
use super::{AuthMechanism, TlsMode};

#[derive(Clone, Debug, Default, Deserialize)]
pub(super) struct RawFile {
    #[serde(default)]
    pub(super) server: RawServer,
    /// Shared: a reload reuses the targets of unchanged sections
    /// ([`super::sections`]).
    #[serde(default, rename = "target")]
    pub(super) targets: Vec<std::sync::Arc<RawTarget>>,
    pub(super) postfix_log: Option<RawPostfixLog>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub(super) struct RawPostfixLog {
    pub(super) source: Option<String>,
    pub(super) path: Option<PathBuf>,
    pub(super) unit: Option<String>,
    pub(super) window: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub(super) struct RawServer {
    pub(super) listen: Option<String>,
    pub(super) state_directory: Option<PathBuf>,
    pub(super) concurrency: Option<usize>,
    pub(super) reload_endpoint: Option<bool>,
}

#[derive(Clone, Debug, Deserialize)]
pub(super) struct RawTarget {
    pub(super) name: String,
    pub(super) region: Option<String>,
    pub(super) expected_account: Option<String>,
    pub(super) smtp: Option<RawSmtp>,
    pub(super) api: Option<RawApi>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub(super) struct RawSmtp {
    pub(super) host: Option<String>,
    pub(super) port: Option<u16>,
    pub(super) tls: Option<TlsMode>,
    pub(super) tls_server_name: Option<String>,
    pub(super) ca_file: Option<PathBuf>,
    pub(super) username: Option<SecretSpec>,
    pub(super) password: Option<SecretSpec>,
    pub(super) sasl_passwd: Option<PathBuf>,
    pub(super) relayhost: Option<String>,
    pub(super) postfix: Option<bool>,
    pub(super) postfix_config_directory: Option<PathBuf>,
    pub(super) secret_access_key: Option<SecretSpec>,
    pub(super) auth_mechanisms: Option<Vec<AuthMechanism>>,
    pub(super) ehlo_name: Option<String>,
    pub(super) timeout: Option<String>,
    pub(super) interval: Option<String>,
    pub(super) certificate_expiry_warning: Option<String>,
    pub(super) send: Option<bool>,
    pub(super) mail_from: Option<String>,
    pub(super) rcpt_to: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub(super) struct RawApi {
    pub(super) profile: Option<String>,
    pub(super) access_key_id: Option<SecretSpec>,
    pub(super) secret_access_key: Option<SecretSpec>,
    pub(super) session_token: Option<SecretSpec>,
    pub(super) endpoint_url: Option<String>,
    pub(super) sts_endpoint_url: Option<String>,
    pub(super) timeout: Option<String>,
    pub(super) identity: Option<bool>,
    pub(super) account: Option<bool>,
    pub(super) identity_interval: Option<String>,
    pub(super) account_interval: Option<String>,
    pub(super) root_severity: Option<RootSeverity>,
    pub(super) quota_warning_ratio: Option<f64>,
    pub(super) credentials_expiry_warning: Option<String>,
    pub(super) permissions: Option<bool>,
    pub(super) sender: Option<bool>,
    pub(super) audit_from: Option<String>,
    pub(super) audit_recipients: Option<Vec<String>>,
    pub(super) audit_interval: Option<String>,
    pub(super) smtp_credentials_admin: Option<bool>,
    pub(super) smtp_key_ownership: Option<bool>,
    pub(super) iam_endpoint_url: Option<String>,
    pub(super) send: Option<RawSend>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub(super) struct RawSend {
    pub(super) from: Option<String>,
    pub(super) to: Option<String>,
    pub(super) configuration_set: Option<String>,
    pub(super) interval: Option<String>,
    pub(super) daily_budget: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum RootSeverity {
    Warning,
    Critical,
}

/// The keys a raw struct accepts, as serde sees them (renames applied): the
/// one list of each table's keys, derived from the struct itself, for the
/// "did you mean" of an unknown key.
pub(super) fn keys_of<T: serde::de::DeserializeOwned>() -> &'static [&'static str] {
    let mut keys = None;
    let _ = T::deserialize(KeyGrabber(&mut keys));
    keys.unwrap_or(&[])
}

/// A deserializer that only records the field list serde asks a struct
/// for, then stops.
struct KeyGrabber<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> serde::Deserializer<'de> for KeyGrabber<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("only the keys are wanted"))
    }

    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = Some(fields);
        Err(serde::de::Error::custom("only the keys are wanted"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// The keys of the table that holds the key at `path` (a key path from
/// the file's root), when that table is one of the raw structs.
pub(super) fn keys_beside(path: &[super::locate::Seg]) -> &'static [&'static str] {
    use super::locate::Seg::{Index, Key};
    let parent = &path[..path.len().saturating_sub(1)];
    fn k(s: &super::locate::Seg) -> Option<&str> {
        match s {
            Key(k) => Some(k.as_str()),
            Index(_) => None,
        }
    }
    match parent {
        [] => keys_of::<RawFile>(),
        [a] => match k(a) {
            Some("server") => keys_of::<RawServer>(),
            Some("postfix_log") => keys_of::<RawPostfixLog>(),
            _ => &[],
        },
        [a, Index(_)] if k(a) == Some("target") => keys_of::<RawTarget>(),
        [a, Index(_), b] if k(a) == Some("target") => match k(b) {
            Some("smtp") => keys_of::<RawSmtp>(),
            Some("api") => keys_of::<RawApi>(),
            _ => &[],
        },
        [a, Index(_), b, c]
            if k(a) == Some("target") && k(b) == Some("api") && k(c) == Some("send") =>
        {
            keys_of::<RawSend>()
        }
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_the_structs() {
        assert_eq!(keys_of::<RawFile>(), &["server", "target", "postfix_log"]);
        assert!(keys_of::<RawSmtp>().contains(&"certificate_expiry_warning"));
        assert!(keys_of::<RawSend>().contains(&"daily_budget"));
    }
}
