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

/// A future run at shutdown (a connector closing its gateway or socket).
pub type ShutdownHook = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// A built, not yet running, linkguard service.
pub struct App {
    config: Config,
    moderator: Arc<Moderator>,
    listener: TcpListener,
    router: Router,
    http_addr: SocketAddr,
    metrics: Option<(TcpListener, SocketAddr)>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    on_shutdown: Vec<ShutdownHook>,
}

/// `/readyz`: ready only while the database answers and every configured
/// platform is connected.
async fn readyz(store: Store) -> (axum::http::StatusCode, String) {
    use axum::http::StatusCode;
    if let Err(e) = store.health().await {
        return (StatusCode::SERVICE_UNAVAILABLE, format!("database: {e}"));
    }
    if !crate::metrics::global().all_connected() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "a platform is not connected".into(),
        );
    }
    (StatusCode::OK, "ready".into())
}

/// `/metrics`, with the pending-action gauge counted at scrape time.
async fn metrics(store: Store) -> ([(axum::http::header::HeaderName, &'static str); 1], String) {
    if let Ok(p) = store.pending().await {
        crate::metrics::global().set_pending(p.len());
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        crate::metrics::global().render(),
    )
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
        // Before anything starts: without its servers Discord cannot tell
        // the company's events from anyone else's.
        if config
            .discord
            .as_ref()
            .is_some_and(|d| d.guild_ids.is_empty())
        {
            anyhow::bail!(crate::config::NO_GUILD_IDS);
        }
        let store = Store::open(
            config.database_url.expose(),
            StoreOptions::from_config(&config),
        )
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
        store
            .append(startup)
            .await
            .context("writing the start-up record")?;

        let listener = TcpListener::bind(&config.http_addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.http_addr))?;
        let http_addr = listener.local_addr()?;
        let ready_store = store.clone();
        #[allow(unused_mut)] // connectors merge their routes below
        let mut router = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(move || readyz(ready_store.clone())));
        let metrics = match &config.metrics_addr {
            Some(addr) => {
                let l = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} (metrics_addr)"))?;
                let a = l.local_addr()?;
                Some((l, a))
            }
            None => None,
        };
        #[allow(unused_mut)] // connectors add their tasks below
        let mut tasks = vec![tokio::spawn(moderator.clone().watch_policy())];
        #[allow(unused_mut)]
        let mut on_shutdown: Vec<ShutdownHook> = Vec::new();
        // ---- Slack connector (issue #4) ----
        if let Some(slack) = &config.slack {
            let connector = crate::slack::start(slack, moderator.clone())
                .await
                .context("starting the Slack connector")?;
            tasks.extend(connector.tasks);
            on_shutdown.push(connector.shutdown);
            if let Some(routes) = connector.router {
                router = router.merge(routes);
            }
        }
        // ---- end Slack connector ----
        // ---- Discord connector (issue #5) ----
        if let Some(discord) = &config.discord {
            let connector = crate::discord::start(
                discord,
                moderator.clone(),
                options.discord_http_client.clone(),
            )
            .await
            .context("starting the Discord connector")?;
            tasks.extend(connector.tasks);
            on_shutdown.push(connector.shutdown);
        }
        // ---- end Discord connector ----
        let _ = options;
        Ok(App {
            config,
            moderator,
            listener,
            router,
            http_addr,
            metrics,
            tasks,
            on_shutdown,
        })
    }

    /// The address of the public HTTP listener.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The address of the metrics listener, when one is configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(_, a)| *a)
    }

    /// The moderation pipeline.
    pub fn moderator(&self) -> &Arc<Moderator> {
        &self.moderator
    }

    /// The configuration the app was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Serves until `shutdown` resolves; then stops taking new events (HTTP
    /// listener closed, connectors closed cleanly), gives in-flight actions
    /// up to `shutdown_timeout_secs` to finish (what does not finish stays
    /// pending and the next start completes it), and returns.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let metrics_task = self.metrics.map(|(listener, _)| {
            let store = self.moderator.store().clone();
            let app = Router::new().route("/metrics", get(move || metrics(store.clone())));
            let mut rx = stop_rx.clone();
            tokio::spawn(async move {
                let stop = async move {
                    let _ = rx.wait_for(|s| *s).await;
                };
                if let Err(e) = axum::serve(listener, app)
                    .with_graceful_shutdown(stop)
                    .await
                {
                    tracing::error!(error = %e, "metrics listener failed");
                }
            })
        });
        let served = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving HTTP");
        let _ = stop_tx.send(true);
        for hook in self.on_shutdown {
            hook.await;
        }
        for t in &self.tasks {
            t.abort();
        }
        let timeout = std::time::Duration::from_secs(self.config.shutdown_timeout_secs);
        if self.moderator.drain(timeout).await {
            tracing::info!("in-flight actions finished");
        } else {
            tracing::warn!(
                timeout_secs = self.config.shutdown_timeout_secs,
                "some actions were still running; they stay pending and the next start finishes them"
            );
        }
        if let Some(t) = metrics_task {
            let _ = t.await;
        }
        self.moderator.store().close().await;
        served
    }
}
