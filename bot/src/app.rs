//! Start-up and the running service: `App::build` opens the store, loads the
//! policy, binds the public HTTP listener and starts the configured platform
//! connectors; `App::run_until_stopped` serves until the shutdown future
//! resolves. Tests build an `App` on port 0 and read its address back.

use crate::config::Config;
use crate::moderation::{ActivePolicy, Moderator};
use crate::store::{AuditEntry, Kind, Store, StoreOptions};
use anyhow::Context as _;
use axum::routing::get;
use axum::Router;
use linkguard_rules::policy::{Policy, RoomKey};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Things tests (and the demo) may inject instead of configuration.
#[derive(Default)]
pub struct AppOptions {
    /// The HTTP client serenity uses (tests: resolves discord.com to a fake
    /// and trusts its CA). `None`: serenity's default client.
    pub discord_http_client: Option<reqwest::Client>,
}

/// A built, not yet running, linkguard service.
pub struct App {
    config: Config,
    moderator: Arc<Moderator>,
    listener: TcpListener,
    router: Router,
    http_addr: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// The policy in force at start-up: the stored active version, else the file
/// named by `LINKGUARD_POLICY` (imported as a new version), else the built-in
/// default.
pub async fn load_active_policy(store: &Store, config: &Config) -> anyhow::Result<ActivePolicy> {
    if let Some(path) = &config.policy_path {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read policy file {path}"))?;
        let policy = Policy::parse(path, &text)?;
        let imported = store
            .policy_import(&text, "config", path)
            .await
            .context("storing the configured policy")?;
        return Ok(ActivePolicy {
            policy: Arc::new(policy),
            version: Some(imported.version.version),
        });
    }
    if let Some(v) = store.policy_active().await? {
        let policy = Policy::parse(&format!("stored policy v{}", v.version), &v.body)?;
        return Ok(ActivePolicy {
            policy: Arc::new(policy),
            version: Some(v.version),
        });
    }
    Ok(ActivePolicy {
        policy: Arc::new(Policy::default_policy()),
        version: None,
    })
}

impl App {
    /// Opens the store, loads the policy, binds the listener and starts the
    /// connectors named in `config`.
    pub async fn build(config: Config, options: AppOptions) -> anyhow::Result<App> {
        let store = Store::open(config.database_url.expose(), StoreOptions::from_config(&config))
            .await
            .context("opening the database")?;
        let active = load_active_policy(&store, &config).await?;
        let moderator = Arc::new(Moderator::new(
            store.clone(),
            active,
            RoomKey::new(config.room_key.expose()),
            config.audit_message_text,
        ));
        let mut startup = AuditEntry::new(Kind::Startup, "linkguard");
        startup.detail = Some(format!("version {}", env!("CARGO_PKG_VERSION")));
        store.append(startup).await.context("writing the start-up record")?;

        let listener = TcpListener::bind(&config.http_addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.http_addr))?;
        let http_addr = listener.local_addr()?;
        let router = Router::new().route("/healthz", get(|| async { "ok" }));
        #[allow(unused_mut)] // connectors add their tasks below
        let mut tasks = vec![tokio::spawn(moderator.clone().watch_policy())];
        let _ = options;
        Ok(App {
            config,
            moderator,
            listener,
            router,
            http_addr,
            tasks,
        })
    }

    /// The address of the public HTTP listener.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The moderation pipeline.
    pub fn moderator(&self) -> &Arc<Moderator> {
        &self.moderator
    }

    /// The configuration the app was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Serves until `shutdown` resolves, then stops the connectors.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving HTTP")?;
        for t in self.tasks {
            t.abort();
        }
        Ok(())
    }
}
