//! Wires the engine to a tonic server: the services, gRPC health and
//! server reflection, message-size limits and keepalive, every call
//! counted and timed; and the metrics port.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic_health::pb::health_server::{Health, HealthServer};

use crate::api::Api;
use crate::config::{Config, ConfigError, TlsConfig};
use crate::core::clock::Clock;
use crate::core::limits::{
    CLAWBACK_BATCHES_PER_CALL_MAX, GRPC_MESSAGE_BYTES_MAX, KEEPALIVE_INTERVAL, KEEPALIVE_TIMEOUT,
};
use crate::engine::{Engine, EngineConfig};
use crate::proto::{
    admin_service_server::AdminServiceServer, ledger_service_server::LedgerServiceServer,
    payment_service_server::PaymentServiceServer, reconciliation_service_server::ReconciliationServiceServer,
    wallet_service_server::WalletServiceServer,
};
use crate::store::StoreError;
use crate::store::file_backend::{LedgerStorage, StorageFaults};

/// How long a stopping server waits for open calls and streams to finish
/// before closing their connections. Admitted payments are answered or, if
/// the connection is gone, committed all the same.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long an accepted connection may take to say its first bytes and to
/// finish a TLS handshake: an idle socket holds no slot past it.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("binding {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("cluster: {0}")]
    Cluster(String),
}

/// What a test or a simulation injects into a server, where its parts are
/// built: never read from an operator's configuration (no file, variable or
/// flag sets any of it), so that no test rig can reach a production server.
/// `Rigs::default()` is what `Server::start` uses.
#[derive(Clone, Default)]
pub struct Rigs {
    /// Writes or fsyncs that fail on demand under the data file.
    pub storage_faults: Option<StorageFaults>,
    /// The ledger on another redb backend instead of the data file (a
    /// simulated disk, to cut the power under a real server): called at
    /// every start.
    pub backend: Option<BackendFactory>,
    /// The engine's clock (tests skew it).
    pub clock: Clock,
    /// Smaller bounds than the production ones, so that a test reaches
    /// them: the verify queue (`VERIFY_QUEUE_MAX`), the steps of one
    /// clawback call (`CLAWBACK_BATCHES_PER_CALL_MAX`), the time a stream's
    /// client may leave a result untaken (`STREAM_STALL_TIMEOUT`).
    pub verify_queue_max: Option<usize>,
    pub clawback_steps_per_call: Option<usize>,
    pub stream_stall_timeout: Option<Duration>,
    /// Merge the random-key tables every (entries, blocks, least entries per
    /// commit) instead of `INDEX_UNMERGED_*_MAX`.
    pub index_merge_every: Option<(u64, u64, usize)>,
    /// Cluster mode: snapshot every this many entries, keeping that many
    /// behind it (instead of `SNAPSHOT_EVERY_ENTRIES`,
    /// `LOG_KEPT_AFTER_SNAPSHOT`).
    pub raft_compaction: Option<(u64, u64)>,
    /// Cluster mode: faults on this replica's Raft messages.
    pub network_faults: Option<crate::cluster::NetworkFaults>,
}

/// Makes the storage backend a server's ledger lives on ([`Rigs::backend`]).
pub type BackendFactory = Arc<dyn Fn() -> Box<dyn redb::StorageBackend> + Send + Sync>;

/// A node that starts with no Raft files must not rejoin under an id whose
/// log entries a leader has seen acknowledged: it would come back without
/// its log and its vote, and Raft's majorities would no longer overlap (a
/// confirmed payment could be lost). It rejoins under a new id instead.
async fn refuse_lost_voter(
    cluster: &crate::config::ClusterConfig,
    tls: &crate::cluster::PeerTls,
) -> Result<(), ServerError> {
    for member in cluster.members.iter().filter(|m| m.id != cluster.node_id) {
        let asked = crate::cluster::peer_status(&member.raft_addr, member.id, cluster.node_id, tls).await;
        let Ok(status) = asked else { continue };
        if status.caller_matched && status.caller_matched_index > 0 {
            return Err(ServerError::Cluster(format!(
                "this replica has no Raft files, but leader {} has seen node {} acknowledge the log up to entry {}: \
                 its files were lost. Rejoin under a new id: `settled cluster remove --id {}`, then \
                 `settled cluster join-config` and `settled cluster add` with another id",
                member.id, cluster.node_id, status.caller_matched_index, cluster.node_id
            )));
        }
    }
    Ok(())
}

/// Cluster mode: the node's Raft and the task tying the engine to it.
struct ClusterParts {
    node: crate::cluster::Node,
    link: JoinHandle<()>,
}

/// Opens the ledger and starts the engine's threads (off the async
/// runtime: recovery reads the whole unspent set). In a cluster the engine
/// replicates through `node`.
async fn start_engine(
    config: &Config,
    resolved: crate::config::Resolved,
    rigs: &Rigs,
    node: Option<&crate::cluster::Node>,
) -> Result<Arc<Engine>, StoreError> {
    let storage = match &rigs.backend {
        Some(backend) => LedgerStorage::Backend(backend()),
        None => LedgerStorage::File {
            path: resolved.data_file.clone(),
            faults: rigs.storage_faults.clone().unwrap_or_default(),
        },
    };
    let replicator = node.map(|node| {
        Arc::new(crate::cluster::RaftReplicator::new(node.raft().clone(), tokio::runtime::Handle::current()))
            as Arc<dyn crate::engine::Replicator>
    });
    let engine_config = EngineConfig {
        storage,
        genesis: resolved.genesis,
        engine_key: resolved.engine_key,
        verify_threads: config.verify_threads,
        tiers: resolved.tiers,
        clock: rigs.clock.clone(),
        verify_queue_max: rigs.verify_queue_max.unwrap_or(crate::core::limits::VERIFY_QUEUE_MAX),
        index_merge_every: rigs.index_merge_every,
        genesis_time_unix_ms: config.cluster.as_ref().map(|cluster| cluster.genesis_time_unix_ms),
        replicator,
    };
    tokio::task::spawn_blocking(move || Engine::start(engine_config)).await.expect("engine start does not panic")
}

/// Hands the engine's store to the Raft node (for snapshots and block
/// fetches) and starts the link that feeds committed blocks to the engine.
fn join_cluster(
    node: crate::cluster::Node,
    cluster: &crate::config::ClusterConfig,
    engine: &Arc<Engine>,
) -> Result<ClusterParts, ServerError> {
    node.block_source().set(Arc::clone(engine.store_arc()), engine.engine_keypair().clone());
    let link = crate::cluster::spawn_link(
        Arc::clone(engine),
        node.raft().clone(),
        node.proposals().clone(),
        cluster.node_id,
        crate::cluster::PeerTls::of(cluster)?,
    );
    Ok(ClusterParts { node, link })
}

/// The services health reports on besides the payment service (which
/// only a leader serves): every other service of the public API.
const READ_SERVICES: [&str; 5] = [
    <WalletServiceServer<Api> as tonic::server::NamedService>::NAME,
    <AdminServiceServer<Api> as tonic::server::NamedService>::NAME,
    <LedgerServiceServer<Api> as tonic::server::NamedService>::NAME,
    <ReconciliationServiceServer<Api> as tonic::server::NamedService>::NAME,
    <crate::proto::alert_service_server::AlertServiceServer<Api> as tonic::server::NamedService>::NAME,
];

/// The gRPC health service, kept current by a task: every service (and
/// the whole server, "") NOT_SERVING after a fail-stop; in a cluster, the
/// payment service SERVING on the leader only (a follower refuses payments
/// but serves reads).
async fn health_service(engine: &Engine) -> HealthServer<impl Health> {
    use tonic_health::ServingStatus;
    let (health, health_service) = tonic_health::server::health_reporter();
    let mut engine_health = engine.health();
    let mut leading = engine.leading_changes();
    let report = async move |health: &tonic_health::server::HealthReporter, serving: bool, payments: bool| {
        let status = |up: bool| if up { ServingStatus::Serving } else { ServingStatus::NotServing };
        health
            .set_service_status(<PaymentServiceServer<Api> as tonic::server::NamedService>::NAME, status(payments))
            .await;
        for service in READ_SERVICES {
            health.set_service_status(service, status(serving)).await;
        }
        health.set_service_status("", status(serving)).await;
    };
    let serving = *engine_health.borrow_and_update();
    report(&health, serving, serving && *leading.borrow_and_update()).await;
    tokio::spawn(async move {
        loop {
            let serving = *engine_health.borrow_and_update();
            let payments = serving && *leading.borrow_and_update();
            report(&health, serving, payments).await;
            tokio::select! {
                changed = engine_health.changed() => if changed.is_err() { return },
                changed = leading.changed() => if changed.is_err() { return },
            }
        }
    });
    health_service
}

/// Serves the public API on `listener` until `stopped`: its TLS,
/// keepalive, connection and per-connection bounds, health, reflection and
/// the five services.
fn spawn_api(
    config: &Config,
    api: Api,
    health: HealthServer<impl Health>,
    listener: tokio::net::TcpListener,
    stopped: oneshot::Receiver<()>,
) -> Result<ServeTask, ServerError> {
    // The services are named: the descriptor set also declares
    // settled.v1.RaftService, which nodes serve to each other on their
    // own port (cluster::Node), never here.
    // Reflection in both versions tools speak: v1 (grpcurl) and v1alpha
    // (Postman, Evans).
    let reflection = || {
        let mut builder = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name(<PaymentServiceServer<Api> as tonic::server::NamedService>::NAME)
            .with_service_name("grpc.health.v1.Health")
            .with_service_name("grpc.reflection.v1.ServerReflection")
            .with_service_name("grpc.reflection.v1alpha.ServerReflection");
        for service in READ_SERVICES {
            builder = builder.with_service_name(service);
        }
        builder
    };
    let reflection_v1 = reflection().build_v1().expect("the embedded descriptor set is valid");
    let reflection_v1alpha = reflection().build_v1alpha().expect("the embedded descriptor set is valid");
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &config.tls {
        builder = builder.tls_config(server_tls(tls)?).map_err(|e| ServerError::Tls(e.to_string()))?;
    }
    // Outermost, so that a call is counted with the status its client gets.
    let grpc_metrics = api.engine.metrics().grpc_layer(crate::metrics::GrpcMethods::new(served_methods()));
    let mut builder = builder
        .layer(grpc_metrics)
        .layer(tower::util::MapResponseLayer::new(oversized_is_resource_exhausted))
        .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        .max_concurrent_streams(Some(crate::core::limits::CALLS_PER_CONNECTION_MAX));
    let router = settled_services(&mut builder, &api)
        .add_service(WalletServiceServer::new(api).max_decoding_message_size(GRPC_MESSAGE_BYTES_MAX))
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    // A connection past the limit is closed at once: the accepted socket
    // is dropped before any byte is read; one silent past the handshake
    // deadline is closed then.
    let bounds = crate::connections::Bounds {
        max: config.connections_max,
        per_address_max: None,
        first_bytes_within: TLS_HANDSHAKE_TIMEOUT,
    };
    let incoming = crate::connections::limited(listener, bounds, "api");
    Ok(tokio::spawn(router.serve_with_incoming_shutdown(incoming, async {
        let _ = stopped.await;
    })))
}

type ServeTask = JoinHandle<Result<(), tonic::transport::Error>>;

/// The Settled services both ports serve (the console's layer then lets
/// only its reads through), each with the message limit.
fn settled_services<L: Clone>(
    server: &mut tonic::transport::Server<L>,
    api: &Api,
) -> tonic::transport::server::Router<L> {
    server
        .add_service(PaymentServiceServer::new(api.clone()).max_decoding_message_size(GRPC_MESSAGE_BYTES_MAX))
        .add_service(AdminServiceServer::new(api.clone()).max_decoding_message_size(GRPC_MESSAGE_BYTES_MAX))
        .add_service(LedgerServiceServer::new(api.clone()).max_decoding_message_size(GRPC_MESSAGE_BYTES_MAX))
        .add_service(ReconciliationServiceServer::new(api.clone()).max_decoding_message_size(GRPC_MESSAGE_BYTES_MAX))
        .add_service(
            crate::proto::alert_service_server::AlertServiceServer::new(api.clone())
                .max_decoding_message_size(GRPC_MESSAGE_BYTES_MAX),
        )
}

/// Serves the web console on `listener` until `stopped` (`src/console/`):
/// its page, and gRPC-Web for the reads it makes, through the same services,
/// credentials, limits and call metrics as the API; over TLS with the API's
/// certificate when `[tls]` is configured.
fn spawn_console(
    config: &Config,
    api: Api,
    listener: tokio::net::TcpListener,
    stopped: oneshot::Receiver<()>,
) -> Result<ServeTask, ServerError> {
    use crate::core::limits::{
        CONSOLE_CALLS_PER_CONNECTION_MAX, CONSOLE_CONNECTIONS_MAX, CONSOLE_CONNECTIONS_PER_ADDRESS_MAX,
    };
    let mut builder = tonic::transport::Server::builder().accept_http1(true);
    if let Some(tls) = &config.tls {
        // The API's certificate, but no client certificate asked for: the
        // console signs in with a token, and a browser's certificate must
        // not become a credential it sends by itself, as a cookie would.
        let tls = TlsConfig { client_ca_file: None, ..tls.clone() };
        builder = builder.tls_config(server_tls(&tls)?).map_err(|e| ServerError::Tls(e.to_string()))?;
    }
    let grpc_metrics = api.engine.metrics().grpc_layer(crate::metrics::GrpcMethods::new(served_methods()));
    let mut builder = builder
        .layer(crate::console::ConsoleLayer { tls: config.tls.is_some() })
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(grpc_metrics)
        .layer(tower::util::MapResponseLayer::new(oversized_is_resource_exhausted))
        .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        .max_concurrent_streams(Some(CONSOLE_CALLS_PER_CONNECTION_MAX));
    let router = settled_services(&mut builder, &api);
    let bounds = crate::connections::Bounds {
        max: CONSOLE_CONNECTIONS_MAX,
        per_address_max: Some(CONSOLE_CONNECTIONS_PER_ADDRESS_MAX),
        first_bytes_within: TLS_HANDSHAKE_TIMEOUT,
    };
    let incoming = crate::connections::limited(listener, bounds, "console");
    Ok(tokio::spawn(router.serve_with_incoming_shutdown(incoming, async {
        let _ = stopped.await;
    })))
}

/// The services `spawn_api` serves, by full name.
fn served_services() -> Vec<&'static str> {
    let mut services = vec![
        <PaymentServiceServer<Api> as tonic::server::NamedService>::NAME,
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ];
    services.extend(READ_SERVICES);
    services
}

/// Every path the API port serves (`/package.Service/Method`), read off
/// the descriptor sets of the services `spawn_api` adds: the gRPC metrics
/// name these and count any other path as unknown.
pub(crate) fn served_methods() -> Vec<String> {
    use prost::Message as _;
    let services = served_services();
    let sets = [
        crate::proto::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
    ];
    let mut methods = Vec::new();
    for set in sets {
        let set = prost_types::FileDescriptorSet::decode(set).expect("the embedded descriptor sets are valid");
        for file in &set.file {
            for service in &file.service {
                let name = format!("{}.{}", file.package(), service.name());
                if services.contains(&name.as_str()) {
                    methods.extend(service.method.iter().map(|method| format!("/{name}/{}", method.name())));
                }
            }
        }
    }
    methods
}

/// `GET /metrics` and the probes on their own listener.
async fn serve_metrics(address: SocketAddr, engine: &Arc<Engine>) -> Result<(SocketAddr, JoinHandle<()>), ServerError> {
    let listener = tokio::net::TcpListener::bind(address).await.map_err(|e| ServerError::Bind(address, e))?;
    let bound = listener.local_addr().map_err(|e| ServerError::Bind(address, e))?;
    let engine = Arc::clone(engine);
    let ready = Arc::clone(&engine);
    let task = tokio::spawn(crate::metrics::serve(
        listener,
        move |format| engine.render_metrics_as(format),
        move || !ready.failed(),
    ));
    tracing::info!(%bound, "metrics on http://{bound}/metrics (probes: /healthz, /readyz)");
    Ok((bound, task))
}

/// Starts this replica's Raft node on its own port and, on the first start
/// of the member with the lowest id, initialises the cluster.
async fn start_node(
    config: &Config,
    cluster: &crate::config::ClusterConfig,
    rigs: &Rigs,
) -> Result<crate::cluster::Node, ServerError> {
    let tls = crate::cluster::PeerTls::of(cluster)?;
    if !config.data_dir.join(crate::cluster::LOG_FILE).exists() {
        refuse_lost_voter(cluster, &tls).await?;
    }
    let listener = tokio::net::TcpListener::bind(cluster.raft_listen)
        .await
        .map_err(|e| ServerError::Bind(cluster.raft_listen, e))?;
    let (snapshot_every, kept) = rigs
        .raft_compaction
        .unwrap_or((crate::cluster::SNAPSHOT_EVERY_ENTRIES, crate::cluster::LOG_KEPT_AFTER_SNAPSHOT));
    let raft_config = Arc::new(
        crate::cluster::raft_config_compacting(&cluster.name, snapshot_every, kept)
            .map_err(|e| ServerError::Cluster(e.to_string()))?,
    );
    let peers = crate::cluster::Peers {
        tls,
        founders: cluster.members.iter().map(|member| member.id).collect(),
        faults: rigs.network_faults.clone(),
    };
    let node = crate::cluster::Node::start(cluster.node_id, &config.data_dir, listener, raft_config, peers)
        .await
        .map_err(|e| ServerError::Cluster(e.to_string()))?;
    let initialised = node.raft().is_initialized().await.map_err(|e| ServerError::Cluster(e.to_string()))?;
    if cluster.initialises() && !initialised {
        match node.raft().initialize(crate::cluster::initial_members(cluster)).await {
            Ok(()) => tracing::info!(members = cluster.members.len(), "cluster initialised"),
            Err(openraft::error::RaftError::APIError(openraft::error::InitializeError::NotAllowed(_))) => {}
            Err(error) => return Err(ServerError::Cluster(error.to_string())),
        }
    }
    Ok(node)
}

/// The server's TLS identity and, with a client CA, optional client
/// certificates: a caller may still authenticate with a bearer token.
fn server_tls(tls: &TlsConfig) -> Result<tonic::transport::ServerTlsConfig, ServerError> {
    let read =
        |path: &std::path::Path| std::fs::read(path).map_err(|e| ServerError::Tls(format!("{}: {e}", path.display())));
    let identity = tonic::transport::Identity::from_pem(read(&tls.cert_file)?, read(&tls.key_file)?);
    let mut config = tonic::transport::ServerTlsConfig::new().identity(identity).timeout(TLS_HANDSHAKE_TIMEOUT);
    if let Some(ca) = &tls.client_ca_file {
        config = config.client_ca_root(tonic::transport::Certificate::from_pem(read(ca)?)).client_auth_optional(true);
    }
    Ok(config)
}

/// tonic refuses a request message over the decoding limit with
/// `OUT_OF_RANGE` before any handler runs; our contract is that a request
/// over a limit is `RESOURCE_EXHAUSTED`. Only that refusal is rewritten, on
/// the (trailers-only) response, recognised by tonic's message: handlers
/// answer `OUT_OF_RANGE` of their own (a height past the tip).
fn oversized_is_resource_exhausted<B>(mut response: http::Response<B>) -> http::Response<B> {
    let out_of_range = http::HeaderValue::from_static("11");
    let too_large = response.headers().get("grpc-message").is_some_and(|message| {
        let bytes = message.as_bytes();
        [b"too%20large".as_slice(), b"too large".as_slice()]
            .iter()
            .any(|needle| bytes.windows(needle.len()).any(|w| w == *needle))
    });
    if too_large && response.headers().get("grpc-status") == Some(&out_of_range) {
        response.headers_mut().insert("grpc-status", http::HeaderValue::from_static("8"));
    }
    response
}

/// A running server. Dropping it without `shutdown` leaves it running until
/// the runtime stops.
pub struct Server {
    local_addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    metrics_task: Option<JoinHandle<()>>,
    /// The console's address, and how to stop it (`console_listen`).
    console: Option<(SocketAddr, oneshot::Sender<()>, ServeTask)>,
    engine: Arc<Engine>,
    cluster: Option<ClusterParts>,
    stop: oneshot::Sender<()>,
    stopping: tokio::sync::watch::Sender<bool>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
    /// The integrity detector's thread (`[integrity] enabled`).
    detector: Option<JoinHandle<()>>,
}

/// Starts the integrity detector on a blocking thread: it reads durable
/// blocks off the payment path until the server stops.
fn spawn_detector(
    config: &Config,
    engine: &Arc<Engine>,
    alerts: tokio::sync::watch::Sender<u64>,
    stopping: tokio::sync::watch::Receiver<bool>,
) -> Result<JoinHandle<()>, ServerError> {
    let detector = config.integrity.detector()?;
    let (engine, runtime) = (Arc::clone(engine), tokio::runtime::Handle::current());
    Ok(tokio::task::spawn_blocking(move || {
        crate::api::alerts::run_detector(&engine, detector, &alerts, stopping, &runtime);
    }))
}

impl Server {
    /// Opens the ledger, binds the listen address and starts serving.
    ///
    /// # Errors
    /// Invalid configuration, storage failures, or an address in use.
    pub async fn start(config: Config) -> Result<Self, ServerError> {
        Self::start_rigged(config, Rigs::default()).await
    }

    /// [`Server::start`] with what a test injects (the `dev` feature).
    ///
    /// # Errors
    /// As [`Server::start`].
    #[cfg(feature = "dev")]
    pub async fn start_with(config: Config, rigs: Rigs) -> Result<Self, ServerError> {
        Self::start_rigged(config, rigs).await
    }

    async fn start_rigged(config: Config, rigs: Rigs) -> Result<Self, ServerError> {
        for warning in config.exposure()? {
            tracing::warn!("{warning}");
        }
        let resolved = config.resolve()?;
        let credentials = Arc::new(resolved.credentials.clone());
        // Bound first: nothing below is left running if the address is taken.
        let listener =
            tokio::net::TcpListener::bind(config.listen).await.map_err(|e| ServerError::Bind(config.listen, e))?;
        let local_addr = listener.local_addr().map_err(|e| ServerError::Bind(config.listen, e))?;
        let console_listener = match config.console_listen {
            Some(address) => {
                let listener =
                    tokio::net::TcpListener::bind(address).await.map_err(|e| ServerError::Bind(address, e))?;
                Some((listener.local_addr().map_err(|e| ServerError::Bind(address, e))?, listener))
            }
            None => None,
        };
        let node = match &config.cluster {
            Some(cluster) => Some(start_node(&config, cluster, &rigs).await?),
            None => None,
        };
        let engine = start_engine(&config, resolved, &rigs, node.as_ref()).await;
        let engine = match engine {
            Ok(engine) => engine,
            Err(error) => {
                if let Some(node) = node
                    && let Err(stop) = node.shutdown().await
                {
                    tracing::error!(%stop, "stopping the raft node");
                }
                return Err(error.into());
            }
        };
        let cluster = match (node, &config.cluster) {
            (Some(node), Some(cluster)) => Some(join_cluster(node, cluster, &engine)?),
            _ => None,
        };
        let (stopping, stopping_rx) = tokio::sync::watch::channel(false);
        let (alerts, alerts_rx) = tokio::sync::watch::channel(0u64);
        let detector = match config.integrity.enabled {
            true => Some(spawn_detector(&config, &engine, alerts, stopping_rx.clone())?),
            false => None,
        };
        let api = Api {
            alerts: alerts_rx,
            engine: Arc::clone(&engine),
            stopping: stopping_rx,
            credentials,
            clawback_steps_per_call: rigs
                .clawback_steps_per_call
                .map_or(CLAWBACK_BATCHES_PER_CALL_MAX, |steps| steps.clamp(1, CLAWBACK_BATCHES_PER_CALL_MAX)),
            stream_stall: rigs.stream_stall_timeout.unwrap_or(crate::core::limits::STREAM_STALL_TIMEOUT),
            open_streams: Arc::default(),
            raft: cluster.as_ref().map(|parts| parts.node.raft().clone()),
            backup_dir: config.data_dir.clone(),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let console = match console_listener {
            Some((address, listener)) => {
                let (stop, stopped) = oneshot::channel::<()>();
                let task = spawn_console(&config, api.clone(), listener, stopped)?;
                let scheme = if config.tls.is_some() { "https" } else { "http" };
                tracing::info!(%address, "console on {scheme}://{address}/");
                Some((address, stop, task))
            }
            None => None,
        };
        let task = spawn_api(&config, api, health_service(&engine).await, listener, stopped)?;
        let (metrics_addr, metrics_task) = match config.metrics_listen {
            None => (None, None),
            Some(address) => {
                let (bound, task) = serve_metrics(address, &engine).await?;
                (Some(bound), Some(task))
            }
        };
        tracing::info!(%local_addr, engine_key = %engine.engine_key(), "serving");
        Ok(Self { local_addr, metrics_addr, metrics_task, console, engine, cluster, stop, stopping, task, detector })
    }

    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where `GET /metrics` is served, if configured.
    #[must_use]
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Where the web console is served, if configured.
    #[must_use]
    pub fn console_addr(&self) -> Option<SocketAddr> {
        self.console.as_ref().map(|(address, ..)| *address)
    }

    /// `http://` URL of the server, for clients.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    #[must_use]
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Stops accepting connections, waits for open calls to finish, then
    /// stops the engine (everything admitted is committed or answered) and
    /// closes the data file.
    pub async fn shutdown(self) {
        if let Some(metrics) = &self.metrics_task {
            metrics.abort();
        }
        let _ = self.stop.send(());
        let console = self.console.map(|(_, stop, task)| {
            let _ = stop.send(());
            task
        });
        self.stopping.send_replace(true);
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        for (what, mut task) in std::iter::once(("API", self.task)).chain(console.map(|task| ("console", task))) {
            match tokio::time::timeout_at(deadline, &mut task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(error))) => tracing::error!(%error, "the {what} listener stopped with an error"),
                Ok(Err(error)) => tracing::error!(%error, "the {what} listener's task failed"),
                Err(_) => {
                    tracing::warn!(grace = ?SHUTDOWN_GRACE, "{what} connections still open after the grace period; closing them");
                    task.abort();
                }
            }
        }
        if let Some(detector) = self.detector {
            let _ = detector.await;
        }
        if let Some(cluster) = &self.cluster {
            cluster.link.abort();
        }
        let engine = self.engine;
        let _ = tokio::task::spawn_blocking(move || engine.shutdown()).await;
        if let Some(cluster) = self.cluster {
            let _ = cluster.link.await;
            if let Err(error) = cluster.node.shutdown().await {
                tracing::error!(%error, "stopping the raft node");
            }
        }
    }

    /// Cluster mode: why this replica's Raft core stopped on its own, once
    /// it has (`None` inside until then; `None` outside a cluster). The
    /// process should then exit non-zero and be restarted.
    #[must_use]
    pub fn fatal(&self) -> Option<tokio::sync::watch::Receiver<Option<String>>> {
        self.cluster.as_ref().map(|cluster| cluster.node.fatal())
    }

    /// Cluster mode: this replica's Raft, for status and tests.
    #[must_use]
    pub fn raft(&self) -> Option<&openraft::Raft<crate::cluster::TypeConfig>> {
        self.cluster.as_ref().map(|cluster| cluster.node.raft())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_service_has_its_methods_named_within_the_metrics_limit() {
        let methods = served_methods();
        assert!(methods.len() <= crate::metrics::GRPC_METHODS_MAX, "{} methods", methods.len());
        for service in served_services() {
            assert!(methods.iter().any(|method| method.starts_with(&format!("/{service}/"))), "{service}: {methods:?}");
        }
        assert!(methods.contains(&"/settled.v1.PaymentService/SubmitPayment".to_owned()), "{methods:?}");
        assert!(!methods.iter().any(|method| method.contains("RaftService")), "served on the Raft port, not here");
    }
}
