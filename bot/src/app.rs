//! Start-up and the running service: `App::build` opens the store, loads the
//! policy, binds the public HTTP listener and starts the configured platform
//! connectors; `App::run_until_stopped` serves until the shutdown future
//! resolves. Tests build an `App` on port 0 and read its address back.

use crate::config::Config;
use crate::moderation::{ActivePolicy, Moderator};
use crate::store::{AuditEntry, Kind, Origin, Store, StoreOptions};
use anyhow::Context as _;
use axum::routing::get;
use axum::Router;
use linkguard_rules::policy::Policy;
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
    /// How pending actions are retried (tests: short back-offs and leases).
    /// `None`: the defaults.
    pub retry: Option<crate::moderation::RetrySettings>,
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
    if crate::metrics::global().recording_stalled() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "events are waiting to be recorded: the database does not answer".into(),
        );
    }
    (StatusCode::OK, "ready".into())
}

/// Forgets expired idempotency keys (event dedupe, slash-command replay
/// claims) at start and then every `every`, so the table holds only keys
/// that still protect something.
async fn purge_expired_keys(store: Store, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match store.purge_expired_keys().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(keys = n, "forgot expired idempotency keys"),
            Err(e) => {
                tracing::warn!(error = %e, "could not purge expired idempotency keys; retrying later")
            }
        }
    }
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

/// The policy in force at start-up: the file named by `policy` when one is
/// configured (stored as a new version if it changed, and then managing the
/// policy: chat and CLI edits are refused), else the stored active version,
/// else the built-in default.
pub async fn load_active_policy(store: &Store, config: &Config) -> anyhow::Result<ActivePolicy> {
    if let Some(path) = &config.policy_path {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read policy file {path}"))?;
        let policy = Policy::parse(path, &text)?;
        let imported = store
            .policy_from_file(path, &text)
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
    /// connectors named in `config`. Long because start-up is one ordered
    /// sequence (refuse, open, record, bind, connect), each step a few lines
    /// with its own error context.
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
        if config.policy_path.is_none() {
            // Only the service decides who manages the policy: a start
            // without `policy` hands it back to chat and the CLI.
            store
                .policy_release_file()
                .await
                .context("releasing the policy from file management")?;
        }
        match store.drop_payloads_of_finished_actions().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "dropped stored messages of finished actions"),
            Err(e) => tracing::warn!(error = %e, "cannot drop stored messages of finished actions"),
        }
        let moderator = Arc::new(
            Moderator::configured(store.clone(), active, &config)
                .with_retry(options.retry.unwrap_or_default()),
        );
        let mut startup = AuditEntry::new(Kind::Startup, Origin::Linkguard);
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
        // Often enough that a key never outlives its TTL by much, at most
        // every ten minutes.
        let purge_every =
            std::time::Duration::from_secs(config.dedupe_ttl_secs.clamp(1, 600) as u64);
        let mut tasks = vec![
            tokio::spawn(moderator.clone().watch_policy()),
            tokio::spawn(purge_expired_keys(store.clone(), purge_every)),
        ];
        let mut on_shutdown: Vec<ShutdownHook> = Vec::new();
        // The connectors fill in their admin checks for the console.
        let mut admins = crate::web::Admins::default();
        if let Some(slack) = &config.slack {
            let console_url = config.console.overview_url();
            let connector = crate::slack::start(slack, moderator.clone(), console_url)
                .await
                .context("starting the Slack connector")?;
            tasks.extend(connector.tasks);
            on_shutdown.push(connector.shutdown);
            if let Some(routes) = connector.router {
                router = router.merge(routes);
            }
            admins.slack = Some(connector.admins);
        }
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
            admins.discord = Some(connector.admins);
        }
        if let Some(console) = crate::web::router(
            &config,
            moderator.clone(),
            admins,
            options.discord_http_client.clone(),
        ) {
            router = router.merge(console);
        }
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
    /// listeners closed, connectors closed cleanly), gives in-flight actions
    /// what is left of `shutdown_timeout_secs` to finish (what does not
    /// finish stays pending and the next start completes it), and returns.
    /// The whole shutdown takes at most `shutdown_timeout_secs`, whatever
    /// HTTP clients, platforms or the database do.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        use tokio::time::{timeout_at, Instant};
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(None);
        let limits = crate::http::Limits::from_config(&self.config);
        let metrics_task = self.metrics.map(|(listener, _)| {
            let store = self.moderator.store().clone();
            let app = Router::new().route("/metrics", get(move || metrics(store.clone())));
            tokio::spawn(crate::http::serve(listener, app, limits, stop_rx.clone()))
        });
        let public = tokio::spawn(crate::http::serve(
            self.listener,
            self.router,
            limits,
            stop_rx,
        ));
        shutdown.await;
        let timeout = std::time::Duration::from_secs(self.config.shutdown_timeout_secs);
        let deadline = Instant::now() + timeout;
        let _ = stop_tx.send(Some(deadline));
        let hooks = futures::future::join_all(self.on_shutdown);
        if timeout_at(deadline, hooks).await.is_err() {
            tracing::warn!("a connector did not close in time; leaving it");
        }
        // Bounded by the deadline inside.
        let _ = public.await;
        for t in &self.tasks {
            t.abort();
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if self.moderator.drain(left).await {
            tracing::info!("in-flight actions finished");
        } else {
            tracing::warn!(
                timeout_secs = self.config.shutdown_timeout_secs,
                "some actions were still running; they stay pending and the next start finishes them"
            );
        }
        if let Err(e) = self.moderator.release_idle_leases().await {
            tracing::warn!(error = %e, "cannot release the leases of unfinished actions; they are taken over when the leases run out");
        }
        if let Some(t) = metrics_task {
            let _ = t.await;
        }
        if timeout_at(deadline, self.moderator.store().close())
            .await
            .is_err()
        {
            tracing::warn!("the database connections did not close in time");
        }
        Ok(())
    }
}
