//! The cluster's Raft storage on redb: openraft's own storage test suite on
//! real files, then what the suite does not check: durability across a
//! reopen, the read bound, a snapshot carried to a fresh state machine, and
//! compaction driven by a running (single-node) openraft.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::testing::{StoreBuilder, Suite};
use openraft::{
    CommittedLeaderId, EntryPayload, LogState, Membership, Raft, RaftLogReader, RaftSnapshotBuilder, ServerState,
    StorageIOError, StoredMembership, Vote,
};
use settled::cluster::{
    ApplyOutcome, BlockProposal, Entry, LOG_FILE, LogId, NodeId, RaftLogStore, RaftStateMachineStore, ReplicaNode,
    STATE_MACHINE_FILE, StorageError, TypeConfig, raft_config,
};
use settled::limits::{RAFT_LOG_ENTRIES_PER_READ_MAX, RAFT_PROPOSALS_PAGE_MAX};
use tempfile::TempDir;

/// Both stores on fresh redb files in a temporary directory, removed when the
/// suite drops the guard.
struct RedbStores;

impl StoreBuilder<TypeConfig, RaftLogStore, RaftStateMachineStore, TempDir> for RedbStores {
    async fn build(&self) -> Result<(TempDir, RaftLogStore, RaftStateMachineStore), StorageError> {
        let dir = tempfile::tempdir().map_err(|e| StorageIOError::write(&e))?;
        let log = RaftLogStore::open(&dir.path().join(LOG_FILE))?;
        let state_machine = RaftStateMachineStore::open(&dir.path().join(STATE_MACHINE_FILE))?;
        Ok((dir, log, state_machine))
    }
}

/// The suite makes its own tokio runtimes, so this is a plain test.
#[test]
fn openraft_storage_suite_passes_on_redb_files() {
    Suite::test_all(RedbStores).expect("openraft storage suite");
}

fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, 0), index)
}

fn proposal(term: u64, index: u64, height: u64) -> Entry {
    let bytes = format!("block {height} at {index}").into_bytes();
    Entry { log_id: log_id(term, index), payload: EntryPayload::Normal(BlockProposal { height, bytes }) }
}

fn membership(term: u64, index: u64, voters: &[NodeId]) -> Entry {
    let nodes: BTreeMap<NodeId, ReplicaNode> =
        voters.iter().map(|id| (*id, ReplicaNode::raft_only(format!("127.0.0.1:{}", 7000 + id)))).collect();
    let config = Membership::new(vec![voters.iter().copied().collect::<BTreeSet<_>>()], nodes);
    Entry { log_id: log_id(term, index), payload: EntryPayload::Membership(config) }
}

fn blank(term: u64, index: u64) -> Entry {
    Entry { log_id: log_id(term, index), payload: EntryPayload::Blank }
}

fn indices(entries: &[Entry]) -> Vec<u64> {
    entries.iter().map(|entry| entry.log_id.index).collect()
}

fn open_log(dir: &Path) -> RaftLogStore {
    RaftLogStore::open(&dir.join(LOG_FILE)).expect("open log")
}

fn open_state_machine(dir: &Path) -> RaftStateMachineStore {
    RaftStateMachineStore::open(&dir.join(STATE_MACHINE_FILE)).expect("open state machine")
}

#[tokio::test]
async fn reopened_log_keeps_vote_committed_and_the_entries_after_a_purge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let vote = Vote::new_committed(2, 1);
    {
        let mut log = open_log(dir.path());
        log.blocking_append((1..=10).map(|index| proposal(1, index, index))).await.expect("append");
        log.save_vote(&vote).await.expect("save vote");
        log.save_committed(Some(log_id(1, 8))).await.expect("save committed");
        log.purge(log_id(1, 4)).await.expect("purge");
    }

    let mut log = open_log(dir.path());
    assert_eq!(log.read_vote().await.expect("read vote"), Some(vote));
    assert_eq!(log.read_committed().await.expect("read committed"), Some(log_id(1, 8)));
    assert_eq!(
        log.get_log_state().await.expect("log state"),
        LogState { last_purged_log_id: Some(log_id(1, 4)), last_log_id: Some(log_id(1, 10)) }
    );
    let kept = log.try_get_log_entries(0..100).await.expect("read");
    assert_eq!(indices(&kept), (5..=10).collect::<Vec<_>>());
    assert_eq!(kept[0].payload, proposal(1, 5, 5).payload, "an entry reads back as it was appended");
    assert!(log.try_get_log_entries(..=4).await.expect("read purged").is_empty());

    log.truncate(log_id(1, 8)).await.expect("truncate");
    drop(log);
    let mut log = open_log(dir.path());
    assert_eq!(log.get_log_state().await.expect("log state").last_log_id, Some(log_id(1, 7)));
    assert_eq!(indices(&log.try_get_log_entries(..).await.expect("read")), (5..=7).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_purge_past_the_last_entry_leaves_the_purged_id_as_the_last() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open_log(dir.path());
    log.blocking_append((1..=3).map(|index| blank(1, index))).await.expect("append");
    log.purge(log_id(2, 9)).await.expect("purge");
    // An older purge does not move the purged id back.
    log.purge(log_id(1, 2)).await.expect("purge");
    drop(log);

    let mut log = open_log(dir.path());
    assert_eq!(
        log.get_log_state().await.expect("log state"),
        LogState { last_purged_log_id: Some(log_id(2, 9)), last_log_id: Some(log_id(2, 9)) }
    );
    assert!(log.try_get_log_entries(..).await.expect("read").is_empty());
}

#[tokio::test]
async fn a_limited_read_returns_at_most_the_read_bound() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open_log(dir.path());
    let last_index = RAFT_LOG_ENTRIES_PER_READ_MAX + 5;
    log.blocking_append((1..=last_index).map(|index| blank(1, index))).await.expect("append");

    let limited = log.limited_get_log_entries(1, last_index + 1).await.expect("limited read");
    assert_eq!(indices(&limited), (1..=RAFT_LOG_ENTRIES_PER_READ_MAX).collect::<Vec<_>>());
    let tail = log.limited_get_log_entries(RAFT_LOG_ENTRIES_PER_READ_MAX + 1, last_index + 1).await.expect("read");
    assert_eq!(indices(&tail), (RAFT_LOG_ENTRIES_PER_READ_MAX + 1..=last_index).collect::<Vec<_>>());
    let all = log.try_get_log_entries(1..=last_index).await.expect("full read");
    assert_eq!(all.len() as u64, last_index, "openraft's apply needs the whole range");
}

#[tokio::test]
async fn the_first_committed_proposal_for_a_height_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut state_machine = open_state_machine(dir.path());
    let outcomes = state_machine
        .apply([
            blank(1, 1),
            proposal(1, 2, 1),
            proposal(1, 3, 1),
            proposal(1, 4, 2),
            proposal(1, 5, 4),
            membership(1, 6, &[1, 2]),
        ])
        .await
        .expect("apply");
    assert_eq!(
        outcomes,
        [
            ApplyOutcome::NoBlock,
            ApplyOutcome::Applied { height: 1 },
            ApplyOutcome::HeightTaken { height: 1 },
            ApplyOutcome::Applied { height: 2 },
            ApplyOutcome::OutOfOrder { height: 4, expected: 3 },
            ApplyOutcome::NoBlock,
        ]
    );
    let applied = state_machine.proposals(0, RAFT_PROPOSALS_PAGE_MAX).expect("proposals");
    assert_eq!(applied.len(), 2);
    assert_eq!(applied[0].bytes, b"block 1 at 2");

    let replayed = state_machine.apply([proposal(1, 5, 3)]).await;
    // An entry at or before the last applied one is refused.
    assert_refused(replayed, "Write StateMachine", "applied after");
    assert_eq!(state_machine.proposals(0, RAFT_PROPOSALS_PAGE_MAX).expect("proposals"), applied);
}

#[tokio::test]
async fn a_snapshot_installed_into_a_fresh_state_machine_gives_the_same_state() {
    let leader_dir = tempfile::tempdir().expect("tempdir");
    let mut leader = open_state_machine(leader_dir.path());
    let mut entries = vec![membership(1, 1, &[1, 2, 3])];
    entries.extend((2..=40).map(|index| proposal(1, index, index - 1)));
    entries.push(blank(2, 41));
    leader.apply(entries).await.expect("apply");
    let snapshot = leader.get_snapshot_builder().await.build_snapshot().await.expect("build");
    assert_eq!(snapshot.meta.last_log_id, Some(log_id(2, 41)));
    let current = leader.get_current_snapshot().await.expect("current").expect("a snapshot was built");
    assert_eq!(current.meta, snapshot.meta);

    let follower_dir = tempfile::tempdir().expect("tempdir");
    {
        let mut follower = open_state_machine(follower_dir.path());
        let stale = Entry {
            log_id: log_id(1, 1),
            payload: EntryPayload::Normal(BlockProposal { height: 1, bytes: b"a stale block".to_vec() }),
        };
        follower.apply([stale]).await.expect("a stale state to be replaced");
        let mut received = follower.begin_receiving_snapshot().await.expect("begin");
        *received = *current.snapshot;
        follower.install_snapshot(&snapshot.meta, received).await.expect("install");
    }

    // Reopened: the installed state and snapshot were made durable.
    let mut follower = open_state_machine(follower_dir.path());
    assert_eq!(follower.applied_state().await.expect("state"), leader.applied_state().await.expect("state"));
    let proposals = follower.proposals(0, RAFT_PROPOSALS_PAGE_MAX).expect("proposals");
    assert_eq!(proposals, leader.proposals(0, RAFT_PROPOSALS_PAGE_MAX).expect("proposals"));
    assert_eq!(proposals.len(), 39);
    assert!(proposals.iter().all(|p| p.bytes != b"a stale block"), "the stale proposal is gone");
    let installed = follower.get_current_snapshot().await.expect("current").expect("installed snapshot");
    assert_eq!(installed.meta, snapshot.meta);
    assert_eq!(installed.snapshot.into_inner(), snapshot.snapshot.into_inner());
}

#[tokio::test]
async fn a_snapshot_whose_data_disagrees_with_its_meta_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut source = open_state_machine(dir.path());
    source.apply([membership(1, 1, &[1]), proposal(1, 2, 1)]).await.expect("apply");
    let snapshot = source.get_snapshot_builder().await.build_snapshot().await.expect("build");

    let other_dir = tempfile::tempdir().expect("tempdir");
    let mut target = open_state_machine(other_dir.path());
    let mut meta = snapshot.meta.clone();
    meta.last_log_id = Some(log_id(1, 3));
    let refused = target.install_snapshot(&meta, snapshot.snapshot.clone()).await;
    assert_refused(refused, "Write Snapshot", "does not match its meta");
    let mut meta = snapshot.meta.clone();
    meta.last_membership = StoredMembership::default();
    let refused = target.install_snapshot(&meta, snapshot.snapshot.clone()).await;
    assert_refused(refused, "Write Snapshot", "does not match its meta");
    let mut truncated = snapshot.snapshot.clone();
    truncated.get_mut().truncate(4);
    assert_refused(target.install_snapshot(&snapshot.meta, truncated).await, "Write Snapshot", "decode");

    assert_eq!(target.applied_state().await.expect("state"), (None, StoredMembership::default()));
    assert!(target.get_current_snapshot().await.expect("current").is_none());
}

/// A single node has no peers: any call to one is a failure of the test.
struct NoPeers;

fn no_peer<E: std::error::Error>() -> RPCError<NodeId, ReplicaNode, E> {
    RPCError::Unreachable(Unreachable::new(&io::Error::other("a single-node cluster has no peers")))
}

impl RaftNetworkFactory<TypeConfig> for NoPeers {
    type Network = NoPeers;

    async fn new_client(&mut self, _target: NodeId, _node: &ReplicaNode) -> Self::Network {
        NoPeers
    }
}

impl RaftNetwork<TypeConfig> for NoPeers {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, ReplicaNode, RaftError<NodeId>>> {
        Err(no_peer())
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RPCError<NodeId, ReplicaNode, RaftError<NodeId, InstallSnapshotError>>>
    {
        Err(no_peer())
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, ReplicaNode, RaftError<NodeId>>> {
        Err(no_peer())
    }
}

#[test]
fn the_cluster_compaction_policy_is_a_valid_openraft_config() {
    raft_config("settled").expect("valid config");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_lets_openraft_purge_the_log_behind_it() {
    const KEPT: u64 = 8;
    const PROPOSALS: u64 = 40;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open_log(dir.path());
    let config = openraft::Config {
        max_in_snapshot_log_to_keep: KEPT,
        purge_batch_size: 1,
        ..raft_config("test").expect("config")
    };
    let raft =
        Raft::new(1, Arc::new(config), NoPeers, log.clone(), open_state_machine(dir.path())).await.expect("start raft");
    raft.initialize(BTreeMap::from([(1, ReplicaNode::raft_only("127.0.0.1:0"))])).await.expect("initialize");
    // A hang guard: a single node leads and compacts in milliseconds.
    let wait_s = Some(Duration::from_secs(60));
    raft.wait(wait_s).state(ServerState::Leader, "leader").await.expect("a single node leads");

    let mut last_index = 0;
    for height in 1..=PROPOSALS {
        let written = raft.client_write(BlockProposal { height, bytes: vec![7; 16] }).await.expect("write");
        assert_eq!(written.data, ApplyOutcome::Applied { height });
        last_index = written.log_id.index;
    }
    raft.trigger().snapshot().await.expect("trigger snapshot");
    let metrics = raft
        .wait(wait_s)
        .metrics(
            |m| {
                m.snapshot.is_some_and(|s| s.index == last_index)
                    && m.purged.is_some_and(|p| p.index + KEPT == last_index)
            },
            "snapshot, then the log purged up to KEPT entries behind it",
        )
        .await
        .expect("compaction");
    let purged = metrics.purged.expect("purged");
    raft.shutdown().await.expect("shutdown");

    let state = log.get_log_state().await.expect("log state");
    assert_eq!(state.last_purged_log_id, Some(purged));
    let remaining = log.try_get_log_entries(..).await.expect("read");
    assert_eq!(indices(&remaining), (purged.index + 1..=last_index).collect::<Vec<_>>());
}

/// openraft 0.9 asks the log to purge up to a snapshot received from the
/// leader as it hands the snapshot to the state machine, before the install
/// is on disk. A log that purged at once and a crash before the install left
/// a node that could not start (found by `settled-simulations raft`, seed
/// 12). The log of a node purges only what the state machine holds durably:
/// it waits for the install, fails at once if the install fails, and gives
/// up (a storage error) past `RAFT_PURGE_WAIT`.
#[tokio::test(start_paused = true)]
async fn the_log_purges_only_what_a_durable_snapshot_covers() {
    let leader_dir = tempfile::tempdir().expect("tempdir");
    let mut leader = open_state_machine(leader_dir.path());
    let mut entries = vec![membership(1, 1, &[1, 2, 3])];
    entries.extend((2..=20).map(|index| proposal(1, index, index - 1)));
    leader.apply(entries).await.expect("apply");
    let snapshot = leader.get_snapshot_builder().await.build_snapshot().await.expect("build");
    let data = snapshot.snapshot.into_inner();

    // A follower whose log holds 1..=10 and whose state machine has nothing;
    // on simulated disks, so that the paused clock alone decides.
    let follower = |disk: &settled::dev::SimDisk| {
        let state_machine = RaftStateMachineStore::open_with_backend(disk.backend()).expect("open");
        let log = RaftLogStore::open_with_backend(settled::dev::SimDisk::new().backend())
            .expect("open")
            .purging_at_most(state_machine.durable_snapshot());
        (state_machine, log)
    };
    let (mut state_machine, mut log) = follower(&settled::dev::SimDisk::new());
    assert_eq!(state_machine.durable_snapshot().index(), None);
    log.blocking_append((1..=10).map(|index| blank(1, index))).await.expect("append");

    // No snapshot ever comes: the purge fails after the wait, nothing purged.
    let started = tokio::time::Instant::now();
    // A purge nothing durable covers fails.
    assert_refused(log.purge(log_id(1, 5)).await, "Write Logs", "no snapshot covering it was made durable");
    assert!(started.elapsed() >= settled::limits::RAFT_PURGE_WAIT);
    assert_eq!(log.get_log_state().await.expect("state").last_purged_log_id, None);
    assert_eq!(indices(&log.try_get_log_entries(..).await.expect("read")), (1..=10).collect::<Vec<_>>());

    // The purge openraft asks for as it hands over the snapshot waits for
    // the install, then happens.
    let mut purging_log = log.clone();
    let purge = tokio::spawn(async move { purging_log.purge(log_id(1, 20)).await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!purge.is_finished(), "the purge waits for the install");
    assert_eq!(indices(&log.try_get_log_entries(..).await.expect("read")), (1..=10).collect::<Vec<_>>());
    let mut received = state_machine.begin_receiving_snapshot().await.expect("begin");
    *received = std::io::Cursor::new(data.clone());
    state_machine.install_snapshot(&snapshot.meta, received).await.expect("install");
    assert_eq!(state_machine.durable_snapshot().index(), Some(20));
    purge.await.expect("the purge task").expect("the purge, once the snapshot is durable");
    assert_eq!(
        log.get_log_state().await.expect("state"),
        LogState { last_purged_log_id: Some(log_id(1, 20)), last_log_id: Some(log_id(1, 20)) }
    );

    // An install that fails ends the wait at once, with its cause.
    let (mut state_machine, mut log) = follower(&settled::dev::SimDisk::new());
    log.blocking_append((1..=10).map(|index| blank(1, index))).await.expect("append");
    let mut purging_log = log.clone();
    let started = tokio::time::Instant::now();
    let purge = tokio::spawn(async move { purging_log.purge(log_id(1, 20)).await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut truncated = state_machine.begin_receiving_snapshot().await.expect("begin");
    *truncated = std::io::Cursor::new(data[..data.len() / 2].to_vec());
    assert_refused(state_machine.install_snapshot(&snapshot.meta, truncated).await, "Write Snapshot", "decode");
    let failed = purge.await.expect("the purge task").expect_err("the install failed");
    assert!(failed.to_string().contains("installing a snapshot failed"), "{failed}");
    assert!(started.elapsed() < settled::limits::RAFT_PURGE_WAIT);
    assert_eq!(indices(&log.try_get_log_entries(..).await.expect("read")), (1..=10).collect::<Vec<_>>());

    // A state machine reopened holds what it applied durably (its open
    // commits with an fsync).
    let disk = settled::dev::SimDisk::new();
    {
        let (mut state_machine, _) = follower(&disk);
        state_machine.apply((1..=7).map(|index| blank(1, index))).await.expect("apply");
        assert_eq!(state_machine.durable_snapshot().index(), None, "an apply is not fsynced");
    }
    let (state_machine, _) = follower(&disk);
    assert_eq!(state_machine.durable_snapshot().index(), Some(7));

    // A log without a guard (the storage suite's) purges as asked.
    let mut free = RaftLogStore::open_with_backend(settled::dev::SimDisk::new().backend()).expect("open");
    free.blocking_append((1..=3).map(|index| blank(1, index))).await.expect("append");
    free.purge(log_id(1, 2)).await.expect("purge");
    assert_eq!(indices(&free.try_get_log_entries(..).await.expect("read")), vec![3]);
}

/// A replication read returns the entries from the start asked for and
/// none past a gap, and an append that would leave a hole is refused with
/// nothing written (openraft 0.9 sent entries read past a purge behind an
/// entry they do not follow; found by `settled-simulations raft`, seed 2119).
#[tokio::test]
async fn replication_reads_and_appends_leave_no_hole() {
    let mut log = RaftLogStore::open_with_backend(settled::dev::SimDisk::new().backend()).expect("open");
    log.blocking_append((1..=10).map(|index| blank(1, index))).await.expect("append");
    log.purge(log_id(1, 4)).await.expect("purge");
    // From a purged start: nothing (openraft sends a heartbeat).
    assert!(log.limited_get_log_entries(2, 9).await.expect("read").is_empty());
    assert_eq!(indices(&log.limited_get_log_entries(5, 9).await.expect("read")), vec![5, 6, 7, 8]);

    // Entries 12.. after 10: refused, the log unchanged.
    let hole = log.blocking_append([blank(1, 12), blank(1, 13)]).await;
    assert_refused(hole, "Write Logs", "would leave a hole");
    assert_eq!(log.get_log_state().await.expect("state").last_log_id, Some(log_id(1, 10)));
    // Consecutive ones, and an overwrite after a truncation, are taken.
    log.blocking_append([blank(1, 11)]).await.expect("append the next entry");
    log.truncate(log_id(1, 9)).await.expect("truncate");
    log.blocking_append([blank(2, 9), blank(2, 10)]).await.expect("append after a truncation");
    assert_eq!(log.get_log_state().await.expect("state").last_log_id, Some(log_id(2, 10)));
    // Right after a purge past the last entry, the next one follows it.
    log.purge(log_id(2, 15)).await.expect("purge past the end");
    assert_refused(log.blocking_append([blank(2, 17)]).await, "Write Logs", "would leave a hole");
    log.blocking_append([blank(2, 16)]).await.expect("the entry after the purged ones");
}

/// Asserts that a storage call failed the way the test means: openraft's
/// "when <verb> <subject>" of the step refused, and the cause, not just any
/// error (a read failing, or another check, would not do).
#[track_caller]
fn assert_refused<T: std::fmt::Debug>(result: Result<T, StorageError>, when: &str, cause: &str) {
    let error = result.expect_err("the storage call must be refused");
    let text = error.to_string();
    assert!(
        text.starts_with(&format!("when {when}")) && text.contains(cause),
        "expected a refusal when {when} ({cause}), got: {text}"
    );
}
