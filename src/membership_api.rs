//! `AdminService.AddReplica` / `RemoveReplica`: cluster membership changes
//! through openraft (a learner that catches up, then a joint-consensus
//! change of the voters), on the leader.

use std::collections::{BTreeMap, BTreeSet};

use openraft::error::{ClientWriteError, RaftError};
use tonic::{Request, Response, Status};

use crate::api::{Api, refusal_to_status};
use crate::auth::Need;
use crate::cluster::{NodeId, ReplicaNode};
use crate::limits::{CLUSTER_MEMBERS_MAX, MEMBERSHIP_CHANGE_TIMEOUT};
use crate::proto;

type WriteError = RaftError<NodeId, ClientWriteError<NodeId, ReplicaNode>>;

impl Api {
    fn cluster_raft(&self) -> Result<&openraft::Raft<crate::cluster::TypeConfig>, Status> {
        let raft = self
            .raft
            .as_ref()
            .ok_or_else(|| Status::failed_precondition("this server is a single node, not a cluster"))?;
        if !self.engine.leading() {
            return Err(refusal_to_status(&self.engine.not_leader()));
        }
        Ok(raft)
    }

    fn voters(&self) -> Result<Response<proto::MembershipResponse>, Status> {
        let raft = self.raft.as_ref().ok_or_else(|| Status::failed_precondition("not a cluster"))?;
        let metrics = raft.metrics();
        let state = metrics.borrow();
        let membership = state.membership_config.membership();
        let voters = membership
            .voter_ids()
            .filter_map(|id| membership.get_node(&id).map(|node| (id, node.clone())))
            .map(|(id, node)| proto::ReplicaMember { id, raft_addr: node.raft_addr, api_addr: node.api_addr })
            .collect();
        Ok(Response::new(proto::MembershipResponse { voters }))
    }

    fn membership_error(&self, error: &WriteError) -> Status {
        match error {
            RaftError::APIError(ClientWriteError::ForwardToLeader(_)) => refusal_to_status(&self.engine.not_leader()),
            RaftError::APIError(ClientWriteError::ChangeMembershipError(change)) => {
                Status::failed_precondition(format!("membership change refused: {change}"))
            }
            RaftError::Fatal(fatal) => Status::unavailable(format!("raft stopped: {fatal}")),
        }
    }

    pub(crate) async fn add_voter(
        &self,
        request: Request<proto::AddReplicaRequest>,
    ) -> Result<Response<proto::MembershipResponse>, Status> {
        self.authorize(&request, &[Need::Operator])?;
        let proto::AddReplicaRequest { id, raft_addr, api_addr } = request.into_inner();
        for (what, address) in [("raft_addr", &raft_addr), ("api_addr", &api_addr)] {
            if address.parse::<std::net::SocketAddr>().is_err() {
                return Err(Status::invalid_argument(format!("{what} '{address}' is not host:port")));
            }
        }
        if id == 0 {
            return Err(Status::invalid_argument("replica id 0 is not an id"));
        }
        let raft = self.cluster_raft()?;
        let voters: BTreeSet<NodeId> = raft.metrics().borrow().membership_config.membership().voter_ids().collect();
        if voters.contains(&id) {
            return Err(Status::already_exists(format!("replica {id} is already a voter")));
        }
        if voters.len() >= CLUSTER_MEMBERS_MAX {
            return Err(Status::resource_exhausted(format!(
                "the cluster has {} voters, the most it may have (CLUSTER_MEMBERS_MAX)",
                voters.len()
            )));
        }
        let node = ReplicaNode { raft_addr, api_addr };
        let change = async {
            raft.add_learner(id, node, true).await?;
            let mut next = voters.clone();
            next.insert(id);
            raft.change_membership(next, false).await
        };
        match tokio::time::timeout(MEMBERSHIP_CHANGE_TIMEOUT, change).await {
            Err(_) => Err(Status::deadline_exceeded(format!(
                "replica {id} did not catch up and join within {} s; it stays a learner (remove it, or call again)",
                MEMBERSHIP_CHANGE_TIMEOUT.as_secs()
            ))),
            Ok(Err(error)) => Err(self.membership_error(&error)),
            Ok(Ok(_)) => {
                tracing::info!(id, "replica added to the voters");
                self.voters()
            }
        }
    }

    pub(crate) async fn remove_voter(
        &self,
        request: Request<proto::RemoveReplicaRequest>,
    ) -> Result<Response<proto::MembershipResponse>, Status> {
        self.authorize(&request, &[Need::Operator])?;
        let id = request.into_inner().id;
        let raft = self.cluster_raft()?;
        let voters: BTreeSet<NodeId> = raft.metrics().borrow().membership_config.membership().voter_ids().collect();
        if !voters.contains(&id) {
            return Err(Status::not_found(format!("replica {id} is not a voter")));
        }
        if voters.len() == 1 {
            return Err(Status::failed_precondition("the last voter cannot leave"));
        }
        let next: BTreeSet<NodeId> = voters.into_iter().filter(|voter| *voter != id).collect();
        match tokio::time::timeout(MEMBERSHIP_CHANGE_TIMEOUT, raft.change_membership(next, false)).await {
            Err(_) => Err(Status::deadline_exceeded("the membership change did not commit in time")),
            Ok(Err(error)) => Err(self.membership_error(&error)),
            Ok(Ok(_)) => {
                tracing::info!(id, "replica removed from the voters");
                self.voters()
            }
        }
    }
}

/// The members of a new cluster as openraft's `initialize` takes them.
#[must_use]
pub fn initial_members(members: &[crate::config::ClusterMember]) -> BTreeMap<NodeId, ReplicaNode> {
    members
        .iter()
        .map(|m| (m.id, ReplicaNode { raft_addr: m.raft_addr.clone(), api_addr: m.api_addr.clone() }))
        .collect()
}
