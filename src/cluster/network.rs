//! openraft's messages between nodes over gRPC (`settled.v1.RaftService`
//! and `settled.v1.PeerService`, proto/settled/v1/raft.proto), under mutual
//! TLS with the cluster's CA (`peers.rs`): the client side openraft calls
//! to reach a peer ([`GrpcNetworkFactory`], [`GrpcNetwork`]) and the server
//! side that hands a peer's call to the local `Raft` ([`RaftRpcService`])
//! once the caller's certificate names a member and the message claims no
//! other identity and no unreachable term.
//!
//! The only place the Raft proto types meet openraft's: a request or reply
//! travels as one postcard-encoded openraft value in a `bytes` field. Both
//! ends are the same build, so there is no schema to evolve separately.
//! The two services differ in their request bound: appends and snapshot
//! chunks up to `RAFT_MESSAGE_BYTES_MAX`, votes and the rest up to
//! `RAFT_SMALL_MESSAGE_BYTES_MAX`.
//!
//! Failures the caller can retry are told to openraft as such: no connection
//! is `Unreachable` (openraft backs off before the next try), a call cut off
//! or garbled on the way is a `NetworkError`, a call past its time limit is a
//! `Timeout`, and a batch too large to send is `PayloadTooLarge` (openraft
//! sends fewer entries). An error the peer's Raft returned is a
//! `RemoteError` carrying it.

use std::error::Error;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use openraft::Raft;
use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RPCTypes, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Response, Status};

use super::peers::{self, PeerTls};
use super::{NodeId, ReplicaNode, TypeConfig};
use crate::core::crypto::Keypair;
use crate::core::limits::{
    RAFT_APPEND_BATCH_BYTES, RAFT_CONNECT_TIMEOUT, RAFT_FETCH_BLOCKS_MAX, RAFT_FETCH_BYTES_MAX, RAFT_FETCH_TIMEOUT,
    RAFT_MESSAGE_BYTES_MAX, RAFT_SMALL_MESSAGE_BYTES_MAX,
};
use crate::engine::replica::ReplicatedBlock;
use crate::proto::peer_service_client::PeerServiceClient;
use crate::proto::peer_service_server::{PeerService, PeerServiceServer};
use crate::proto::raft_reply::Result as ReplyResult;
use crate::proto::raft_service_client::RaftServiceClient;
use crate::proto::raft_service_server::{RaftService, RaftServiceServer};
use crate::proto::{FetchBlocksReply, FetchBlocksRequest, PeerStatusReply, PeerStatusRequest, RaftReply, RaftRequest};
use crate::store::Store;

/// An RPC error as openraft's network calls return it.
type RpcError<E = openraft::error::Infallible> = RPCError<NodeId, ReplicaNode, RaftError<NodeId, E>>;

/// Faults injected into the Raft messages between nodes (tests and
/// simulations only; never from a configuration file): links cut in either
/// direction (a partition), requests lost, replies lost (the peer acted,
/// the sender never hears), and delays, drawn from a seeded generator.
/// Shared by every node of a test cluster, so that one schedule drives all
/// links.
#[derive(Clone)]
pub struct NetworkFaults(Arc<std::sync::Mutex<FaultState>>);

struct FaultState {
    rng: rand::rngs::StdRng,
    cut: std::collections::HashSet<(NodeId, NodeId)>,
    /// Per mille of requests lost, and of replies lost.
    lose_requests: u32,
    lose_replies: u32,
    delay_ms_max: u64,
}

/// What happens to one message.
enum Fate {
    Cut,
    Lost,
    Delivered { delay: Duration, reply_lost: bool },
}

impl NetworkFaults {
    /// No faults yet; draws from `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        use rand::SeedableRng as _;
        Self(Arc::new(std::sync::Mutex::new(FaultState {
            rng: rand::rngs::StdRng::seed_from_u64(seed),
            cut: std::collections::HashSet::new(),
            lose_requests: 0,
            lose_replies: 0,
            delay_ms_max: 0,
        })))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, FaultState> {
        self.0.lock().expect("not poisoned")
    }

    /// Cuts `node` off from every node in `others`, both ways.
    pub fn isolate(&self, node: NodeId, others: &[NodeId]) {
        let mut state = self.state();
        for other in others.iter().filter(|other| **other != node) {
            state.cut.insert((node, *other));
            state.cut.insert((*other, node));
        }
    }

    /// Cuts the link between `a` and `b`, both ways.
    pub fn cut(&self, a: NodeId, b: NodeId) {
        self.isolate(a, &[b]);
    }

    /// Loses this many per mille of requests and of replies.
    pub fn lose(&self, requests_per_mille: u32, replies_per_mille: u32) {
        let mut state = self.state();
        state.lose_requests = requests_per_mille.min(1000);
        state.lose_replies = replies_per_mille.min(1000);
    }

    /// Delays each delivered message by up to `max`.
    pub fn delay(&self, max: Duration) {
        self.state().delay_ms_max = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    }

    /// Every link whole, nothing lost or delayed.
    pub fn heal(&self) {
        let mut state = self.state();
        state.cut.clear();
        state.lose_requests = 0;
        state.lose_replies = 0;
        state.delay_ms_max = 0;
    }

    fn fate(&self, from: NodeId, to: NodeId) -> Fate {
        use rand::Rng as _;
        let mut state = self.state();
        if state.cut.contains(&(from, to)) {
            return Fate::Cut;
        }
        let lose_requests = state.lose_requests;
        if state.rng.gen_range(0..1000) < lose_requests {
            return Fate::Lost;
        }
        let delay_ms_max = state.delay_ms_max;
        let delay = Duration::from_millis(state.rng.gen_range(0..=delay_ms_max));
        let lose_replies = state.lose_replies;
        Fate::Delivered { delay, reply_lost: state.rng.gen_range(0..1000) < lose_replies }
    }
}

impl std::fmt::Debug for NetworkFaults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NetworkFaults")
    }
}

impl PartialEq for NetworkFaults {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for NetworkFaults {}

/// Makes the client openraft uses to reach each peer, at the address its
/// `ReplicaNode` carries (`host:port` of the peer's Raft service), over
/// mutual TLS.
pub struct GrpcNetworkFactory {
    id: NodeId,
    tls: PeerTls,
    faults: Option<NetworkFaults>,
}

impl GrpcNetworkFactory {
    /// The factory of node `id` (named as the caller in timeout errors),
    /// showing its certificate of `tls` to every peer, with `faults` on
    /// every message it sends (tests).
    #[must_use]
    pub fn new(id: NodeId, tls: PeerTls, faults: Option<NetworkFaults>) -> Self {
        Self { id, tls, faults }
    }
}

impl RaftNetworkFactory<TypeConfig> for GrpcNetworkFactory {
    type Network = GrpcNetwork;

    async fn new_client(&mut self, target: NodeId, node: &ReplicaNode) -> GrpcNetwork {
        let mut network = GrpcNetwork::new(self.id, target, node.clone(), &self.tls);
        network.faults.clone_from(&self.faults);
        network
    }
}

/// A channel to member `target` at `addr`: TLS with the cluster CA, the
/// server's certificate naming `target`, this member's own shown.
fn peer_channel(addr: &str, target: NodeId, tls: &PeerTls) -> Result<Channel, tonic::transport::Error> {
    Ok(Endpoint::from_shared(format!("https://{addr}"))?
        .tls_config(tls.client(target))?
        .connect_timeout(RAFT_CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .connect_lazy())
}

/// openraft's client to one peer: lazily connected tonic channels, which
/// reconnect by themselves on the next call after the peer comes back.
pub struct GrpcNetwork {
    id: NodeId,
    target: NodeId,
    node: ReplicaNode,
    /// An address that is not a valid URI fails every call as unreachable:
    /// openraft's `new_client` cannot fail, and a membership change may name
    /// a bad address that a later change corrects.
    client: Result<(RaftServiceClient<Channel>, PeerServiceClient<Channel>), tonic::transport::Error>,
    faults: Option<NetworkFaults>,
}

impl GrpcNetwork {
    fn new(id: NodeId, target: NodeId, node: ReplicaNode, tls: &PeerTls) -> Self {
        let client = peer_channel(&node.raft_addr, target, tls).map(|channel| {
            let raft = RaftServiceClient::new(channel.clone())
                .max_decoding_message_size(RAFT_MESSAGE_BYTES_MAX)
                .max_encoding_message_size(RAFT_MESSAGE_BYTES_MAX);
            let peer = PeerServiceClient::new(channel)
                .max_decoding_message_size(RAFT_SMALL_MESSAGE_BYTES_MAX)
                .max_encoding_message_size(RAFT_SMALL_MESSAGE_BYTES_MAX);
            (raft, peer)
        });
        Self { id, target, node, client, faults: None }
    }

    /// Sends one encoded request and decodes the reply: the peer's
    /// response, or the `RaftError` its Raft returned.
    async fn call<Resp, E>(
        &mut self,
        action: RPCTypes,
        payload: Vec<u8>,
        option: &RPCOption,
    ) -> Result<Resp, RpcError<E>>
    where
        Resp: DeserializeOwned,
        E: Error + DeserializeOwned,
    {
        let ttl = option.hard_ttl();
        let timeout = || Timeout { action, id: self.id, target: self.target, timeout: ttl };
        let mut reply_lost = false;
        if let Some(faults) = &self.faults {
            match faults.fate(self.id, self.target) {
                Fate::Cut => return Err(RPCError::Unreachable(Unreachable::new(&Status::unavailable("link cut")))),
                Fate::Lost => {
                    tokio::time::sleep(ttl).await;
                    return Err(RPCError::Timeout(timeout()));
                }
                Fate::Delivered { delay, reply_lost: lost } => {
                    tokio::time::sleep(delay.min(ttl)).await;
                    reply_lost = lost;
                }
            }
        }
        let (raft, peer) = match &mut self.client {
            Ok(clients) => clients,
            Err(bad_address) => return Err(RPCError::Unreachable(Unreachable::new(bad_address))),
        };
        let mut request = Request::new(RaftRequest { payload });
        // Tells the peer too, so that it stops working on a call nobody waits for.
        request.set_timeout(ttl);
        let sent = async {
            match action {
                RPCTypes::AppendEntries => raft.append_entries(request).await,
                RPCTypes::Vote => peer.vote(request).await,
                RPCTypes::InstallSnapshot => raft.install_snapshot(request).await,
            }
        };
        let reply = match tokio::time::timeout(ttl, sent).await {
            Ok(_) if reply_lost => return Err(RPCError::Timeout(timeout())),
            Err(_elapsed) => return Err(RPCError::Timeout(timeout())),
            Ok(Err(status)) if status.code() == Code::DeadlineExceeded => return Err(RPCError::Timeout(timeout())),
            Ok(Err(status)) if status.code() == Code::Unavailable => {
                return Err(RPCError::Unreachable(Unreachable::new(&status)));
            }
            Ok(Err(status)) => return Err(RPCError::Network(NetworkError::new(&status))),
            Ok(Ok(reply)) => reply.into_inner(),
        };
        match reply.result {
            Some(ReplyResult::Payload(bytes)) => {
                postcard::from_bytes(&bytes).map_err(|e| RPCError::Network(NetworkError::new(&e)))
            }
            Some(ReplyResult::Error(bytes)) => {
                let error: RaftError<NodeId, E> =
                    postcard::from_bytes(&bytes).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
                Err(RPCError::RemoteError(RemoteError::new_with_node(self.target, self.node.clone(), error)))
            }
            None => Err(RPCError::Network(NetworkError::new(&Status::internal("a Raft reply with no result")))),
        }
    }
}

/// Encodes a request, refusing one over `RAFT_MESSAGE_BYTES_MAX` (the peer
/// would refuse it after the transfer anyway).
fn encode_request<T: Serialize>(request: &T) -> Result<Vec<u8>, EncodeError> {
    let bytes = postcard::to_allocvec(request).map_err(EncodeError::Codec)?;
    if bytes.len() > RAFT_MESSAGE_BYTES_MAX {
        return Err(EncodeError::TooLarge(bytes.len()));
    }
    Ok(bytes)
}

#[derive(Debug, thiserror::Error)]
enum EncodeError {
    #[error("encode: {0}")]
    Codec(postcard::Error),
    #[error("a Raft message of {0} bytes is over its bound")]
    TooLarge(usize),
}

impl RaftNetwork<TypeConfig> for GrpcNetwork {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcError> {
        let entries = rpc.entries.len() as u64;
        let payload = match encode_request(&rpc) {
            // A batch is sent within one heartbeat interval, the follower's
            // fsync included: past a few MiB, fewer entries at a time.
            Ok(payload) if payload.len() > RAFT_APPEND_BATCH_BYTES && entries > 1 => {
                let e = EncodeError::TooLarge(payload.len());
                return Err(RPCError::PayloadTooLarge(
                    PayloadTooLarge::new_entries_hint(entries / 2).with_source_error(&e),
                ));
            }
            Ok(payload) => payload,
            // Half as many entries next time; one entry always fits, as a
            // proposal is at most half the message bound.
            Err(e @ EncodeError::TooLarge(_)) if entries > 1 => {
                return Err(RPCError::PayloadTooLarge(
                    PayloadTooLarge::new_entries_hint(entries / 2).with_source_error(&e),
                ));
            }
            Err(e) => return Err(RPCError::Network(NetworkError::new(&e))),
        };
        self.call(RPCTypes::AppendEntries, payload, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcError<InstallSnapshotError>> {
        let payload = encode_request(&rpc).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        self.call(RPCTypes::InstallSnapshot, payload, &option).await
    }

    async fn vote(&mut self, rpc: VoteRequest<NodeId>, option: RPCOption) -> Result<VoteResponse<NodeId>, RpcError> {
        let payload = encode_request(&rpc).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        if payload.len() > RAFT_SMALL_MESSAGE_BYTES_MAX {
            return Err(RPCError::Network(NetworkError::new(&EncodeError::TooLarge(payload.len()))));
        }
        self.call(RPCTypes::Vote, payload, &option).await
    }

    /// openraft's default backs off 500 ms after `Unreachable`; a peer that
    /// is down is tried again after a heartbeat-scale pause instead, so that
    /// a restarted node is caught up soon after it listens again.
    fn backoff(&self) -> openraft::network::Backoff {
        openraft::network::Backoff::new(std::iter::repeat(UNREACHABLE_BACKOFF))
    }
}

/// Pause before calling a peer again after it was unreachable.
const UNREACHABLE_BACKOFF: Duration = Duration::from_millis(200);

/// The server side: checks who calls (a member's certificate) and what it
/// claims, decodes a peer's call, hands it to the local Raft and encodes
/// what it answered.
#[derive(Clone)]
pub struct RaftRpcService {
    raft: Raft<TypeConfig>,
    blocks: BlockSource,
    /// The members the configuration names: admitted while this node holds
    /// no membership yet (a new cluster's members before the first leader
    /// reaches them, a joining member before it is sent the membership).
    founders: Arc<Vec<NodeId>>,
}

/// Where `FetchBlocks` reads committed blocks: the node's ledger and the
/// engine key that signs them, set once the engine has started (before
/// that, and on a node without an engine, the call is `UNAVAILABLE`).
#[derive(Clone, Default)]
pub struct BlockSource(Arc<OnceLock<(Arc<Store>, Keypair)>>);

impl BlockSource {
    /// Serves blocks from `store`, signed with `engine_key`.
    pub fn set(&self, store: Arc<Store>, engine_key: Keypair) {
        let _ = self.0.set((store, engine_key));
    }

    /// Up to `max_blocks` consecutive blocks from `from_height` (fewer past
    /// `RAFT_FETCH_BYTES_MAX`, at least one if there is one), encoded.
    fn read(&self, from_height: u64, max_blocks: u32) -> Result<(Vec<Vec<u8>>, u64), Status> {
        let Some((store, engine_key)) = self.0.get() else {
            return Err(Status::unavailable("this node's ledger is not open yet"));
        };
        let failed = |e: crate::store::StoreError| Status::internal(format!("reading blocks: {e}"));
        let tip = store.tip_height().map_err(failed)?;
        let mut blocks = Vec::new();
        let mut bytes = 0;
        let wanted = u64::from(max_blocks.clamp(1, RAFT_FETCH_BLOCKS_MAX));
        for height in from_height..from_height.saturating_add(wanted).min(tip.saturating_add(1)) {
            let Some(sealed) = store.sealed_block(height).map_err(failed)? else { break };
            let encoded = ReplicatedBlock::from(sealed).encode(engine_key, &store.chain_id());
            if !blocks.is_empty() && bytes + encoded.len() > RAFT_FETCH_BYTES_MAX {
                break;
            }
            bytes += encoded.len();
            blocks.push(encoded);
        }
        Ok((blocks, tip))
    }
}

impl RaftRpcService {
    /// The two services for `raft`, their bounds set on their codecs, ready
    /// for `tonic::transport::Server::add_service`: appends and snapshots up
    /// to `RAFT_MESSAGE_BYTES_MAX`; votes, status and fetch requests up to
    /// `RAFT_SMALL_MESSAGE_BYTES_MAX` (fetched blocks answered up to the
    /// large bound).
    #[must_use]
    pub fn servers(
        raft: Raft<TypeConfig>,
        blocks: BlockSource,
        founders: Vec<NodeId>,
    ) -> (RaftServiceServer<Self>, PeerServiceServer<Self>) {
        let service = Self { raft, blocks, founders: Arc::new(founders) };
        let raft = RaftServiceServer::new(service.clone())
            .max_decoding_message_size(RAFT_MESSAGE_BYTES_MAX)
            .max_encoding_message_size(RAFT_MESSAGE_BYTES_MAX);
        let peer = PeerServiceServer::new(service)
            .max_decoding_message_size(RAFT_SMALL_MESSAGE_BYTES_MAX)
            .max_encoding_message_size(RAFT_MESSAGE_BYTES_MAX);
        (raft, peer)
    }

    /// The member calling: the node its certificate names (the TLS layer
    /// has checked that the cluster CA issued it), if that node is a
    /// member (voter or learner) of the membership this node holds, or of
    /// its configuration's while it holds none; with this node's term, and
    /// whether the caller votes (only a voter may stand for election or
    /// lead: a learner's messages as candidate or leader are refused).
    fn caller<T>(&self, request: &Request<T>) -> Result<(NodeId, peers::Local, bool), Status> {
        let certificates = request.peer_certs().ok_or_else(|| {
            Status::unauthenticated("the Raft port takes calls from cluster members only: no member certificate")
        })?;
        let certificate = certificates
            .first()
            .ok_or_else(|| Status::unauthenticated("the Raft port takes calls from cluster members only"))?;
        let id = peers::node_of_certificate(certificate.as_ref())
            .map_err(|e| Status::unauthenticated(format!("the caller's certificate: {e}")))?;
        let metrics = self.raft.metrics();
        let state = metrics.borrow();
        let membership = state.membership_config.membership();
        let (member, voter) = if membership.nodes().next().is_none() {
            (self.founders.contains(&id), self.founders.contains(&id))
        } else {
            (membership.get_node(&id).is_some(), membership.voter_ids().any(|voter| voter == id))
        };
        if !member {
            return Err(Status::permission_denied(format!("node {id} is not a member of this cluster")));
        }
        Ok((id, peers::Local { term: state.current_term }, voter))
    }

    /// The caller, if it votes: what a candidate or a leader must be.
    fn voter<T>(&self, request: &Request<T>, what: &str) -> Result<(NodeId, peers::Local), Status> {
        let (id, local, voter) = self.caller(request)?;
        if !voter {
            return Err(Status::permission_denied(format!("{what} from node {id}, which does not vote")));
        }
        Ok((id, local))
    }
}

/// A client of member `target`'s peer service at `addr`.
fn peer_client(addr: &str, target: NodeId, tls: &PeerTls) -> Result<PeerServiceClient<Channel>, String> {
    let channel = peer_channel(addr, target, tls).map_err(|e| format!("{addr}: {e}"))?;
    Ok(PeerServiceClient::new(channel)
        .max_decoding_message_size(RAFT_MESSAGE_BYTES_MAX)
        .max_encoding_message_size(RAFT_SMALL_MESSAGE_BYTES_MAX))
}

/// Asks member `target`, whose Raft service is at `addr`, what it knows of
/// node `caller` (`PeerStatus`), within `RAFT_CONNECT_TIMEOUT` twice over.
///
/// # Errors
/// The peer is unreachable or does not answer in time.
pub async fn peer_status(addr: &str, target: NodeId, caller: NodeId, tls: &PeerTls) -> Result<PeerStatusReply, String> {
    let mut client = peer_client(addr, target, tls)?;
    let within = RAFT_CONNECT_TIMEOUT * 2;
    let mut request = Request::new(PeerStatusRequest { caller });
    request.set_timeout(within);
    tokio::time::timeout(within, client.peer_status(request))
        .await
        .map_err(|_| format!("{addr}: no answer"))?
        .map(Response::into_inner)
        .map_err(|status| format!("{addr}: {}", status.message()))
}

/// Asks member `target`, whose Raft service is at `addr`, for committed
/// blocks from `from_height` (`FetchBlocks`), within `RAFT_FETCH_TIMEOUT`.
///
/// # Errors
/// The peer is unreachable, refuses, or does not answer in time.
pub async fn fetch_blocks(
    addr: &str,
    target: NodeId,
    tls: &PeerTls,
    from_height: u64,
    max_blocks: u32,
) -> Result<(Vec<Vec<u8>>, u64), String> {
    let mut client = peer_client(addr, target, tls)?;
    let mut request = Request::new(FetchBlocksRequest { from_height, max_blocks });
    request.set_timeout(RAFT_FETCH_TIMEOUT);
    let reply = tokio::time::timeout(RAFT_FETCH_TIMEOUT, client.fetch_blocks(request))
        .await
        .map_err(|_| format!("{addr}: no answer in {} ms", RAFT_FETCH_TIMEOUT.as_millis()))?
        .map_err(|status| format!("{addr}: {}", status.message()))?
        .into_inner();
    Ok((reply.blocks, reply.tip_height))
}

fn decode_request<T: DeserializeOwned>(request: Request<RaftRequest>) -> Result<T, Status> {
    postcard::from_bytes(&request.into_inner().payload)
        .map_err(|e| Status::invalid_argument(format!("not an openraft request: {e}")))
}

/// The reply to a peer: the response, or the error the local Raft returned.
fn reply<T: Serialize, E: Serialize>(result: Result<T, E>) -> Result<Response<RaftReply>, Status> {
    let encode = |bytes: Result<Vec<u8>, postcard::Error>| {
        bytes.map_err(|e| Status::internal(format!("encoding the Raft reply: {e}")))
    };
    let result = match result {
        Ok(response) => ReplyResult::Payload(encode(postcard::to_allocvec(&response))?),
        Err(error) => ReplyResult::Error(encode(postcard::to_allocvec(&error))?),
    };
    Ok(Response::new(RaftReply { result: Some(result) }))
}

#[tonic::async_trait]
impl RaftService for RaftRpcService {
    async fn append_entries(&self, request: Request<RaftRequest>) -> Result<Response<RaftReply>, Status> {
        let (peer, local) = self.voter(&request, "an append")?;
        let rpc: AppendEntriesRequest<TypeConfig> = decode_request(request)?;
        peers::admit_append(peer, local, &rpc)?;
        reply(self.raft.append_entries(rpc).await)
    }

    async fn install_snapshot(&self, request: Request<RaftRequest>) -> Result<Response<RaftReply>, Status> {
        let (peer, local) = self.voter(&request, "a snapshot")?;
        let rpc: InstallSnapshotRequest<TypeConfig> = decode_request(request)?;
        peers::admit_snapshot(peer, local, &rpc)?;
        reply(self.raft.install_snapshot(rpc).await)
    }
}

#[tonic::async_trait]
impl PeerService for RaftRpcService {
    async fn vote(&self, request: Request<RaftRequest>) -> Result<Response<RaftReply>, Status> {
        let (peer, local) = self.voter(&request, "a vote request")?;
        let rpc: VoteRequest<NodeId> = decode_request(request)?;
        peers::admit_vote(peer, local, &rpc)?;
        reply(self.raft.vote(rpc).await)
    }

    async fn peer_status(&self, request: Request<PeerStatusRequest>) -> Result<Response<PeerStatusReply>, Status> {
        let (peer, _, _) = self.caller(&request)?;
        let caller = request.into_inner().caller;
        if caller != peer {
            return Err(Status::permission_denied(format!(
                "a status request for node {caller} from node {peer}: a member asks about itself only"
            )));
        }
        let metrics = self.raft.metrics();
        let state = metrics.borrow();
        let voters = state.membership_config.membership().voter_ids().collect();
        let matched = state.replication.as_ref().and_then(|replication| replication.get(&caller).cloned().flatten());
        Ok(Response::new(PeerStatusReply {
            voters,
            caller_matched: matched.is_some(),
            caller_matched_index: matched.map_or(0, |log_id| log_id.index),
        }))
    }

    async fn fetch_blocks(&self, request: Request<FetchBlocksRequest>) -> Result<Response<FetchBlocksReply>, Status> {
        self.caller(&request)?;
        let FetchBlocksRequest { from_height, max_blocks } = request.into_inner();
        let blocks = self.blocks.clone();
        let (blocks, tip_height) = tokio::task::spawn_blocking(move || blocks.read(from_height, max_blocks))
            .await
            .map_err(|e| Status::internal(format!("reading blocks: {e}")))??;
        Ok(Response::new(FetchBlocksReply { blocks, tip_height }))
    }
}
