//! `AdminService.AddReplica` / `RemoveReplica`: cluster membership changes
//! through openraft (a learner that catches up, then a joint-consensus
//! change of the voters), on the leader.

use std::collections::BTreeSet;

use openraft::error::{ClientWriteError, RaftError};
use tonic::{Request, Response, Status};

use crate::api::auth::Need;
use crate::api::{Api, checks, refusal_to_status};
use crate::cluster::{NodeId, ReplicaNode};
use crate::core::limits::MEMBERSHIP_CHANGE_TIMEOUT;
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
        let (id, node) = ReplicaNode::to_add(id, raft_addr, api_addr).map_err(|message| {
            // The message opens with the field at fault.
            let field = ["raft_addr", "api_addr"].into_iter().find(|f| message.starts_with(f)).unwrap_or("id");
            crate::api::invalid_field(field, message)
        })?;
        let raft = self.cluster_raft()?;
        let voters: BTreeSet<NodeId> = raft.metrics().borrow().membership_config.membership().voter_ids().collect();
        let next = checks::voters_after_adding(&voters, id)?;
        let change = async {
            raft.add_learner(id, node, true).await?;
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
        let (voters, learners) = {
            let metrics = raft.metrics();
            let state = metrics.borrow();
            let membership = state.membership_config.membership();
            let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
            let learners: BTreeSet<NodeId> = membership.learner_ids().collect();
            (voters, learners)
        };
        let next = match checks::removal(&voters, &learners, id)? {
            checks::Removal::Learner(learner) => {
                let removal = openraft::ChangeMembers::RemoveNodes(BTreeSet::from([learner]));
                return match tokio::time::timeout(MEMBERSHIP_CHANGE_TIMEOUT, raft.change_membership(removal, false))
                    .await
                {
                    Err(_) => Err(Status::deadline_exceeded("the membership change did not commit in time")),
                    Ok(Err(error)) => Err(self.membership_error(&error)),
                    Ok(Ok(_)) => self.voters(),
                };
            }
            checks::Removal::Voters(next) => next,
        };
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
