//! The console's settings: `admin.token`, `admin.public_url` and the sign-in
//! clients (`slack.client_id`/`client_secret`, `discord.client_id`/
//! `client_secret`, `discord.web_url`). The console is on when at least one
//! way to sign in is configured.

use crate::config::{Config, ConfigError, Secret};

/// An OAuth client registered with a platform.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    /// The client (application) id.
    pub id: String,
    /// The client secret.
    pub secret: Secret,
}

/// The console's configuration.
#[derive(Debug, Clone, Default)]
pub struct ConsoleConfig {
    /// `admin.token`: the break-glass token (off when unset).
    pub token: Option<Secret>,
    /// `admin.public_url`: where people reach this service (`https://…`),
    /// for OAuth redirect URIs and `Secure` cookies.
    pub public_url: Option<String>,
    /// Sign in with Slack, when `slack.client_id` and secret are set.
    pub slack: Option<OAuthClient>,
    /// Sign in with Discord, when `discord.client_id` and secret are set.
    pub discord: Option<OAuthClient>,
    /// `discord.web_url`: the origin of Discord's authorize page.
    pub discord_web_url: String,
    /// Sign-in settings given only in part (reported by `config check`).
    pub warnings: Vec<String>,
}

/// Shortest break-glass token accepted: it is a password anyone can try.
const MIN_TOKEN: usize = 16;

impl ConsoleConfig {
    /// Whether any way to sign in is configured.
    pub fn enabled(&self) -> bool {
        self.token.is_some() || self.slack.is_some() || self.discord.is_some()
    }

    /// The console's overview page as people reach it (`/admin/` under
    /// `admin.public_url`), when the console is on and that address is
    /// known: what admins' Slack Home tab links to.
    pub fn overview_url(&self) -> Option<String> {
        if !self.enabled() {
            return None;
        }
        let base = self.public_url.as_deref()?;
        Some(format!("{}/admin/", base.trim_end_matches('/')))
    }

    /// Reads the console's keys from the layered values.
    pub(crate) fn parse(
        get: &dyn Fn(&str) -> Option<String>,
        url: &dyn Fn(&str) -> Result<Option<String>, ConfigError>,
        err: &dyn Fn(&str, String) -> ConfigError,
        c: &Config,
    ) -> Result<ConsoleConfig, ConfigError> {
        let mut out = ConsoleConfig {
            discord_web_url: url("discord.web_url")?
                .unwrap_or_else(|| "https://discord.com".into()),
            public_url: url("admin.public_url")?,
            ..ConsoleConfig::default()
        };
        if let Some(t) = get("admin.token") {
            if t.trim().len() < MIN_TOKEN {
                return Err(err(
                    "admin.token",
                    format!(
                        "the break-glass token must be at least {MIN_TOKEN} characters (e.g. `openssl rand -hex 32`)"
                    ),
                ));
            }
            out.token = Some(Secret::new(t.trim()));
        }
        let mut warnings = Vec::new();
        let public = out.public_url.is_some();
        let mut client = |platform: &str, on: bool| -> Result<Option<OAuthClient>, ConfigError> {
            let id_key = format!("{platform}.client_id");
            let secret_key = format!("{platform}.client_secret");
            let (id, secret) = (get(&id_key), get(&secret_key));
            if id.is_none() && secret.is_none() {
                return Ok(None);
            }
            if let Some(id) = &id {
                if id.trim().is_empty() || id.len() > 200 {
                    return Err(err(&id_key, "expected the app's client id".into()));
                }
            }
            let missing = match (&id, &secret) {
                (Some(_), None) => Some(secret_key.clone()),
                (None, Some(_)) => Some(id_key.clone()),
                _ if !public => Some("admin.public_url".to_owned()),
                _ if !on => Some(format!("the {platform} connector")),
                _ => None,
            };
            if let Some(m) = missing {
                warnings.push(format!(
                    "signing in to the web console with {platform} is off: {id_key}, {secret_key} and admin.public_url are all needed, and {m} is not set"
                ));
                return Ok(None);
            }
            Ok(id.zip(secret).map(|(id, secret)| OAuthClient {
                id: id.trim().to_owned(),
                secret: Secret::new(secret),
            }))
        };
        out.slack = client("slack", c.slack.is_some())?;
        out.discord = client("discord", c.discord.is_some())?;
        out.warnings = warnings;
        Ok(out)
    }

    /// `config check` lines.
    pub(crate) fn describe(&self, line: &mut dyn FnMut(&str, String)) {
        line(
            "admin.token",
            self.token
                .as_ref()
                .map_or("(unset: no break-glass sign-in)".into(), |s| s.to_string()),
        );
        line(
            "admin.public_url",
            self.public_url.clone().unwrap_or_else(|| "(unset)".into()),
        );
        for (name, c) in [("slack", &self.slack), ("discord", &self.discord)] {
            if let Some(c) = c {
                line(&format!("{name}.client_id"), c.id.clone());
                line(&format!("{name}.client_secret"), c.secret.to_string());
            }
        }
        if self.discord.is_some() {
            line("discord.web_url", self.discord_web_url.clone());
        }
    }

    /// The redirect URI registered for `platform`'s sign-in.
    pub(crate) fn redirect_uri(&self, platform: &str) -> String {
        format!(
            "{}/admin/oauth/{platform}/callback",
            self.public_url
                .as_deref()
                .unwrap_or("")
                .trim_end_matches('/')
        )
    }
}
