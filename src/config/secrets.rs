//! Secret sources: where a password, a key or a user name comes from.
//!
//! A new source is one variant of [`SecretSpec`], one entry in [`SOURCES`]
//! and one arm of [`SecretSpec::resolve`]; the file format and the error
//! messages follow from those.

use std::path::{Path, PathBuf};

use serde::de::{self, MapAccess, Visitor};
use serde::Deserialize;

use super::Env;
use crate::credentials::Secret;

/// Where a secret (or a user name) comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum SecretSpec {
    /// Written in the config file itself. Allowed, never required; the file
    /// must then not be readable by others.
    Inline(Secret),
    /// An environment variable.
    Env(String),
    /// A file holding only the value (one trailing newline is ignored).
    File(PathBuf),
    /// A systemd credential: `$CREDENTIALS_DIRECTORY/<name>`.
    Credential(String),
}

/// Largest file a secret (or a `sasl_passwd` table) is read from.
pub const MAX_SECRET_FILE: u64 = 1 << 20;

/// The keys of a secret table, as written in the file.
pub const SOURCES: [&str; 4] = ["env", "file", "credential", "value"];

impl SecretSpec {
    fn from_table(key: &str, value: String) -> Option<SecretSpec> {
        Some(match key {
            "env" => SecretSpec::Env(value),
            "file" => SecretSpec::File(value.into()),
            "credential" => SecretSpec::Credential(value),
            "value" => SecretSpec::Inline(Secret::new(value)),
            _ => return None,
        })
    }

    /// Read the value. `Err` is a message for the key that named the
    /// source; a readable but loosely protected file gives a warning.
    pub fn resolve(&self, env: &Env) -> Result<Resolved, String> {
        let plain = |value| Resolved {
            value,
            inline: false,
            warning: None,
        };
        match self {
            SecretSpec::Inline(s) => Ok(Resolved {
                value: s.clone(),
                inline: true,
                warning: None,
            }),
            SecretSpec::Env(var) => env
                .var(var)
                .map(|v| plain(Secret::new(v)))
                .ok_or_else(|| format!("environment variable {var} is not set")),
            SecretSpec::File(file) => {
                let value = read_secret_file(file)?;
                Ok(Resolved {
                    value,
                    inline: false,
                    warning: loose_permissions(file).map(|w| {
                        format!("{} holds a secret and is {w}; chmod 600 it", file.display())
                    }),
                })
            }
            SecretSpec::Credential(name) => {
                let Some(dir) = env.var("CREDENTIALS_DIRECTORY") else {
                    return Err(format!("systemd credential `{name}` requested but $CREDENTIALS_DIRECTORY is not set (add LoadCredential={name}:... to the unit)"));
                };
                // systemd makes the directory private; no permission warning.
                read_secret_file(&Path::new(dir).join(name))
                    .map(plain)
                    .map_err(|e| format!("systemd credential `{name}`: {e}"))
            }
        }
    }
}

/// A secret that was read, and what was noticed on the way.
pub struct Resolved {
    pub value: Secret,
    /// Written in the config file itself.
    pub inline: bool,
    pub warning: Option<String>,
}

impl<'de> Deserialize<'de> for SecretSpec {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        fn one_of() -> String {
            let quoted: Vec<String> = SOURCES.iter().map(|s| format!("`{s}`")).collect();
            format!(
                "{} or {}",
                quoted[..quoted.len() - 1].join(", "),
                quoted[quoted.len() - 1]
            )
        }
        impl<'de> Visitor<'de> for V {
            type Value = SecretSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "a string, or a table with one of {}", one_of())
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretSpec, E> {
                Ok(SecretSpec::Inline(Secret::new(v)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SecretSpec, A::Error> {
                let mut found: Option<SecretSpec> = None;
                while let Some(key) = map.next_key::<String>()? {
                    let value: String = map.next_value()?;
                    let spec = SecretSpec::from_table(&key, value)
                        .ok_or_else(|| de::Error::unknown_field(&key, &SOURCES))?;
                    if found.replace(spec).is_some() {
                        return Err(de::Error::custom(format!(
                            "a secret takes exactly one of {}",
                            one_of()
                        )));
                    }
                }
                found.ok_or_else(|| {
                    de::Error::custom(format!("empty secret table: give {}", one_of()))
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// Read a file holding one secret; one trailing newline is dropped (what
/// `echo value > file` adds), anything else is kept so that the shape
/// checks can report it.
pub fn read_secret_file(path: &Path) -> Result<Secret, String> {
    let mut text = crate::text::read_small_file(path, MAX_SECRET_FILE)?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(Secret::new(text))
}

/// `Some("readable by group or others")` when a file's mode lets anyone but
/// its owner read it.
pub fn loose_permissions(path: &Path) -> Option<&'static str> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o044 != 0).then_some("readable by group or others")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_files_and_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "secret-value\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(read_secret_file(&f).unwrap().expose(), "secret-value");
        assert!(loose_permissions(&f).is_some());
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(loose_permissions(&f).is_none());
    }
}
