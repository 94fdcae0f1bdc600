//! The layers under a configuration: the TOML file, then the environment.
//! Each value is kept as text with where it came from, so that a bad value
//! is reported with its source; `validate` turns them into a [`Config`].
//!
//! [`Config`]: super::Config

use super::keys::{env_name, Ty, KEYS};
use super::ConfigError;
use std::collections::BTreeMap;
use std::path::Path;

/// Raw layered values: key → (value, where it came from).
#[derive(Default)]
pub(super) struct Layers {
    pub(super) values: BTreeMap<String, (String, String)>,
}

impl Layers {
    fn set(&mut self, key: &str, value: String, source: String) {
        self.values.insert(key.to_owned(), (value, source));
    }

    fn read_secret_file(key: &str, path: &str, via: &str) -> Result<(String, String), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            key: key.to_owned(),
            source_name: via.to_owned(),
            message: format!("cannot read secret file {path}: {e}"),
        })?;
        Ok((
            text.trim_end_matches(['\n', '\r']).to_owned(),
            format!("file {path} (via {via})"),
        ))
    }

    /// The TOML file's keys (`[slack]` and `[discord]` tables flattened to
    /// dotted names); `KEY_file` reads a secret from the file it names.
    pub(super) fn file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let name = path.display().to_string();
        let err = |key: &str, message: String| ConfigError {
            key: key.to_owned(),
            source_name: name.clone(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            err(
                "--config",
                format!("cannot read the configuration file: {e}"),
            )
        })?;
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| err("(syntax)", e.message().trim().to_owned()))?;
        let mut flat = Vec::new();
        for (k, v) in table {
            match v {
                toml::Value::Table(t) if k == "slack" || k == "discord" || k == "admin" => {
                    for (k2, v2) in t {
                        flat.push((format!("{k}.{k2}"), v2));
                    }
                }
                v => flat.push((k, v)),
            }
        }
        let written: Vec<String> = flat.iter().map(|(k, _)| k.clone()).collect();
        for (key, v) in flat {
            if written.contains(&format!("{key}_file")) {
                return Err(err(
                    &key,
                    format!("both {key} and {key}_file are set: keep one"),
                ));
            }
            let (base, is_file) = match key.strip_suffix("_file") {
                Some(b) => (b.to_owned(), true),
                None => (key.clone(), false),
            };
            let Some((_, ty, _)) = KEYS.iter().find(|(k, _, _)| *k == base) else {
                return Err(err(&key, "unknown setting".into()));
            };
            if is_file && *ty != Ty::Secret {
                return Err(err(&key, "only secrets can be read from a file".into()));
            }
            let value = match (&v, ty) {
                (toml::Value::String(s), _) => s.clone(),
                (toml::Value::Boolean(b), Ty::Bool) => b.to_string(),
                (toml::Value::Integer(i), Ty::Int) => i.to_string(),
                (toml::Value::Array(a), Ty::List) => {
                    let mut parts = Vec::new();
                    for x in a {
                        match x.as_str() {
                            Some(s) => parts.push(s.to_owned()),
                            None => return Err(err(&key, "expected a list of strings".into())),
                        }
                    }
                    parts.join(",")
                }
                (other, _) => {
                    return Err(err(&key, format!("unexpected {} value", other.type_str())));
                }
            };
            if is_file {
                let (secret, source) =
                    Layers::read_secret_file(&base, &value, &format!("{key} in {name}"))?;
                self.set(&base, secret, source);
            } else {
                self.set(&base, value, name.clone());
            }
        }
        Ok(())
    }

    /// The `LINKGUARD_…` variables, last so that they win; `…_FILE` reads
    /// a secret from the file it names.
    pub(super) fn env(&mut self, vars: &[(String, String)]) -> Result<(), ConfigError> {
        let get = |name: &str| {
            vars.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        for (key, ty, _) in KEYS {
            let name = env_name(key);
            let value = get(&name).filter(|v| !v.is_empty());
            let file_var = format!("{name}_FILE");
            let path = get(&file_var).filter(|p| !p.is_empty());
            if *ty != Ty::Secret {
                if path.is_some() {
                    return Err(ConfigError {
                        key: (*key).to_owned(),
                        source_name: format!("the environment ({file_var})"),
                        message: "only secrets can be read from a file".into(),
                    });
                }
            } else if let Some(path) = path {
                // The official database images' convention: a variable and its
                // _FILE twin together are ambiguous, so neither silently wins.
                if value.is_some() {
                    return Err(ConfigError {
                        key: (*key).to_owned(),
                        source_name: "the environment".into(),
                        message: format!("both {name} and {file_var} are set: keep one"),
                    });
                }
                let (secret, source) = Layers::read_secret_file(key, &path, &file_var)?;
                self.set(key, secret, source);
            }
            if let Some(v) = value {
                self.set(key, v, format!("the environment ({name})"));
            }
        }
        Ok(())
    }
}
