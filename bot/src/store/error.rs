//! Errors of the store, and the helpers that keep secrets out of them.
//!
//! [`StoreError`] is the one error type of the store's public API. A database
//! URL may carry a password, so every message that names a database goes
//! through [`redact_url`] first: errors and logs show the host and database,
//! never the password.

use std::fmt;

/// What went wrong in the store.
///
/// Messages do not repeat their source: print the chain (`{:#}` with anyhow,
/// or walk `source()`) to see the driver's error too.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database URL is not one linkguard understands.
    #[error("unsupported database URL `{url}`: expected sqlite://… or postgres://…")]
    UnsupportedUrl {
        /// The URL, password removed.
        url: String,
    },
    /// The database could not be reached when the store was opened.
    #[error("cannot connect to the database {target}")]
    Connect {
        /// Where we tried to connect (host, port and database; no password).
        target: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The database stayed unreachable for longer than the retry budget.
    #[error("the database {target} is unavailable (gave up after {attempts} attempts)")]
    Unavailable {
        /// Host, port and database; no password.
        target: String,
        /// How many times the operation was tried.
        attempts: u32,
        /// The last error seen.
        #[source]
        source: sqlx::Error,
    },
    /// Applying the migrations failed.
    #[error("cannot migrate the database {target}")]
    Migrate {
        /// Host, port and database; no password.
        target: String,
        /// The migrator's error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// Any other database error.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// A stored value could not be read back (e.g. a column had an unexpected form).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// A policy text was refused by validation.
    #[error("invalid policy: {0}")]
    InvalidPolicy(String),
    /// The policy version asked for does not exist.
    #[error("no policy version {0}")]
    NoSuchPolicyVersion(i64),
    /// The detection has no pending action (already resolved, or never pending).
    #[error("audit record {0} has no pending action")]
    NotPending(i64),
    /// The configured `audit_key` is not the key this audit log is keyed
    /// with: writing would break the chain, verifying would fail every
    /// keyed record.
    #[error(
        "the configured audit_key is not the key this audit log was written with \
         (LINKGUARD_AUDIT_KEY must be the same for every replica and CLI run)"
    )]
    AuditKeyMismatch,
    /// A policy edit was based on a version that is no longer the active one.
    #[error(
        "the policy changed meanwhile (your edit was based on {}, but {} is active now); \
         nothing was changed: look at the new version and try again",
        describe_version(*expected),
        describe_version(*actual)
    )]
    PolicyChanged {
        /// The active version the edit started from (`None`: nothing stored).
        expected: Option<i64>,
        /// The version active now (`None`: nothing stored).
        actual: Option<i64>,
    },
    /// The policy is managed by a configuration file; stored edits would be
    /// undone at the next start.
    #[error(
        "the policy is managed by the file {path} (setting `policy`): change that file and \
         restart, or unset `policy` to manage the policy from chat and the CLI"
    )]
    PolicyManagedByFile {
        /// The configured policy file.
        path: String,
    },
}

fn describe_version(v: Option<i64>) -> String {
    v.map_or_else(
        || "the built-in policy".to_owned(),
        |v| format!("version {v}"),
    )
}

/// `url` with any password replaced by `***`, for error messages and logs.
///
/// Works on anything URL-shaped without parsing failures: a string that is not
/// a URL is returned with everything between `://` and the last `@` of its
/// authority masked, which covers the `user:password@host` form.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest_start = scheme_end + 3;
    let rest = &url[rest_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let tail = redact_query_password(&rest[authority_end..]);
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let host = &authority[at + 1..];
            let user = match userinfo.find(':') {
                Some(colon) => format!("{}:***", &userinfo[..colon]),
                None => userinfo.to_string(),
            };
            format!("{}{}@{}{}", &url[..rest_start], user, host, tail)
        }
        None => format!("{}{}{}", &url[..rest_start], authority, tail),
    }
}

/// Masks `password=` in a URL's query string (libpq accepts it there too).
fn redact_query_password(tail: &str) -> String {
    let Some(q) = tail.find('?') else {
        return tail.to_string();
    };
    let (path, query) = tail.split_at(q + 1);
    let parts: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => kv.to_string(),
        })
        .collect();
    format!("{path}{}", parts.join("&"))
}

/// A short description of where a URL points: `host:port/database` for a
/// server, the file path for SQLite. Never contains the password.
pub fn describe_target(url: &str) -> String {
    let redacted = redact_url(url);
    let Some(scheme_end) = redacted.find("://") else {
        return redacted;
    };
    let scheme = &redacted[..scheme_end];
    let rest = &redacted[scheme_end + 3..];
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    if scheme == "sqlite" {
        return format!("sqlite file {rest}");
    }
    let host_and_db = match rest.rfind('@') {
        Some(at) => &rest[at + 1..],
        None => rest,
    };
    let (host, db) = match host_and_db.find('/') {
        Some(slash) => (&host_and_db[..slash], &host_and_db[slash + 1..]),
        None => (host_and_db, ""),
    };
    if db.is_empty() {
        format!("at host {host}")
    } else {
        format!("`{db}` at host {host}")
    }
}

/// A URL that prints redacted, so a struct holding one can derive `Debug`.
#[derive(Clone)]
pub(crate) struct DbUrl(pub(crate) String);

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_hides_passwords_only() {
        let cases = [
            (
                "postgres://alice:s3cret@db.example:5432/linkguard",
                "postgres://alice:***@db.example:5432/linkguard",
            ),
            (
                "postgres://alice@db.example/linkguard",
                "postgres://alice@db.example/linkguard",
            ),
            (
                "postgres://u:p%40ss@h/db?sslmode=require&password=x",
                "postgres://u:***@h/db?sslmode=require&password=***",
            ),
            ("postgres://u:pa:ss@h:1/db", "postgres://u:***@h:1/db"),
            ("sqlite://./linkguard.db", "sqlite://./linkguard.db"),
            ("not a url", "not a url"),
        ];
        for (input, want) in cases {
            assert_eq!(redact_url(input), want, "input {input}");
        }
    }

    #[test]
    fn describe_target_names_host_and_database() {
        let d = describe_target("postgres://u:hunter2@db.internal:6543/prod?sslmode=require");
        assert_eq!(d, "`prod` at host db.internal:6543");
        assert!(!d.contains("hunter2"));
        assert_eq!(
            describe_target("sqlite://./linkguard.db?mode=rwc"),
            "sqlite file ./linkguard.db"
        );
    }

    #[test]
    fn db_url_debug_is_redacted() {
        let u = DbUrl("postgres://u:hunter2@h/db".into());
        assert!(!format!("{u:?}").contains("hunter2"));
    }
}
