//! Start-up and shutdown: the library's `Application`, shared by `finpulse serve` and the tests.
//!
//! `build` opens every backend and binds the listener (port 0 picks a free one);
//! `run_until_stopped` serves until the shutdown token is cancelled, then drains: the listener
//! stops accepting, sockets are closed with 1001, the processor finishes its batch and commits,
//! and every task is awaited.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use finpulse_bus::runtime::{Registry, Runtime};
use finpulse_bus::{EventLog, FanOut, MemoryLog, RedisFanOut, StreamMetrics};
use finpulse_graph::GraphContext;
use finpulse_graph::ai::{AiContext, ModelBudget};
use finpulse_market::processor::{MARKET_GROUP, StoreParking};
use finpulse_remote_inference::{INFERENCE, InferenceProcessor};
use finpulse_store::Repositories;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::auth::Authenticator;
use crate::config::Config;
use crate::http::client_address::TrustedProxies;
use crate::http::rate::RateLimits;
use crate::metrics::GatewayMetrics;
use crate::operation::Preparer;
use crate::server::{ConnectionLimits, ServeOptions};
use crate::ws::shared::SharedSubscriptions;
use crate::ws::{SocketContext, SocketLimits};

use crate::backends::{bind, load_models, open_fanout, open_log, remote_models};
pub use crate::backends::{open_repositories, open_store};
pub use crate::state::AppState;

pub use finpulse_market::domain::MarketSource;

/// A built, bound, not yet serving finpulse.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    tasks: JoinSet<anyhow::Result<()>>,
    /// The in-process log when it is the one in use, closed last on shutdown.
    memory_log: Option<MemoryLog>,
    /// The Redis fan-out when it is the one in use, stopped last on shutdown.
    redis_fanout: Option<Arc<RedisFanOut>>,
    /// TLS on the listener, when configured.
    tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Watches a running application from outside (the CLI, tests).
#[derive(Clone)]
pub struct AppHandle {
    shutdown: CancellationToken,
    state: AppState,
}

impl AppHandle {
    /// The event log, to publish events into a running application.
    pub fn log(&self) -> Arc<dyn EventLog> {
        self.state.log.clone()
    }

    /// The fan-out the sockets listen to.
    pub fn fanout(&self) -> Arc<dyn FanOut> {
        self.state.fanout.clone()
    }

    /// The repositories.
    pub fn store(&self) -> Repositories {
        self.state.store.clone()
    }

    /// Token minting and verification.
    pub fn auth(&self) -> Arc<Authenticator> {
        self.state.auth.clone()
    }

    /// Stops the application gracefully.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Waits until every tick appended so far has been processed and committed.
    pub async fn wait_until_drained(&self) {
        let topic = finpulse_market::events::TICKS_TOPIC;
        loop {
            match self.state.log.group_lag(topic, MARKET_GROUP).await {
                Ok(0) | Err(_) => return,
                Ok(_) if self.shutdown.is_cancelled() => return,
                Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        }
    }
}

impl Application {
    /// Opens every backend, starts the pipeline tasks and binds `config.listen`.
    pub async fn build(config: Config, source: MarketSource) -> anyhow::Result<Self> {
        let shutdown = CancellationToken::new();
        let metrics = GatewayMetrics::new().context("failed to register gateway metrics")?;
        let stream_metrics = StreamMetrics::register(&metrics.registry)
            .context("failed to register stream metrics")?;
        let store = open_repositories(&config, &metrics).await?;
        let (log, memory_log) = open_log(&config)?;
        let (fanout, redis_fanout) = open_fanout(&config, &stream_metrics).await?;
        let mut auth = Authenticator::from_config(&config.auth, &config.data_dir)
            .context("failed to set up authentication")?;
        if let Some(provider) = &config.auth.oidc {
            auth = auth
                .with_identity_provider(provider)
                .await
                .context("failed to reach the identity provider (auth.oidc)")?;
        }
        let auth = Arc::new(auth);
        let settings = &config.inference;
        // Models run where requests are answered: in the gateway, or on the workers when remote.
        let runs_models = settings.enabled
            && if settings.remote {
                config.role.runs_processors()
            } else {
                config.role.serves_clients()
            };
        let models = match runs_models {
            true => Some(load_models(&config, &metrics).await?),
            false => None,
        };
        let backends = crate::domains::backends(
            &config,
            store.clone(),
            log.clone(),
            fanout.clone(),
            stream_metrics.clone(),
            models.clone(),
            metrics.registry.clone(),
        )?;
        let domains = crate::domains::Domains::open(&config, &backends, source).await?;
        let graph_context = domains.serve(GraphContext::new(
            &store,
            fanout.clone(),
            config.market.known_symbols(),
        ));
        let mut schema = finpulse_graph::schema_builder(graph_context);
        if settings.enabled && settings.remote {
            log.ensure_topic(INFERENCE.topic, config.log.partitions)
                .await?;
            log.ensure_topic(INFERENCE.dead_letter_topic, config.log.partitions)
                .await?;
        }
        let mut reply_listener = None;
        let model_budget = ModelBudget::new(
            config.limits.model_units_per_minute,
            config.limits.model_unit_burst,
        );
        if config.role.serves_clients() && settings.enabled {
            let mut ai = match &models {
                Some(models) if !settings.remote => AiContext {
                    embeddings: Arc::new(models.embedder(None)?),
                    models: models.models(),
                    budget: None,
                },
                _ => {
                    let (ai, listener) =
                        remote_models(&config, log.clone(), fanout.clone(), shutdown.clone())?;
                    reply_listener = Some(listener);
                    ai
                }
            };
            ai.budget = Some(model_budget.clone());
            schema = schema.data(ai);
        }
        let schema = schema.finish();

        let mut tasks = JoinSet::new();
        // Every processor this role runs, registered by its domain, started alike.
        let runtime = Runtime::new(
            log.clone(),
            stream_metrics.clone(),
            Some(Arc::new(StoreParking(store.dead_letters.clone()))),
        );
        let mut registry = Registry::new(runtime, shutdown.clone());
        domains
            .start(
                &config,
                &backends,
                &mut finpulse_domain::Jobs::new(&mut registry, &mut tasks, shutdown.clone()),
            )
            .await?;
        if let (Some(models), true) = (models, settings.remote) {
            registry
                .register(INFERENCE, InferenceProcessor::new(models, fanout.clone()))
                .await?;
        }
        for (group, running) in registry.into_processors() {
            tasks.spawn(async move {
                running
                    .await
                    .with_context(|| format!("processor {group} failed"))
            });
        }
        if let Some(listener) = reply_listener {
            tasks.spawn(async move { listener.await.context("inference reply listener panicked") });
        }

        let tls = match (&config.tls.cert, &config.tls.key) {
            (Some(cert), Some(key)) => {
                metrics
                    .registry
                    .register(Box::new(metrics.tls_certificate_expiry.clone()))
                    .context("failed to register the certificate expiry gauge")?;
                let certificate = crate::tls::ReloadingCertificate::load(
                    cert,
                    key,
                    metrics.tls_certificate_expiry.clone(),
                )
                .context("failed to load the TLS certificate")?;
                let acceptor = crate::tls::acceptor(certificate.clone())?;
                let every = std::time::Duration::from_secs_f64(config.tls.reload_secs);
                let watching =
                    certificate.watch(every, metrics.tls_reloads.clone(), shutdown.clone());
                tasks.spawn(async move {
                    watching.await;
                    Ok(())
                });
                info!(cert = %cert.display(), "TLS on: HTTPS and wss://");
                Some(acceptor)
            }
            _ => None,
        };
        let sign_in = match (
            config.auth.oidc.as_ref().and_then(|o| o.login.clone()),
            auth.identity_provider(),
        ) {
            (Some(login), Some(provider)) => {
                let flow = Arc::new(
                    crate::auth::sign_in::SignIn::new(login, provider, store.sign_in.clone())
                        .map_err(|e| anyhow::anyhow!(e))
                        .context("failed to set up sign-in (auth.oidc.login)")?,
                );
                let (purging, token) = (flow.clone(), shutdown.clone());
                tasks.spawn(async move {
                    // Attempts never finished and sessions that ended, every ten minutes.
                    let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
                    loop {
                        tokio::select! {
                            _ = token.cancelled() => return Ok(()),
                            _ = every.tick() => {}
                        }
                        if let Err(e) = purging.purge().await {
                            tracing::warn!(error = %e, "failed to purge ended sign-ins");
                        }
                    }
                });
                info!(origin = %flow.origin(), "sign-in through the identity provider at /auth/login");
                Some(flow)
            }
            _ => None,
        };
        let listener =
            bind(config.listen).with_context(|| format!("failed to bind {}", config.listen))?;
        let preparer = Preparer::new(config.graphql.clone());
        let socket = Arc::new(SocketContext {
            shared: SharedSubscriptions::new(schema.clone(), metrics.clone()),
            schema: schema.clone(),
            auth: auth.clone(),
            metrics: metrics.clone(),
            config: config.websocket.clone(),
            shutdown: shutdown.clone(),
            preparer: preparer.clone(),
            places: SocketLimits::new(config.limits.sockets_per_ip, config.limits.sockets_per_user),
            message_quota: crate::http::rate::quota(
                config.limits.socket_messages_per_second,
                config.limits.socket_message_burst,
            ),
        });
        let state = AppState {
            schema,
            auth,
            metrics,
            store,
            log,
            fanout,
            websocket: config.websocket.clone(),
            preparer,
            rates: RateLimits::new(&config.limits, model_budget),
            socket,
            limits: config.limits.clone(),
            proxies: TrustedProxies::new(&config.limits.trusted_proxies),
            sign_in,
            hsts: config
                .tls
                .hsts()
                .and_then(|value| axum::http::HeaderValue::from_str(&value).ok()),
            dev_tokens: match config.dev_tokens() {
                Ok(offered) => {
                    info!(
                        admin = offered == crate::config::DevTokens::Admin,
                        "development tokens served on loopback (POST /dev/token)"
                    );
                    Some(offered)
                }
                Err(why) => {
                    info!(reason = why, "development tokens are off");
                    None
                }
            },
            shutdown,
        };
        Ok(Self {
            listener,
            router: crate::http::router(state.clone(), config.role, config.cors.layer()),
            state,
            tasks,
            memory_log,
            redis_fanout,
            tls,
        })
    }

    /// A handle to stop or watch the application once it runs.
    pub fn handle(&self) -> AppHandle {
        AppHandle {
            shutdown: self.state.shutdown.clone(),
            state: self.state.clone(),
        }
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default()
    }

    /// Cancel it to stop the application gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.state.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled, then drains.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Self {
            listener,
            router,
            state,
            mut tasks,
            memory_log,
            redis_fanout,
            tls,
        } = self;
        info!(address = %listener.local_addr()?, "finpulse listening");
        let shutdown = state.shutdown.clone();
        let send_buffer = state.websocket.socket_send_buffer_bytes;
        let tap = move |stream: &tokio::net::TcpStream| {
            // Pushes are small and latency matters more than packet count.
            if let Err(e) = stream.set_nodelay(true) {
                warn!(error = %e, "failed to set TCP_NODELAY");
            }
            if let Some(bytes) = send_buffer
                && let Err(e) = socket2::SockRef::from(stream).set_send_buffer_size(bytes)
            {
                warn!(error = %e, "failed to set the socket send buffer");
            }
        };
        let options = ServeOptions {
            header_read_timeout: std::time::Duration::from_secs_f64(
                state.limits.header_read_timeout_secs,
            ),
            connections: ConnectionLimits::new(
                state.limits.connections_per_ip,
                state.limits.max_connections,
            ),
            refused: state.metrics.refused_connections.clone(),
            proxies: state.proxies.clone(),
            tls,
            tls_failures: state.metrics.tls_handshake_failures.clone(),
            tap: Box::new(tap),
            drain_timeout: std::time::Duration::from_secs(10),
        };
        let server = tokio::spawn(crate::server::serve(
            listener,
            router,
            options,
            shutdown.clone(),
        ));
        let rates = state.rates.clone();
        let forgetting = shutdown.clone();
        tasks.spawn(async move {
            // Rate-limit buckets of clients that went quiet are dropped once a minute.
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = forgetting.cancelled() => return Ok(()),
                    _ = every.tick() => rates.forget_idle(),
                }
            }
        });
        let mut failure = None;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(joined) = tasks.join_next() => match joined {
                    // A replay that reached the end of its file: keep serving what it produced.
                    Ok(Ok(())) => info!("pipeline task finished"),
                    // Anything else takes the platform down rather than serving stale data.
                    Ok(Err(e)) => {
                        failure = Some(e);
                        break;
                    }
                    Err(e) => {
                        failure = Some(anyhow::Error::new(e).context("pipeline task panicked"));
                        break;
                    }
                },
            }
        }
        shutdown.cancel();
        if let Err(e) = server.await {
            error!(error = %e, "http server panicked");
        }
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(e)) => error!(error = format!("{e:#}"), "task failed during shutdown"),
                Err(e) => error!(error = %e, "task panicked during shutdown"),
            }
        }
        if let Some(memory_log) = memory_log {
            memory_log.close();
        }
        if let Some(redis_fanout) = redis_fanout {
            redis_fanout.shutdown().await;
        }
        info!("finpulse stopped");
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
