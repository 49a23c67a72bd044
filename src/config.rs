//! Server configuration: a TOML file, overridden by `SETTLED_*` environment
//! variables and command-line flags (in that order of precedence, lowest
//! first), resolved into what the engine needs.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::core::crypto::Keypair;
use crate::core::encoding::Genesis;
use crate::core::limits::{CURRENCY_EXPONENT_MAX, ISSUER_KEYS_MAX};
use crate::core::registry::{ConfiguredCredentials, Principal};
use crate::core::registry::{Tier, TierPolicy};
use crate::core::types::Address;

/// Development issuer set written into a new data dir when the genesis names
/// no issuer keys: 2-of-3, secrets in `issuer-N.key`.
pub const DEV_ISSUERS: usize = 3;
pub const DEV_ISSUER_THRESHOLD: u32 = 2;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Holds `ledger.redb`, `engine.key` and, in development, issuer keys.
    pub data_dir: PathBuf,
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Secret of the engine's block-signing key; default `<data_dir>/engine.key`,
    /// generated on first start.
    #[serde(default)]
    pub engine_key_file: Option<PathBuf>,
    /// Verify threads; 0 = one per core.
    #[serde(default)]
    pub verify_threads: usize,
    #[serde(default)]
    pub genesis: GenesisConfig,
    /// Allows a genesis without issuer keys by generating a development
    /// 2-of-3 issuer set into the data dir. Never in production: whoever
    /// reads the data dir can then mint.
    #[serde(default)]
    pub development: bool,
    /// Wallet tiers; the e-CNY-like default when absent.
    #[serde(default)]
    pub tiers: Option<TiersConfig>,
    /// The integrity detector and its rules' thresholds.
    #[serde(default)]
    pub integrity: IntegrityConfig,
    /// Operator and issuer credentials (banks and terminals register theirs
    /// through the admin API).
    #[serde(default)]
    pub credentials: Vec<CredentialConfig>,
    /// TLS and client certificates; plaintext when absent.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// TCP connections held open at once; one past it is closed at once
    /// (`CONNECTIONS_MAX` by default).
    #[serde(default = "default_connections_max")]
    pub connections_max: usize,
    /// Where to serve Prometheus metrics (`GET /metrics`, plain HTTP, no
    /// credential); none when absent. Bind it to a private interface.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    /// Where to serve the web console (`src/console/`: its page, and
    /// gRPC-Web for the read-only calls it makes, signed in with the same
    /// credentials); off when absent. With `[tls]` it is served over TLS
    /// with the API's certificate.
    #[serde(default)]
    pub console_listen: Option<SocketAddr>,
    /// Serve plaintext on a non-loopback address: the API without `[tls]`,
    /// or the metrics port. Refused at start unless set (on loopback,
    /// plaintext is always allowed); with it, a warning at every start.
    #[serde(default)]
    pub allow_plaintext: bool,
    /// Cluster mode (docs/CLUSTER.md): this node is one replica of a Raft
    /// cluster. A single node when absent.
    #[serde(default)]
    pub cluster: Option<ClusterConfig>,
}

fn default_connections_max() -> usize {
    crate::core::limits::CONNECTIONS_MAX
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GenesisConfig {
    #[serde(default = "default_currency")]
    pub currency: String,
    #[serde(default = "default_exponent")]
    pub exponent: u32,
    /// x-only issuer public keys, hex. Empty: a development 2-of-3 set is
    /// generated into the data dir.
    #[serde(default)]
    pub issuer_keys: Vec<String>,
    #[serde(default)]
    pub issuer_threshold: u32,
}

impl Default for GenesisConfig {
    fn default() -> Self {
        Self {
            currency: default_currency(),
            exponent: default_exponent(),
            issuer_keys: Vec::new(),
            issuer_threshold: 0,
        }
    }
}

/// One `[[credentials]]` entry: the SHA-256 (hex) of a bearer token and the
/// role it grants. The server never stores the token itself.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CredentialConfig {
    /// `operator` or `issuer`.
    pub role: String,
    /// SHA-256 (hex) of a bearer token ...
    #[serde(default)]
    pub token_sha256: Option<String>,
    /// ... or of a client certificate's DER bytes (mTLS).
    #[serde(default)]
    pub cert_sha256: Option<String>,
}

/// The `[tls]` table: the server's certificate and, for mTLS, the CA whose
/// client certificates are accepted (a client certificate authenticates when
/// its SHA-256 is a registered or configured credential).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain of the server.
    pub cert_file: PathBuf,
    /// PEM private key of the server.
    pub key_file: PathBuf,
    /// PEM CA certificate(s) of client certificates; none = no mTLS.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
}

/// The development token's file in the data dir: every role at once.
pub const DEV_TOKEN_FILE: &str = "dev.token";

/// The `[integrity]` table: whether the detector runs (default yes), the
/// rules' thresholds for every programme (`[integrity.rules]`, amounts in
/// minor units, windows in ms), and a programme's own
/// (`[integrity.programmes.<id>]`, every key it leaves out at the default).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct IntegrityConfig {
    pub enabled: bool,
    pub rules: crate::core::integrity::Thresholds,
    pub programmes: BTreeMap<String, crate::core::integrity::Thresholds>,
}

impl Default for IntegrityConfig {
    fn default() -> Self {
        Self { enabled: true, rules: crate::core::integrity::Thresholds::default(), programmes: BTreeMap::new() }
    }
}

impl IntegrityConfig {
    /// The detector these rules make.
    ///
    /// # Errors
    /// A programme key that is not a programme id.
    pub fn detector(&self) -> Result<crate::core::integrity::Detector, ConfigError> {
        let mut per_programme = BTreeMap::new();
        for (key, thresholds) in &self.programmes {
            let id: u32 = key.parse().ok().filter(|id| *id != 0).ok_or_else(|| {
                ConfigError::Invalid(format!("integrity.programmes.{key}: the key is a programme id (1 to 2^32-1)"))
            })?;
            per_programme.insert(id, thresholds.clone());
        }
        Ok(crate::core::integrity::Detector::new(self.rules.clone(), per_programme))
    }
}

/// The `[tiers]` table: amounts are decimal strings in currency units.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TiersConfig {
    /// UTC offset of the time zone whose days bound daily limits.
    #[serde(default = "default_day_offset")]
    pub day_offset_minutes: i32,
    /// Tier of addresses nobody registered (anonymous wallets); 0 = no limits.
    #[serde(default = "default_unregistered_tier")]
    pub unregistered_tier: u8,
    /// The tier table; absent, the e-CNY-like default
    /// (`TierPolicy::e_cny_default`), so that every key of `[tiers]` can be
    /// set alone.
    #[serde(rename = "tier", default)]
    pub tiers: Option<Vec<TierConfig>>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TierConfig {
    pub id: u8,
    pub balance_cap: String,
    pub per_payment: String,
    pub per_day: String,
    /// Most a payer of the tier may pay in a calendar year, if limited
    /// (the e-CNY's anonymous wallets: 50,000).
    #[serde(default)]
    pub per_year: Option<String>,
}

fn default_day_offset() -> i32 {
    8 * 60
}
fn default_unregistered_tier() -> u8 {
    1
}

impl TiersConfig {
    fn resolve(&self, exponent: u32) -> Result<TierPolicy, ConfigError> {
        if !(-14 * 60..=14 * 60).contains(&self.day_offset_minutes) {
            return Err(ConfigError::Invalid(format!(
                "day_offset_minutes {} is not a UTC offset",
                self.day_offset_minutes
            )));
        }
        let amount = |tier: u8, field: &str, text: &str| {
            crate::core::amount::parse_amount(text, exponent)
                .map_err(|e| ConfigError::Invalid(format!("tier {tier} {field}: {e}")))
        };
        let Some(table) = &self.tiers else {
            let tiers = TierPolicy::e_cny_default(exponent).tiers;
            return self.policy(tiers);
        };
        let mut tiers = Vec::with_capacity(table.len());
        for t in table {
            if t.id == 0 || tiers.iter().any(|x: &Tier| x.id == t.id) {
                return Err(ConfigError::Invalid(format!("tier ids are distinct and above 0 (tier {})", t.id)));
            }
            tiers.push(Tier {
                id: t.id,
                balance_cap_minor: amount(t.id, "balance_cap", &t.balance_cap)?,
                per_payment_minor: amount(t.id, "per_payment", &t.per_payment)?,
                per_day_minor: amount(t.id, "per_day", &t.per_day)?,
                per_year_minor: t.per_year.as_deref().map(|text| amount(t.id, "per_year", text)).transpose()?,
            });
        }
        self.policy(tiers)
    }

    /// The policy of `tiers` under this table's unregistered tier and day.
    fn policy(&self, tiers: Vec<Tier>) -> Result<TierPolicy, ConfigError> {
        let unregistered_tier = match self.unregistered_tier {
            0 => None,
            id if tiers.iter().any(|t| t.id == id) => Some(id),
            id => return Err(ConfigError::Invalid(format!("unregistered_tier {id} is not in the tier table"))),
        };
        Ok(TierPolicy { tiers, unregistered_tier, day_offset_minutes: self.day_offset_minutes })
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 50051))
}
fn default_currency() -> String {
    "CNY".to_owned()
}
fn default_exponent() -> u32 {
    2
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("parsing {path}: {source}")]
    Toml { path: PathBuf, source: toml::de::Error },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The `[cluster.tls]` table: this member's certificate and key, and the
/// cluster CA that every peer's certificate must chain to. The CA's key is
/// not here: no node needs it (docs/SECURITY.md, "Keys").
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PeerTlsConfig {
    /// PEM certificate of the cluster CA.
    pub ca_file: PathBuf,
    /// PEM certificate of this member, issued by the cluster CA, naming
    /// `node-<id>.settled`.
    pub cert_file: PathBuf,
    /// PEM private key of this member's certificate.
    pub key_file: PathBuf,
}

/// The genesis and engine key a configuration resolves to.
/// One replica of a cluster: the `[cluster]` table.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// This node's id, one of `members`.
    pub node_id: u64,
    /// Where this node serves the Raft service to its peers (not clients).
    pub raft_listen: SocketAddr,
    /// The time of the genesis block, the same on every replica (ms since
    /// the Unix epoch): every replica's chain starts from the same block.
    pub genesis_time_unix_ms: u64,
    /// The voters of a new cluster. The member with the lowest id
    /// initialises the cluster on its first start; later starts carry on
    /// from the Raft log.
    pub members: Vec<ClusterMember>,
    /// openraft's cluster name.
    #[serde(default = "default_cluster_name")]
    pub name: String,
    /// This member's certificate and key and the cluster CA: replicas
    /// accept each other only with certificates of that CA
    /// (docs/SECURITY.md). Required: a cluster without it is refused.
    #[serde(default)]
    pub tls: Option<PeerTlsConfig>,
}

/// A replica as its peers and clients reach it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClusterMember {
    pub id: u64,
    /// Its Raft service (`host:port`), for peers.
    pub raft_addr: String,
    /// Its public API (`host:port`), named to clients in `NotLeader`
    /// refusals.
    pub api_addr: String,
}

fn default_cluster_name() -> String {
    "settled".to_owned()
}

impl ClusterConfig {
    /// # Errors
    /// This node is not a member, ids repeat, or the member count is out of
    /// bounds.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let count = self.members.len();
        if count == 0 || count > crate::core::limits::CLUSTER_MEMBERS_MAX {
            return Err(ConfigError::Invalid(format!(
                "cluster.members has {count} members; between 1 and {}",
                crate::core::limits::CLUSTER_MEMBERS_MAX
            )));
        }
        let mut ids: Vec<u64> = self.members.iter().map(|m| m.id).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != count {
            return Err(ConfigError::Invalid("cluster.members repeats an id".to_owned()));
        }
        if !ids.contains(&self.node_id) {
            return Err(ConfigError::Invalid(format!("cluster.node_id {} is not in cluster.members", self.node_id)));
        }
        if self.tls.is_none() {
            return Err(ConfigError::Invalid(
                "[cluster.tls] is missing: replicas accept each other only with certificates of the cluster's CA \
                 (ca_file, cert_file, key_file; `settled cluster init` writes them, `settled cluster join-config` \
                 issues one for a new member). A cluster without peer TLS is refused: anyone who reaches its Raft \
                 port could depose its leader, fork it or stop it"
                    .to_owned(),
            ));
        }
        Ok(())
    }

    /// Whether this node initialises a new cluster (the lowest id).
    #[must_use]
    pub fn initialises(&self) -> bool {
        self.members.iter().map(|m| m.id).min() == Some(self.node_id)
    }
}

pub struct Resolved {
    pub credentials: ConfiguredCredentials,
    pub tiers: TierPolicy,
    pub genesis: Genesis,
    pub engine_key: Keypair,
    pub data_file: PathBuf,
}

impl Config {
    /// Development defaults for a data dir (generated 2-of-3 issuer keys),
    /// listening on an ephemeral loopback port: for the demo and tests.
    #[must_use]
    pub fn for_data_dir(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            engine_key_file: None,
            verify_threads: 0,
            genesis: GenesisConfig::default(),
            development: true,
            tiers: None,
            integrity: IntegrityConfig::default(),
            credentials: Vec::new(),
            tls: None,
            metrics_listen: None,
            console_listen: None,
            allow_plaintext: false,
            cluster: None,
            connections_max: default_connections_max(),
        }
    }

    /// # Errors
    /// When the file cannot be read or is not a valid configuration.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.to_owned(), source })?;
        toml::from_str(&text).map_err(|source| ConfigError::Toml { path: path.to_owned(), source })
    }

    /// Creates the data dir and any missing development keys, then returns
    /// the genesis and the engine key.
    ///
    /// # Errors
    /// Unreadable or invalid keys, or invalid genesis parameters.
    pub fn resolve(&self) -> Result<Resolved, ConfigError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| ConfigError::Io { path, source }
        };
        std::fs::create_dir_all(&self.data_dir).map_err(io(&self.data_dir))?;
        if let Some(cluster) = &self.cluster {
            cluster.validate()?;
            if self.engine_key_file.is_none() || self.genesis.issuer_keys.is_empty() {
                return Err(ConfigError::Invalid(
                    "cluster mode needs engine_key_file and genesis.issuer_keys set: every replica signs with \
                     the same engine key and starts from the same genesis"
                        .to_owned(),
                ));
            }
        }
        let g = &self.genesis;
        if g.currency.is_empty() || g.currency.len() > 8 || !g.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(ConfigError::Invalid(format!("currency '{}' is not 1-8 uppercase letters", g.currency)));
        }
        if g.exponent > CURRENCY_EXPONENT_MAX {
            return Err(ConfigError::Invalid(format!("exponent {} above {CURRENCY_EXPONENT_MAX}", g.exponent)));
        }
        if g.issuer_keys.is_empty() && !self.development {
            return Err(ConfigError::Invalid(
                "genesis.issuer_keys is empty: configure the issuers' public keys, or run with development = true \
                 (--dev) to generate a development 2-of-3 issuer set in the data dir"
                    .to_owned(),
            ));
        }
        let (issuer_keys, threshold) = if g.issuer_keys.is_empty() {
            let keys = (1..=DEV_ISSUERS)
                .map(|i| load_or_create_key(&self.data_dir.join(format!("issuer-{i}.key"))).map(|k| k.address()))
                .collect::<Result<Vec<_>, _>>()?;
            (keys, if g.issuer_threshold == 0 { DEV_ISSUER_THRESHOLD } else { g.issuer_threshold })
        } else {
            let keys = g
                .issuer_keys
                .iter()
                .map(|k| match Address::from_hex(k) {
                    Ok(key) if crate::core::crypto::is_valid_key(&key) => Ok(key),
                    Ok(_) => Err(ConfigError::Invalid(format!("issuer key {k} is not a secp256k1 x-only public key"))),
                    Err(e) => Err(ConfigError::Invalid(format!("issuer key {k}: {e}"))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            (keys, g.issuer_threshold)
        };
        if issuer_keys.len() > ISSUER_KEYS_MAX {
            return Err(ConfigError::Invalid(format!("{} issuer keys, at most {ISSUER_KEYS_MAX}", issuer_keys.len())));
        }
        let mut distinct = issuer_keys.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() != issuer_keys.len() {
            return Err(ConfigError::Invalid("issuer keys repeat".to_owned()));
        }
        if threshold == 0 || threshold as usize > issuer_keys.len() {
            return Err(ConfigError::Invalid(format!(
                "issuer threshold {threshold} must be between 1 and the {} issuer keys",
                issuer_keys.len()
            )));
        }
        let key_file = self.engine_key_file.clone().unwrap_or_else(|| self.data_dir.join("engine.key"));
        let engine_key = load_or_create_key(&key_file)?;
        let tiers = match &self.tiers {
            Some(tiers) => tiers.resolve(g.exponent)?,
            None => TierPolicy::e_cny_default(g.exponent),
        };
        let credentials = self.resolve_credentials()?;
        Ok(Resolved {
            credentials,
            tiers,
            genesis: Genesis {
                currency: g.currency.clone(),
                exponent: g.exponent,
                issuer_keys,
                issuer_threshold: threshold,
                engine_key: engine_key.address(),
            },
            engine_key,
            data_file: self.data_dir.join("ledger.redb"),
        })
    }
}

/// Whether `ip` is reachable only from a network the operator controls:
/// loopback, a private IPv4 range (10/8, 172.16/12, 192.168/16), link-local,
/// or an IPv6 unique local address (fc00::/7).
fn is_private(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback() || v4.is_private() || v4.is_link_local())
        }
    }
}

impl Config {
    /// What this configuration exposes, as checked at every start:
    /// plaintext on a non-loopback address (the API without `[tls]`, the
    /// metrics port) is refused unless `allow_plaintext` says so. Returns
    /// the warnings to log: development mode, plaintext allowed off
    /// loopback, no credential to administer the ledger with.
    ///
    /// # Errors
    /// Plaintext on a non-loopback address without `allow_plaintext`.
    pub fn exposure(&self) -> Result<Vec<String>, ConfigError> {
        let mut warnings = Vec::new();
        let mut plaintext = Vec::new();
        if self.tls.is_none() && !self.listen.ip().is_loopback() {
            plaintext.push(format!("the API on {} without [tls]", self.listen));
        }
        if let Some(console) = self.console_listen.filter(|address| self.tls.is_none() && !address.ip().is_loopback()) {
            plaintext.push(format!("the console on {console} without [tls] (its users' tokens would cross in clear)"));
        }
        if let Some(metrics) = self.metrics_listen.filter(|address| !is_private(address.ip())) {
            plaintext.push(format!("the metrics port on {metrics} (plain HTTP, no credential, on a public address)"));
        }
        if !plaintext.is_empty() {
            let what = plaintext.join(" and ");
            if !self.allow_plaintext {
                return Err(ConfigError::Invalid(format!(
                    "{what}: plaintext on a non-loopback address is refused. Configure [tls] for the API and the console, keep the \
                     metrics port on a loopback or private address, or set allow_plaintext = true if a network you \
                     control protects them"
                )));
            }
            warnings.push(format!("{what}: plaintext on a non-loopback address (allow_plaintext = true)"));
        }
        if self.development {
            warnings.push(format!(
                "development mode: {} in the data dir grants every role, and the issuer keys (whoever reads them can \
                 mint) are generated into it; never in production",
                DEV_TOKEN_FILE
            ));
        }
        if self.credentials.is_empty() && !self.development {
            warnings.push(
                "no [[credentials]]: no operator or issuer can call the admin API (registrations, mints, clawbacks)"
                    .to_owned(),
            );
        }
        Ok(warnings)
    }

    fn resolve_credentials(&self) -> Result<ConfiguredCredentials, ConfigError> {
        let mut credentials = ConfiguredCredentials::new();
        for entry in &self.credentials {
            let principal = match entry.role.as_str() {
                "operator" => Principal::Operator,
                "issuer" => Principal::Issuer,
                "programme_admin" => Principal::ProgrammeAdministrator,
                "auditor" => Principal::Auditor,
                other => {
                    return Err(ConfigError::Invalid(format!(
                        "credential role '{other}': operator, issuer, programme_admin or auditor (banks and terminals are \
                         registered)"
                    )));
                }
            };
            let text = match (&entry.token_sha256, &entry.cert_sha256) {
                (Some(text), None) | (None, Some(text)) => text,
                _ => {
                    return Err(ConfigError::Invalid(
                        "a credential has exactly one of token_sha256 and cert_sha256".to_owned(),
                    ));
                }
            };
            let mut hash = [0u8; 32];
            hex::decode_to_slice(text.trim(), &mut hash)
                .map_err(|e| ConfigError::Invalid(format!("credential hash {text}: {e}")))?;
            if credentials.insert(hash, principal).is_some() {
                return Err(ConfigError::Invalid(format!("credential hash {text} listed twice")));
            }
        }
        if self.development {
            let token = load_or_create_token(&self.data_dir.join(DEV_TOKEN_FILE))?;
            credentials.insert(crate::core::crypto::sha256(token.as_bytes()), Principal::Development);
        }
        Ok(credentials)
    }
}

/// Reads a token file, or creates one with 32 random bytes in hex (readable
/// by the owner only).
///
/// # Errors
/// An unreadable or unwritable file.
pub fn load_or_create_token(path: &Path) -> Result<String, ConfigError> {
    let io = |source| ConfigError::Io { path: path.to_owned(), source };
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token = hex::encode(rand::random::<[u8; 32]>());
            write_private(path, &token).map_err(io)?;
            Ok(token)
        }
        Err(source) => Err(io(source)),
    }
}

/// Reads a hex secret key, or creates one (readable by the owner only).
///
/// # Errors
/// An unreadable file or an invalid key.
pub fn load_or_create_key(path: &Path) -> Result<Keypair, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            Keypair::from_secret_hex(&text).map_err(|e| ConfigError::Invalid(format!("{}: {e}", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = Keypair::generate();
            write_secret_key(path, &key).map_err(|source| ConfigError::Io { path: path.to_owned(), source })?;
            Ok(key)
        }
        Err(source) => Err(ConfigError::Io { path: path.to_owned(), source }),
    }
}

/// Writes a secret key as hex to a new file readable by its owner only.
///
/// # Errors
/// When the file exists or cannot be written.
pub fn write_secret_key(path: &Path, key: &Keypair) -> std::io::Result<()> {
    write_private(path, &key.secret_hex())
}

/// Writes one line to a new file readable by its owner only, durably
/// (file and directory entry).
pub(crate) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    write_new(path, &format!("{text}\n"), 0o600)
}

/// Writes a new file anyone may read (certificates), durably.
pub(crate) fn write_public(path: &Path, text: &str) -> std::io::Result<()> {
    write_new(path, text, 0o644)
}

fn write_new(path: &Path, text: &str, mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    // The directory entry must be durable too: a key lost after the genesis
    // naming it was committed would make the ledger unusable.
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::File::open(parent)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_tiers_key_can_be_set_alone_the_rest_keeping_its_default() {
        let default = TierPolicy::e_cny_default(2);
        let day: TiersConfig = toml::from_str("day_offset_minutes = 60").expect("the day offset alone");
        let policy = day.resolve(2).expect("resolves");
        assert_eq!((policy.day_offset_minutes, &policy.tiers), (60, &default.tiers));
        assert_eq!(policy.unregistered_tier, default.unregistered_tier);
        let anonymous: TiersConfig = toml::from_str("unregistered_tier = 0").expect("the unregistered tier alone");
        let policy = anonymous.resolve(2).expect("resolves");
        assert_eq!((policy.unregistered_tier, policy.day_offset_minutes), (None, default.day_offset_minutes));
        let table: TiersConfig =
            toml::from_str("[[tier]]\nid = 1\nbalance_cap = \"100\"\nper_payment = \"10\"\nper_day = \"50\"\n")
                .expect("the table alone");
        let policy = table.resolve(2).expect("resolves");
        assert_eq!((policy.tiers.len(), policy.tiers[0].balance_cap_minor), (1, 10_000));
        let empty: TiersConfig = toml::from_str("").expect("an empty [tiers]");
        assert_eq!(empty.resolve(2).expect("resolves"), default);
        let unknown = toml::from_str::<TiersConfig>("day_offset = 60").expect_err("a key that is not documented");
        assert!(unknown.to_string().contains("day_offset"), "{unknown}");
    }
}
