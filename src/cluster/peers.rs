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

use crate::config::PeerTlsConfig;
use std::path::Path;

use std::collections::BTreeSet;

use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use openraft::{EntryPayload, LogId, Membership, Vote};
use tonic::Status;
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use super::{NodeId, ReplicaNode, TypeConfig};
use crate::core::limits::{
    CLUSTER_MEMBERS_MAX, RAFT_LOG_INDEX_MAX, RAFT_SNAPSHOT_BYTES_MAX, RAFT_TERM_MAX, RAFT_TERM_STEP_MAX,
    RAFT_TLS_HANDSHAKE_TIMEOUT,
};

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
    // Exactly one name, exactly as `peer_name` writes it: no wildcard, no
    // second name, no `node-01` for node 1.
    match names.as_slice() {
        [x509_parser::extensions::GeneralName::DNSName(dns)] => dns
            .strip_prefix("node-")
            .and_then(|rest| rest.strip_suffix(".settled"))
            .and_then(|id| id.parse::<NodeId>().ok())
            .filter(|id| peer_name(*id) == *dns)
            .ok_or_else(|| format!("its name {dns} is not a member's (node-<id>.settled)")),
        _ => Err(format!("{} names, where a member's certificate has one (node-<id>.settled)", names.len())),
    }
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
    /// This member's TLS material, loaded and checked against its id.
    ///
    /// # Errors
    /// No `[cluster.tls]`, an unreadable file, or a certificate of another
    /// member.
    pub fn of(cluster: &crate::config::ClusterConfig) -> Result<Self, crate::config::ConfigError> {
        cluster.validate()?;
        let tls = cluster.tls.as_ref().expect("validated");
        Self::load(tls, cluster.node_id).map_err(|e| crate::config::ConfigError::Invalid(format!("[cluster.tls]: {e}")))
    }

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

/// What the receiving node holds that a message is judged against.
#[derive(Clone, Copy, Debug)]
pub struct Local {
    /// The node's current term: a message may be ahead of it by at most
    /// `RAFT_TERM_STEP_MAX`.
    pub term: u64,
}

/// Whether `term` is one a cluster reaches from `local`'s: ahead of it by
/// at most `RAFT_TERM_STEP_MAX`, and far enough from `u64::MAX` that
/// openraft's `term + 1` never overflows. A bound relative to the local
/// term leaves no cliff: a member that pushes the term up by a step leaves
/// the next honest candidate, one term later, still within reach.
fn reachable_term(what: &str, term: u64, local: Local) -> Result<(), Status> {
    if term > RAFT_TERM_MAX || term > local.term.saturating_add(RAFT_TERM_STEP_MAX) {
        return Err(Status::invalid_argument(format!(
            "{what}: term {term} is beyond any term this cluster reaches (this node is at term {}; at most \
             {RAFT_TERM_STEP_MAX} ahead, never past {RAFT_TERM_MAX})",
            local.term
        )));
    }
    Ok(())
}

/// A log id within reach, of a term no later than `term`.
fn reachable_log_id(what: &str, log_id: Option<&LogId<NodeId>>, term: u64) -> Result<(), Status> {
    let Some(log_id) = log_id else { return Ok(()) };
    if log_id.leader_id.term > term {
        return Err(Status::invalid_argument(format!(
            "{what}: a log id of term {} in a message of term {term}",
            log_id.leader_id.term
        )));
    }
    if log_id.index > RAFT_LOG_INDEX_MAX {
        return Err(Status::invalid_argument(format!(
            "{what}: log index {} is beyond any index a cluster reaches (at most {RAFT_LOG_INDEX_MAX})",
            log_id.index
        )));
    }
    Ok(())
}

/// The vote a message carries names `peer`, is committed or not as its
/// kind requires, and has a reachable term.
fn claims(what: &str, peer: NodeId, vote: &Vote<NodeId>, committed: bool, local: Local) -> Result<(), Status> {
    if vote.leader_id.node_id != peer {
        return Err(Status::permission_denied(format!(
            "{what} claims node {}, but the caller's certificate is node {peer}'s",
            vote.leader_id.node_id
        )));
    }
    if vote.committed != committed {
        return Err(Status::invalid_argument(if committed {
            format!("{what}: a leader's vote is committed")
        } else {
            format!("{what}: a candidate's vote is not committed")
        }));
    }
    reachable_term(what, vote.leader_id.term, local)
}

/// A membership openraft can live with: one or two (joint) voter sets, none
/// empty, at most `CLUSTER_MEMBERS_MAX` voters and twice that many nodes,
/// every voter among the nodes. openraft takes a decoded membership as it
/// is, and panics at its next election on a voter it has no node for. (A
/// node's address that is not `host:port` makes it unreachable, no more.)
fn valid_membership(what: &str, membership: &Membership<NodeId, ReplicaNode>) -> Result<(), Status> {
    let invalid = |why: String| Err(Status::invalid_argument(format!("{what}: {why}")));
    let configs = membership.get_joint_config();
    if configs.is_empty() || configs.len() > 2 || configs.iter().any(BTreeSet::is_empty) {
        return invalid(format!("{} voter sets (one or two, none empty)", configs.len()));
    }
    let nodes = membership.nodes().count();
    if nodes > 2 * CLUSTER_MEMBERS_MAX || configs.iter().any(|voters| voters.len() > CLUSTER_MEMBERS_MAX) {
        return invalid(format!("{nodes} nodes, more than a cluster holds"));
    }
    if let Some(voter) = configs.iter().flatten().find(|voter| membership.get_node(voter).is_none()) {
        return invalid(format!("voter {voter} is not among the nodes"));
    }
    Ok(())
}

/// A vote request from `peer`, before openraft sees it: its candidate is
/// `peer`, it is not a committed (leader's) vote, and its terms and index
/// are reachable.
///
/// # Errors
/// `PERMISSION_DENIED` for another identity, `INVALID_ARGUMENT` otherwise.
pub fn admit_vote(peer: NodeId, local: Local, rpc: &VoteRequest<NodeId>) -> Result<(), Status> {
    claims("vote request", peer, &rpc.vote, false, local)?;
    reachable_log_id("vote request's last log id", rpc.last_log_id.as_ref(), rpc.vote.leader_id.term)
}

/// A message of a leader whose term is below this node's is stale:
/// openraft compares its vote first and answers it with this node's higher
/// vote, reading nothing else of it. A deposed leader's replication task
/// may still be sending for a while, reading its own log, which by then
/// may hold entries of the later term it accepted since: refusing such a
/// message would only keep the higher vote from it. (The deterministic
/// cluster simulation met this at seed 92 of its CI seeds: a leader
/// restarted at term 1 sent an entry of term 2 under its term-1 vote.)
fn stale(term: u64, local: Local) -> bool {
    term < local.term
}

/// An append from `peer`: its leader is `peer` with a committed vote of a
/// reachable term; unless it is stale (a term below this node's: openraft refuses it
/// by its vote), its entries follow
/// `prev_log_id` one index at a time, their terms never going down nor
/// past the leader's, and every membership among them is one openraft can
/// live with.
///
/// # Errors
/// `PERMISSION_DENIED` for another identity, `INVALID_ARGUMENT` otherwise.
pub fn admit_append(peer: NodeId, local: Local, rpc: &AppendEntriesRequest<TypeConfig>) -> Result<(), Status> {
    claims("append", peer, &rpc.vote, true, local)?;
    let term = rpc.vote.leader_id.term;
    if stale(term, local) {
        return Ok(());
    }
    reachable_log_id("append's previous log id", rpc.prev_log_id.as_ref(), term)?;
    reachable_log_id("append's commit", rpc.leader_commit.as_ref(), term)?;
    let mut previous = rpc.prev_log_id;
    for entry in &rpc.entries {
        reachable_log_id("append's entry", Some(&entry.log_id), term)?;
        let expected = previous.map_or(0, |p| p.index.saturating_add(1));
        if entry.log_id.index != expected {
            return Err(Status::invalid_argument(format!(
                "append: entry {} where entry {expected} follows",
                entry.log_id.index
            )));
        }
        if previous.is_some_and(|p| entry.log_id.leader_id.term < p.leader_id.term) {
            return Err(Status::invalid_argument(format!(
                "append: entry {} of term {} after one of a later term",
                entry.log_id.index, entry.log_id.leader_id.term
            )));
        }
        if let EntryPayload::Membership(membership) = &entry.payload {
            valid_membership("append's membership", membership)?;
        }
        previous = Some(entry.log_id);
    }
    Ok(())
}

/// A snapshot chunk from `peer`: its leader is `peer` with a committed vote
/// of a reachable term; the chunk ends within `RAFT_SNAPSHOT_BYTES_MAX`
/// (openraft writes a chunk at its offset in memory); unless it is stale
/// (a term below this node's: openraft refuses it by its vote), the
/// snapshot's last log id and membership are reachable and sound.
///
/// # Errors
/// `PERMISSION_DENIED` for another identity, `INVALID_ARGUMENT` otherwise.
pub fn admit_snapshot(peer: NodeId, local: Local, rpc: &InstallSnapshotRequest<TypeConfig>) -> Result<(), Status> {
    claims("snapshot", peer, &rpc.vote, true, local)?;
    let end = usize::try_from(rpc.offset).ok().and_then(|offset| offset.checked_add(rpc.data.len()));
    if end.is_none_or(|end| end > RAFT_SNAPSHOT_BYTES_MAX) {
        return Err(Status::invalid_argument(format!(
            "snapshot: a chunk at offset {} of {} bytes ends past {RAFT_SNAPSHOT_BYTES_MAX} bytes",
            rpc.offset,
            rpc.data.len()
        )));
    }
    let term = rpc.vote.leader_id.term;
    if stale(term, local) {
        return Ok(());
    }
    reachable_log_id("snapshot's last log id", rpc.meta.last_log_id.as_ref(), term)?;
    let membership = &rpc.meta.last_membership;
    reachable_log_id("snapshot's membership", membership.log_id().as_ref(), term)?;
    if membership.log_id() > &rpc.meta.last_log_id {
        return Err(Status::invalid_argument("snapshot: a membership later than the snapshot"));
    }
    if membership.log_id().is_some() {
        valid_membership("snapshot's membership", membership.membership())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use openraft::{CommittedLeaderId, Entry, SnapshotMeta, StoredMembership};

    use super::*;

    const LOCAL: Local = Local { term: 10 };

    fn log_id(term: u64, index: u64) -> LogId<NodeId> {
        LogId::new(CommittedLeaderId::new(term, 2), index)
    }

    fn membership(voters: &[NodeId], nodes: &[NodeId]) -> Membership<NodeId, ReplicaNode> {
        Membership::new(
            vec![voters.iter().copied().collect()],
            nodes
                .iter()
                .map(|id| (*id, ReplicaNode::raft_only(format!("127.0.0.1:{}", 7000 + id))))
                .collect::<BTreeMap<_, _>>(),
        )
    }

    /// A membership whose voter 3 has no node: `Membership::new` would add
    /// one, a decoded message need not.
    fn voter_without_node() -> Membership<NodeId, ReplicaNode> {
        let mut json = serde_json::to_value(membership(&[1, 3], &[1, 3])).expect("serialises");
        json["nodes"].as_object_mut().expect("nodes").remove("3");
        let decoded: Membership<NodeId, ReplicaNode> = serde_json::from_value(json).expect("decodes");
        assert!(decoded.get_node(&3).is_none() && decoded.voter_ids().any(|id| id == 3));
        decoded
    }

    fn append(entries: Vec<Entry<TypeConfig>>) -> AppendEntriesRequest<TypeConfig> {
        AppendEntriesRequest {
            vote: Vote::new_committed(10, 2),
            prev_log_id: Some(log_id(9, 4)),
            entries,
            leader_commit: None,
        }
    }

    fn entry(term: u64, index: u64, payload: EntryPayload<TypeConfig>) -> Entry<TypeConfig> {
        Entry { log_id: log_id(term, index), payload }
    }

    fn code(result: Result<(), Status>) -> Option<tonic::Code> {
        result.err().map(|status| status.code())
    }

    #[test]
    fn a_vote_must_be_the_callers_own_uncommitted_and_within_reach() {
        let vote = |term, node, committed| VoteRequest {
            vote: if committed { Vote::new_committed(term, node) } else { Vote::new(term, node) },
            last_log_id: Some(log_id(term.min(9), 4)),
        };
        assert_eq!(code(admit_vote(2, LOCAL, &vote(11, 2, false))), None);
        assert_eq!(code(admit_vote(2, LOCAL, &vote(11, 3, false))), Some(tonic::Code::PermissionDenied));
        assert_eq!(code(admit_vote(2, LOCAL, &vote(11, 2, true))), Some(tonic::Code::InvalidArgument));
        let step = LOCAL.term + RAFT_TERM_STEP_MAX;
        assert_eq!(code(admit_vote(2, LOCAL, &vote(step, 2, false))), None, "a step ahead is within reach");
        assert_eq!(code(admit_vote(2, LOCAL, &vote(step + 1, 2, false))), Some(tonic::Code::InvalidArgument));
        let near_the_end = Local { term: u64::MAX - 2 };
        assert_eq!(code(admit_vote(2, near_the_end, &vote(u64::MAX, 2, false))), Some(tonic::Code::InvalidArgument));
        let later_log = VoteRequest { vote: Vote::new(11, 2), last_log_id: Some(log_id(12, 4)) };
        assert_eq!(code(admit_vote(2, LOCAL, &later_log)), Some(tonic::Code::InvalidArgument));
    }

    #[test]
    fn an_append_must_follow_on_from_its_previous_entry_with_sound_memberships() {
        assert_eq!(code(admit_append(2, LOCAL, &append(vec![entry(10, 5, EntryPayload::Blank)]))), None);
        let uncommitted = AppendEntriesRequest { vote: Vote::new(10, 2), ..append(Vec::new()) };
        assert_eq!(code(admit_append(2, LOCAL, &uncommitted)), Some(tonic::Code::InvalidArgument));
        for (what, entries) in [
            ("a gap", vec![entry(10, 6, EntryPayload::Blank)]),
            ("a repeat", vec![entry(10, 5, EntryPayload::Blank), entry(10, 5, EntryPayload::Blank)]),
            ("a term going down", vec![entry(8, 5, EntryPayload::Blank)]),
            ("a term past the leader's", vec![entry(11, 5, EntryPayload::Blank)]),
            ("an index past reach", vec![entry(10, RAFT_LOG_INDEX_MAX + 1, EntryPayload::Blank)]),
            ("a voter without a node", vec![entry(10, 5, EntryPayload::Membership(voter_without_node()))]),
            ("no voter", vec![entry(10, 5, EntryPayload::Membership(membership(&[], &[1])))]),
        ] {
            assert_eq!(code(admit_append(2, LOCAL, &append(entries))), Some(tonic::Code::InvalidArgument), "{what}");
        }
        let sound = vec![entry(10, 5, EntryPayload::Membership(membership(&[1, 2, 3], &[1, 2, 3, 4])))];
        assert_eq!(code(admit_append(2, LOCAL, &append(sound))), None);
    }

    #[test]
    fn a_stale_leaders_append_is_left_to_openraft_which_answers_its_higher_vote() {
        // A deposed leader's replication task (term 10) reading its own log,
        // which already holds an entry of the term-11 leader it accepted since.
        let deposed = append(vec![entry(11, 5, EntryPayload::Blank)]);
        assert_eq!(code(admit_append(2, Local { term: 11 }, &deposed)), None, "stale: openraft refuses it by vote");
        assert_eq!(code(admit_append(2, LOCAL, &deposed)), Some(tonic::Code::InvalidArgument), "current: refused");
        // The identity is checked whatever the term.
        assert_eq!(code(admit_append(3, Local { term: 11 }, &deposed)), Some(tonic::Code::PermissionDenied));
    }

    #[test]
    fn a_snapshot_chunk_must_end_within_its_bound() {
        let chunk = |offset: u64, data: usize| InstallSnapshotRequest::<TypeConfig> {
            vote: Vote::new_committed(10, 2),
            meta: SnapshotMeta {
                last_log_id: Some(log_id(10, 40)),
                last_membership: StoredMembership::new(Some(log_id(9, 3)), membership(&[1, 2, 3], &[1, 2, 3])),
                snapshot_id: "s".to_owned(),
            },
            offset,
            data: vec![0; data],
            done: false,
        };
        assert_eq!(code(admit_snapshot(2, LOCAL, &chunk(0, 16))), None);
        assert_eq!(code(admit_snapshot(2, LOCAL, &chunk(1 << 40, 1))), Some(tonic::Code::InvalidArgument));
        assert_eq!(code(admit_snapshot(2, LOCAL, &chunk(u64::MAX, 1))), Some(tonic::Code::InvalidArgument));
        let mut later_membership = chunk(0, 1);
        later_membership.meta.last_membership = StoredMembership::new(Some(log_id(10, 41)), membership(&[1], &[1]));
        assert_eq!(code(admit_snapshot(2, LOCAL, &later_membership)), Some(tonic::Code::InvalidArgument));
        let uncommitted = InstallSnapshotRequest { vote: Vote::new(10, 2), ..chunk(0, 1) };
        assert_eq!(code(admit_snapshot(2, LOCAL, &uncommitted)), Some(tonic::Code::InvalidArgument));
        // Stale (this node is at term 11): the meta is left to openraft, which
        // refuses the chunk by vote; the chunk's bound holds whatever the term.
        let later = Local { term: 11 };
        assert_eq!(code(admit_snapshot(2, later, &later_membership)), None);
        assert_eq!(code(admit_snapshot(2, later, &chunk(1 << 40, 1))), Some(tonic::Code::InvalidArgument));
    }

    #[test]
    fn a_certificate_names_one_member_exactly() {
        let ca = ClusterCa::generate("test").expect("CA");
        let der = |pem: &str| first_certificate_der(pem.as_bytes()).expect("PEM");
        let (member, _) = ca.issue(7).expect("issued");
        assert_eq!(node_of_certificate(&der(&member)), Ok(7));
        for names in [vec!["node-07.settled"], vec!["*.settled"], vec!["node-1.settled", "node-2.settled"], vec![]] {
            let key = rcgen::KeyPair::generate().expect("key");
            let params = rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .expect("params");
            let cert = params.signed_by(&key, &ca.issuer).expect("signed");
            assert!(node_of_certificate(cert.der()).is_err(), "{names:?} names a member");
        }
    }
}
