//! Who may speak on the Raft port (docs/SECURITY.md, "The Raft port").
//!
//! Replicas reach each other with mutual TLS under the cluster's own CA:
//! `settled cluster init` makes the CA and one certificate per member, each
//! naming its member as the DNS name `node-<id>.settled`; `cluster
//! join-config` issues one for a member that joins. A server accepts a
//! connection only with a certificate of that CA, and a call only from a
//! node that is a member (voter or learner) of the Raft membership it
//! holds, or, before it holds one, of the membership its configuration
//! names. A client connects to member N only if the server's certificate
//! names node N. Then every message must claim the identity the
//! certificate proves (a vote's candidate, an append's or a snapshot's
//! leader, a status request's caller), and carry terms and indexes a
//! cluster can reach: openraft adds one to a stored term when it stands
//! for election, and a forged term of `u64::MAX` would stop its core for
//! good.

use std::path::{Path, PathBuf};

use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use openraft::{LogId, Vote};
use tonic::Status;
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use super::{NodeId, TypeConfig};
use crate::limits::{RAFT_LOG_INDEX_MAX, RAFT_TERM_MAX, RAFT_TLS_HANDSHAKE_TIMEOUT};

/// The DNS name a member's certificate carries: who it is, to its peers.
#[must_use]
pub fn peer_name(id: NodeId) -> String {
    format!("node-{id}.settled")
}

/// The member a certificate (DER) names, from its DNS name
/// `node-<id>.settled`.
///
/// # Errors
/// A certificate that does not parse or names no member (or two).
pub fn node_of_certificate(der: &[u8]) -> Result<NodeId, String> {
    let (_, certificate) =
        x509_parser::parse_x509_certificate(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let names = certificate
        .subject_alternative_name()
        .map_err(|e| format!("its subject alternative names: {e}"))?
        .map(|san| san.value.general_names.clone())
        .unwrap_or_default();
    let mut members = names.iter().filter_map(|name| match name {
        x509_parser::extensions::GeneralName::DNSName(dns) => {
            dns.strip_prefix("node-")?.strip_suffix(".settled")?.parse::<NodeId>().ok()
        }
        _ => None,
    });
    match (members.next(), members.next()) {
        (Some(id), None) => Ok(id),
        (None, _) => Err("the certificate names no member (DNS name node-<id>.settled)".to_owned()),
        (Some(_), Some(_)) => Err("the certificate names more than one member".to_owned()),
    }
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

/// A member's TLS material, loaded and checked.
#[derive(Clone)]
pub struct PeerTls {
    ca_pem: Vec<u8>,
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
}

impl std::fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerTls")
    }
}

impl PeerTls {
    /// Reads the files of `config` and checks that the certificate names
    /// member `id`.
    ///
    /// # Errors
    /// An unreadable file, or a certificate that does not name `id`.
    pub fn load(config: &PeerTlsConfig, id: NodeId) -> Result<Self, String> {
        let read = |path: &Path| std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()));
        let tls = Self {
            ca_pem: read(&config.ca_file)?,
            cert_pem: read(&config.cert_file)?,
            key_pem: read(&config.key_file)?,
        };
        let named = first_certificate_der(&tls.cert_pem)
            .and_then(|der| node_of_certificate(&der))
            .map_err(|e| format!("{}: {e}", config.cert_file.display()))?;
        if named != id {
            return Err(format!(
                "{} is the certificate of node {named}, not of this node ({id})",
                config.cert_file.display()
            ));
        }
        Ok(tls)
    }

    /// From PEM text (tests and `cluster init`'s own checks).
    #[must_use]
    pub fn from_pem(ca_pem: &str, cert_pem: &str, key_pem: &str) -> Self {
        Self { ca_pem: ca_pem.into(), cert_pem: cert_pem.into(), key_pem: key_pem.into() }
    }

    /// The server side: this member's certificate, and a certificate of
    /// the cluster CA required of every caller, within the handshake
    /// timeout.
    #[must_use]
    pub fn server(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.cert_pem, &self.key_pem))
            .client_ca_root(Certificate::from_pem(&self.ca_pem))
            .client_auth_optional(false)
            .timeout(RAFT_TLS_HANDSHAKE_TIMEOUT)
    }

    /// The client side, to member `target`: the server must hold the
    /// cluster CA's certificate of `target`; this member shows its own.
    #[must_use]
    pub fn client(&self, target: NodeId) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_pem))
            .identity(Identity::from_pem(&self.cert_pem, &self.key_pem))
            .domain_name(peer_name(target))
            .timeout(RAFT_TLS_HANDSHAKE_TIMEOUT)
    }
}

/// The DER bytes of the first certificate in PEM text.
fn first_certificate_der(pem: &[u8]) -> Result<Vec<u8>, String> {
    let (_, parsed) = x509_parser::pem::parse_x509_pem(pem).map_err(|e| format!("not a PEM certificate: {e}"))?;
    if parsed.label != "CERTIFICATE" {
        return Err(format!("a PEM {}, not a CERTIFICATE", parsed.label));
    }
    Ok(parsed.contents)
}

/// Years a member certificate is valid; the CA's is valid twice as long.
pub const PEER_CERTIFICATE_YEARS: i32 = 10;

/// A cluster's certificate authority: what `cluster init` creates and
/// `cluster join-config` issues a joining member's certificate with. Its
/// key belongs with the operator, not on any node.
pub struct ClusterCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    cert_pem: String,
    key_pem: String,
}

/// The CA's files in its directory.
pub const CA_CERT_FILE: &str = "ca.pem";
pub const CA_KEY_FILE: &str = "ca.key";

fn validity(params: &mut rcgen::CertificateParams, years: i32) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now.replace_year(now.year() + years).unwrap_or(now + time::Duration::days(365 * 10));
}

impl ClusterCa {
    /// A new CA for the cluster `name`.
    ///
    /// # Errors
    /// Key generation or signing failed.
    pub fn generate(name: &str) -> Result<Self, String> {
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name.push(rcgen::DnType::CommonName, format!("settled cluster {name} CA"));
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        validity(&mut params, 2 * PEER_CERTIFICATE_YEARS);
        let key = rcgen::KeyPair::generate().map_err(|e| format!("CA key: {e}"))?;
        let cert = params.self_signed(&key).map_err(|e| format!("CA certificate: {e}"))?;
        let key_pem = key.serialize_pem();
        Ok(Self { issuer: rcgen::Issuer::new(params, key), cert_pem: cert.pem(), key_pem })
    }

    /// The CA in `dir` (`ca.pem`, `ca.key`).
    ///
    /// # Errors
    /// Unreadable or invalid files.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let read = |file: &str| {
            let path = dir.join(file);
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
        };
        let (cert_pem, key_pem) = (read(CA_CERT_FILE)?, read(CA_KEY_FILE)?);
        let key =
            rcgen::KeyPair::from_pem(&key_pem).map_err(|e| format!("{}: {e}", dir.join(CA_KEY_FILE).display()))?;
        let issuer = rcgen::Issuer::from_ca_cert_pem(&cert_pem, key)
            .map_err(|e| format!("{}: {e}", dir.join(CA_CERT_FILE).display()))?;
        Ok(Self { issuer, cert_pem, key_pem })
    }

    /// Writes `ca.pem` and `ca.key` (owner-only) into a new `dir`.
    ///
    /// # Errors
    /// `dir` exists, or a write failed.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir(dir)?;
        crate::config::write_private(&dir.join(CA_KEY_FILE), self.key_pem.trim_end())?;
        crate::config::write_public(&dir.join(CA_CERT_FILE), &self.cert_pem)
    }

    /// The CA's certificate, PEM.
    #[must_use]
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A certificate and key (PEM) for member `id`: server and client
    /// authentication, naming `node-<id>.settled`.
    ///
    /// # Errors
    /// Key generation or signing failed.
    pub fn issue(&self, id: NodeId) -> Result<(String, String), String> {
        let mut params =
            rcgen::CertificateParams::new(vec![peer_name(id)]).map_err(|e| format!("member {id} name: {e}"))?;
        params.distinguished_name.push(rcgen::DnType::CommonName, peer_name(id));
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages =
            vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth, rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, PEER_CERTIFICATE_YEARS);
        let key = rcgen::KeyPair::generate().map_err(|e| format!("member {id} key: {e}"))?;
        let cert = params.signed_by(&key, &self.issuer).map_err(|e| format!("member {id} certificate: {e}"))?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// Issues member `id`'s certificate into `dir` (`peer.pem`, `peer.key`
    /// owner-only, and a copy of the CA certificate, `cluster-ca.pem`) and
    /// returns the `[cluster.tls]` table naming them.
    ///
    /// # Errors
    /// A file exists, or issuing or writing failed.
    pub fn issue_into(&self, id: NodeId, dir: &Path) -> Result<PeerTlsConfig, String> {
        let (cert_pem, key_pem) = self.issue(id)?;
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let config = PeerTlsConfig {
            ca_file: dir.join(PEER_CA_FILE),
            cert_file: dir.join(PEER_CERT_FILE),
            key_file: dir.join(PEER_KEY_FILE),
        };
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |e: std::io::Error| format!("{path}: {e}")
        };
        crate::config::write_private(&config.key_file, key_pem.trim_end()).map_err(io(&config.key_file))?;
        crate::config::write_public(&config.cert_file, &cert_pem).map_err(io(&config.cert_file))?;
        crate::config::write_public(&config.ca_file, &self.cert_pem).map_err(io(&config.ca_file))?;
        Ok(config)
    }
}

/// A member's files in its directory.
pub const PEER_CERT_FILE: &str = "peer.pem";
pub const PEER_KEY_FILE: &str = "peer.key";
pub const PEER_CA_FILE: &str = "cluster-ca.pem";

/// Whether a term is one a cluster can reach.
fn reachable_term(what: &str, term: u64) -> Result<(), Status> {
    if term > RAFT_TERM_MAX {
        return Err(Status::invalid_argument(format!(
            "{what}: term {term} is beyond any term a cluster reaches (at most {RAFT_TERM_MAX})"
        )));
    }
    Ok(())
}

fn reachable_log_id(what: &str, log_id: Option<&LogId<NodeId>>) -> Result<(), Status> {
    let Some(log_id) = log_id else { return Ok(()) };
    reachable_term(what, log_id.leader_id.term)?;
    if log_id.index > RAFT_LOG_INDEX_MAX {
        return Err(Status::invalid_argument(format!(
            "{what}: log index {} is beyond any index a cluster reaches (at most {RAFT_LOG_INDEX_MAX})",
            log_id.index
        )));
    }
    Ok(())
}

/// The vote a message carries names `peer`, at a reachable term.
fn claims(what: &str, peer: NodeId, vote: &Vote<NodeId>) -> Result<(), Status> {
    if vote.leader_id.node_id != peer {
        return Err(Status::permission_denied(format!(
            "{what} claims node {}, but the caller's certificate is node {peer}'s",
            vote.leader_id.node_id
        )));
    }
    reachable_term(what, vote.leader_id.term)
}

/// A vote request from `peer`, before openraft sees it: its candidate is
/// `peer`, it is not a committed (leader's) vote, and its terms and index
/// are reachable.
///
/// # Errors
/// `PERMISSION_DENIED` for another identity, `INVALID_ARGUMENT` otherwise.
pub fn admit_vote(peer: NodeId, rpc: &VoteRequest<NodeId>) -> Result<(), Status> {
    claims("vote request", peer, &rpc.vote)?;
    if rpc.vote.committed {
        return Err(Status::invalid_argument("vote request: a candidate's vote is not committed"));
    }
    reachable_log_id("vote request's last log id", rpc.last_log_id.as_ref())
}

/// An append from `peer`: its leader is `peer`, and every term and index
/// it carries is reachable and no later than its own term.
///
/// # Errors
/// `PERMISSION_DENIED` for another identity, `INVALID_ARGUMENT` otherwise.
pub fn admit_append(peer: NodeId, rpc: &AppendEntriesRequest<TypeConfig>) -> Result<(), Status> {
    claims("append", peer, &rpc.vote)?;
    let term = rpc.vote.leader_id.term;
    let log_ids = [rpc.prev_log_id.as_ref(), rpc.leader_commit.as_ref()]
        .into_iter()
        .flatten()
        .chain(rpc.entries.iter().map(|entry| &entry.log_id));
    for log_id in log_ids {
        reachable_log_id("append", Some(log_id))?;
        if log_id.leader_id.term > term {
            return Err(Status::invalid_argument(format!(
                "append: a log id of term {} from a leader of term {term}",
                log_id.leader_id.term
            )));
        }
    }
    Ok(())
}

/// A snapshot chunk from `peer`: its leader is `peer`, and the snapshot's
/// last log id is reachable.
///
/// # Errors
/// `PERMISSION_DENIED` for another identity, `INVALID_ARGUMENT` otherwise.
pub fn admit_snapshot(peer: NodeId, rpc: &InstallSnapshotRequest<TypeConfig>) -> Result<(), Status> {
    claims("snapshot", peer, &rpc.vote)?;
    reachable_log_id("snapshot's last log id", rpc.meta.last_log_id.as_ref())?;
    reachable_log_id("snapshot's membership", rpc.meta.last_membership.log_id().as_ref())
}
