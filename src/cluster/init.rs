//! `settled cluster init`: the files a new cluster starts from. Every
//! replica must sign with the same engine key, start from the same genesis
//! (issuer set and block time) and know the same members, so they are
//! written together, once, into one directory the operator then distributes
//! (each node needs its own `node-<id>.toml`, its `peer-<id>/` with its
//! certificate and key and the CA's certificate, the engine key, and the
//! tokens its callers use). The cluster's CA (`cluster-ca/`) signs the members' certificates;
//! its key (`cluster-ca/ca.key`) is needed again only to issue a joining
//! member's certificate, and belongs offline, on no node.

use std::path::{Path, PathBuf};

use crate::config::{ClusterConfig, ClusterMember, Config, ConfigError, CredentialConfig, DEV_ISSUER_THRESHOLD};
use crate::core::crypto::Keypair;

/// What `init` wrote.
#[derive(Debug)]
pub struct Initialised {
    /// `node-<id>.toml` for each member, in member order.
    pub configs: Vec<PathBuf>,
    pub engine_key: PathBuf,
    /// Operator and issuer bearer tokens (their SHA-256 are in every
    /// configuration).
    pub operator_token: PathBuf,
    pub issuer_token: PathBuf,
    /// Issuer secret keys generated for development, if no issuer keys were
    /// given (never in production: whoever reads them can mint).
    pub issuer_keys: Vec<PathBuf>,
    /// A development cluster's token with every role, the same on every
    /// replica (`--dev`: load tests and demos; never in production).
    pub dev_token: Option<PathBuf>,
    /// The cluster CA's certificate and key (`ca.pem`, `ca.key`).
    pub ca_dir: PathBuf,
}

/// The cluster CA's directory in `cluster init`'s output.
pub const CA_DIR: &str = "cluster-ca";

/// Member `id`'s directory of TLS files (`peer.pem`, `peer.key`,
/// `cluster-ca.pem`) beside its configuration: its identity to its peers,
/// apart from its data directory (a wiped data directory keeps it).
#[must_use]
pub fn peer_dir(id: u64) -> String {
    format!("peer-{id}")
}

/// The options of a new cluster beyond its members.
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    /// x-only issuer public keys (hex); none: a development 2-of-3 set is
    /// generated.
    pub issuer_keys: Vec<String>,
    pub issuer_threshold: u32,
    /// Development mode on every replica with one shared token of every
    /// role (`dev.token`, copied into each data directory), as
    /// `settled serve --dev` has for one server: what the load generator
    /// drives a cluster with. Never in production.
    pub development: bool,
    /// Where the cluster CA goes (created; its key is the operator's, on no
    /// node) [default: `cluster-ca/` in the output directory].
    pub ca_dir: Option<PathBuf>,
}

/// Writes a new cluster's files into `out` (created; files already there
/// are refused): the shared engine key, operator and issuer tokens, and one
/// configuration per member whose data directory is `out/node-<id>`. The
/// genesis block time is now, the same for all. With no `issuer_keys`
/// (x-only hex), a development 2-of-3 issuer set is generated into `out`.
///
/// # Errors
/// Invalid members, a file that exists, or I/O.
pub fn init(
    out: &Path,
    members: &[ClusterMember],
    issuer_keys: &[String],
    issuer_threshold: u32,
) -> Result<Initialised, ConfigError> {
    let options = InitOptions { issuer_keys: issuer_keys.to_vec(), issuer_threshold, development: false, ca_dir: None };
    init_with(out, members, &options)
}

/// [`init`] with every option.
///
/// # Errors
/// Invalid members, a file that exists, or I/O.
pub fn init_with(out: &Path, members: &[ClusterMember], options: &InitOptions) -> Result<Initialised, ConfigError> {
    let (issuer_keys, issuer_threshold) = (options.issuer_keys.as_slice(), options.issuer_threshold);
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ConfigError::Io { path, source }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    // Every member's certificate is issued by this CA; peers accept no
    // other (docs/SECURITY.md).
    let ca_dir = options.ca_dir.clone().unwrap_or_else(|| out.join(CA_DIR));
    let ca = super::ClusterCa::generate("settled").map_err(ConfigError::Invalid)?;
    ca.write(&ca_dir).map_err(io(&ca_dir))?;
    let engine_key = out.join("engine.key");
    crate::config::write_secret_key(&engine_key, &Keypair::generate()).map_err(io(&engine_key))?;
    let mut generated = Vec::new();
    let (issuer_keys, issuer_threshold) = if issuer_keys.is_empty() {
        let mut keys = Vec::new();
        for i in 1..=crate::config::DEV_ISSUERS {
            let path = out.join(format!("issuer-{i}.key"));
            let key = Keypair::generate();
            crate::config::write_secret_key(&path, &key).map_err(io(&path))?;
            keys.push(key.address().to_string());
            generated.push(path);
        }
        (keys, DEV_ISSUER_THRESHOLD)
    } else {
        (issuer_keys.to_vec(), issuer_threshold)
    };
    let operator_token = out.join("operator.token");
    let issuer_token = out.join("issuer.token");
    let credentials = [("operator", &operator_token), ("issuer", &issuer_token)]
        .into_iter()
        .map(|(role, path)| {
            if path.exists() {
                return Err(ConfigError::Invalid(format!("{} exists", path.display())));
            }
            let token = crate::config::load_or_create_token(path)?;
            Ok(CredentialConfig {
                role: role.to_owned(),
                token_sha256: Some(hex::encode(crate::core::crypto::sha256(token.as_bytes()))),
                cert_sha256: None,
            })
        })
        .collect::<Result<Vec<_>, ConfigError>>()?;
    let dev_token = if options.development {
        let path = out.join(crate::config::DEV_TOKEN_FILE);
        if path.exists() {
            return Err(ConfigError::Invalid(format!("{} exists", path.display())));
        }
        crate::config::load_or_create_token(&path)?;
        Some(path)
    } else {
        None
    };
    let genesis_time_unix_ms = crate::core::clock::now_unix_ms();
    let mut configs = Vec::new();
    for member in members {
        let parse = |what: &str, text: &str| {
            text.parse::<std::net::SocketAddr>()
                .map_err(|e| ConfigError::Invalid(format!("member {}: {what} {text}: {e}", member.id)))
        };
        let mut config = Config::for_data_dir(out.join(format!("node-{}", member.id)));
        config.listen = parse("api address", &member.api_addr)?;
        config.development = options.development;
        let path = out.join(format!("node-{}.toml", member.id));
        if path.exists() {
            return Err(ConfigError::Invalid(format!("{} exists", path.display())));
        }
        if let Some(token) = &dev_token {
            // Each replica reads the development token from its data
            // directory: the same one everywhere, so that a client fails
            // over with it.
            std::fs::create_dir_all(&config.data_dir).map_err(io(&config.data_dir))?;
            let copy = config.data_dir.join(crate::config::DEV_TOKEN_FILE);
            std::fs::copy(token, &copy).map_err(io(&copy))?;
        }
        let peer_tls = ca.issue_into(member.id, &out.join(peer_dir(member.id))).map_err(ConfigError::Invalid)?;
        config.engine_key_file = Some(engine_key.clone());
        config.genesis.issuer_keys.clone_from(&issuer_keys);
        config.genesis.issuer_threshold = issuer_threshold;
        config.credentials.clone_from(&credentials);
        let cluster = ClusterConfig {
            node_id: member.id,
            raft_listen: parse("raft address", &member.raft_addr)?,
            genesis_time_unix_ms,
            members: members.to_vec(),
            name: "settled".to_owned(),
            tls: Some(peer_tls),
        };
        cluster.validate()?;
        config.cluster = Some(cluster);
        let text =
            toml::to_string(&config).map_err(|e| ConfigError::Invalid(format!("writing a configuration: {e}")))?;
        std::fs::write(&path, text).map_err(io(&path))?;
        configs.push(path);
    }
    Ok(Initialised { configs, engine_key, operator_token, issuer_token, issuer_keys: generated, dev_token, ca_dir })
}

/// Parses `id=raft_host:port,api_host:port`, the `--member` option.
///
/// # Errors
/// Text of another shape.
pub fn parse_member(text: &str) -> Result<ClusterMember, String> {
    let shape = || format!("member '{text}': expected id=raft_host:port,api_host:port");
    let (id, addresses) = text.split_once('=').ok_or_else(shape)?;
    let (raft_addr, api_addr) = addresses.split_once(',').ok_or_else(shape)?;
    Ok(ClusterMember {
        id: id.trim().parse().map_err(|_| shape())?,
        raft_addr: raft_addr.trim().to_owned(),
        api_addr: api_addr.trim().to_owned(),
    })
}
