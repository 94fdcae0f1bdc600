//! The three places a setting is documented cannot drift apart: the README's
//! settings table, `deploy/linkguard.example.toml` and `linkguard config keys`
//! (the key registry itself) must list the same keys with the same variables.
//! The list comes from the binary, so a key added to the registry is checked
//! here without touching this test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn repo_file(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `linkguard config keys`: key → environment variable.
fn registry() -> BTreeMap<String, String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_linkguard"))
        .args(["config", "keys"])
        .env_clear()
        .output()
        .expect("linkguard runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let keys: BTreeMap<String, String> = text
        .lines()
        .map(|l| {
            let mut cols = l.split_whitespace();
            let key = cols.next().expect("a key").to_owned();
            let var = cols.next().expect("a variable").to_owned();
            (key, var)
        })
        .collect();
    assert!(keys.len() >= 10, "too few keys listed:\n{text}");
    keys
}

/// The README's settings table: each row's backquoted keys (first column) and
/// the backquoted `LINKGUARD_…` names of its second column.
fn readme_table() -> Vec<(Vec<String>, String)> {
    let readme = repo_file("README.md");
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in readme.lines() {
        if line.starts_with("| key | variable | default |") {
            in_table = true;
            continue;
        }
        if !in_table || line.starts_with("| ---") {
            continue;
        }
        if !line.starts_with('|') {
            break;
        }
        let cols: Vec<&str> = line.split('|').collect();
        let keys = backquoted(cols[1])
            .into_iter()
            .map(|k| k.to_owned())
            .collect();
        rows.push((keys, cols[2].to_owned()));
    }
    assert!(!rows.is_empty(), "README has no settings table");
    rows
}

fn backquoted(s: &str) -> Vec<&str> {
    s.split('`').skip(1).step_by(2).collect()
}

/// Every `key = …` of the example, commented out or not, as a dotted key
/// (`[slack]` then `bot_token_file` is `slack.bot_token_file`).
fn example_keys() -> BTreeSet<String> {
    let text = repo_file("deploy/linkguard.example.toml");
    let mut section = String::new();
    let mut keys = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim_start_matches('#').trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = format!("{name}.");
            continue;
        }
        let Some((key, _)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            keys.insert(format!("{section}{key}"));
        }
    }
    keys
}

/// `linkguard config check` of `text` as a configuration file in `dir`,
/// with no environment: its error output when it refuses.
fn config_check(dir: &Path, text: &str) -> Result<(), String> {
    let file = dir.join("linkguard.toml");
    std::fs::write(&file, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_linkguard"))
        .args(["config", "check", "--config"])
        .arg(&file)
        .env_clear()
        // `config check` refuses the built-in development keys, as `run`
        // does; these files are about everything else.
        .env("LINKGUARD_ROOM_KEY", "a-room-key-for-this-test")
        .env("LINKGUARD_AUDIT_KEY", "an-audit-key-for-this-test")
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn readme_table_lists_every_key_with_its_variable() {
    let registry = registry();
    let mut documented = BTreeSet::new();
    for (keys, vars) in readme_table() {
        for key in keys {
            let Some(var) = registry.get(&key) else {
                panic!("README documents `{key}`, which `linkguard config keys` does not know");
            };
            assert!(
                backquoted(&vars).contains(&var.as_str()),
                "README row for `{key}` does not name {var}: {vars}"
            );
            documented.insert(key);
        }
    }
    let missing: Vec<_> = registry
        .keys()
        .filter(|k| !documented.contains(*k))
        .collect();
    assert!(
        missing.is_empty(),
        "not in the README's settings table: {missing:?}"
    );
}

#[test]
fn example_configuration_lists_every_key_and_no_other() {
    let registry = registry();
    let example = example_keys();
    let missing: Vec<_> = registry
        .keys()
        .filter(|k| !example.contains(*k) && !example.contains(&format!("{k}_file")))
        .collect();
    assert!(
        missing.is_empty(),
        "not in deploy/linkguard.example.toml: {missing:?}"
    );
    let unknown: Vec<_> = example
        .iter()
        .filter(|k| {
            !registry.contains_key(*k)
                && !k
                    .strip_suffix("_file")
                    .is_some_and(|b| registry.contains_key(b))
        })
        .collect();
    assert!(
        unknown.is_empty(),
        "deploy/linkguard.example.toml shows keys linkguard does not accept: {unknown:?}"
    );
}

/// The example's values are valid, not only its key names: every commented
/// `key = value` line, uncommented, loads (one at a time, so a secret and its
/// `_file` twin never meet).
#[test]
fn example_values_load() {
    let text = repo_file("deploy/linkguard.example.toml");
    let dir = tempfile::tempdir().unwrap();
    let mut section = String::new();
    let mut tried = 0;
    for line in text.lines() {
        let bare = line.trim_start_matches('#').trim();
        if bare.starts_with('[') && bare.ends_with(']') {
            section = bare.to_owned();
            continue;
        }
        let Some((key, value)) = bare.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty()
            || !key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            || key.ends_with("_file")
        {
            continue;
        }
        // Sections need their token for the other keys to be accepted.
        let token = match section.as_str() {
            "[slack]" => "bot_token = \"xoxb-1\"\napp_token = \"xapp-1\"\nsigning_secret = \"s\"\n",
            "[discord]" => "token = \"t\"\n",
            _ => "",
        };
        let mut body = format!("{section}\n{token}");
        if !token.contains(&format!("{key} =")) {
            body.push_str(&format!("{key} = {}\n", value.trim()));
        }
        if key == "shards" {
            body.push_str("shard_total = 4\n");
        }
        if let Err(e) = config_check(dir.path(), &body) {
            panic!("example line `{line}` does not load:\n{body}\n{e}");
        }
        tried += 1;
    }
    assert!(tried >= 10, "only {tried} example lines found");
}

/// Every configuration file shipped in deploy/ (the image's, Compose's, the
/// systemd unit's, each Kubernetes overlay's) loads as shipped and with its
/// commented-out optional blocks switched on, its secret files laid out as
/// the deployment would mount them.
#[test]
fn deployment_configurations_load() {
    let mut files = vec![
        "deploy/container/linkguard.toml".to_owned(),
        "deploy/compose.linkguard.toml".to_owned(),
        "deploy/systemd/linkguard.toml".to_owned(),
    ];
    let overlays = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes/overlays");
    for entry in std::fs::read_dir(&overlays).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        files.push(format!("deploy/kubernetes/overlays/{name}/linkguard.toml"));
    }
    assert!(files.len() >= 6, "{files:?}");
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    let uncommented = |text: &str| -> String {
        text.lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest)
                    if rest.starts_with('[')
                        || rest.split_once(" = ").is_some_and(|(k, _)| {
                            k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                        }) =>
                {
                    rest
                }
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    for rel in &files {
        let shipped = repo_file(rel)
            .replace(
                "/run/secrets/linkguard/",
                &format!("{}/", secrets.display()),
            )
            .replace(
                "/run/credentials/linkguard.service/linkguard_",
                &format!("{}/", secrets.display()),
            );
        for (variant, text) in [
            ("as shipped", shipped.clone()),
            ("all on", uncommented(&shipped)),
        ] {
            // Lay out every secret file the configuration names.
            for line in text.lines().filter(|l| !l.starts_with('#')) {
                let Some((key, value)) = line.split_once(" = ") else {
                    continue;
                };
                if let Some(base) = key.trim().strip_suffix("_file") {
                    let content = if base == "database_url" {
                        "postgres://lg:pw@db.internal/lg"
                    } else {
                        "secret"
                    };
                    std::fs::write(value.trim().trim_matches('"'), content).unwrap();
                }
            }
            if let Err(e) = config_check(dir.path(), &text) {
                panic!("{rel} ({variant}) does not load:\n{text}\n{e}");
            }
            for f in std::fs::read_dir(&secrets).unwrap() {
                std::fs::remove_file(f.unwrap().path()).unwrap();
            }
        }
    }
}
