//! The state the applied log built, and its snapshots, in `raft-sm.redb`.

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::{
    EntryPayload, OptionalSend, RaftSnapshotBuilder, Snapshot, SnapshotMeta, StorageIOError, StoredMembership,
};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};

use super::{
    ApplyOutcome, BlockProposal, DurableSnapshot, Entry, Fault, LogId, NodeId, ReplicaNode, Steps, StorageError,
    TypeConfig, decode, encode, open_database,
};
use crate::core::limits::{RAFT_PROPOSALS_PAGE_MAX, RAFT_SNAPSHOT_BYTES_MAX};

/// Height -> the bytes of the proposal that filled it.
const PROPOSALS: TableDefinition<u64, &[u8]> = TableDefinition::new("proposals");
/// The keys below -> postcard encodings.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const LAST_APPLIED: &str = "last_applied";
const MEMBERSHIP: &str = "membership";
/// Snapshots built so far, for unique snapshot ids.
const SNAPSHOTS_BUILT: &str = "snapshots_built";
/// The last snapshot built or installed: its meta and its data under the two
/// keys below, apart so that the meta is read without the data.
const SNAPSHOT: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshot");
const SNAPSHOT_META: &str = "meta";
const SNAPSHOT_DATA: &str = "data";

/// Version of [`SnapshotState`]'s encoding, first in every snapshot.
const SNAPSHOT_FORMAT: u8 = 1;

type Membership = StoredMembership<NodeId, ReplicaNode>;
type Meta = SnapshotMeta<NodeId, ReplicaNode>;

/// The content of a snapshot: the whole state, with the log position and
/// membership it reflects (also in openraft's meta; checked to agree on
/// install).
#[derive(Serialize, Deserialize)]
struct SnapshotState {
    format: u8,
    last_applied: Option<LogId>,
    membership: Membership,
    proposals: Vec<(u64, Vec<u8>)>,
}

/// openraft's state machine storage on its own redb file.
pub struct RaftStateMachineStore {
    db: Arc<Database>,
    steps: Steps,
    durable: DurableSnapshot,
}

/// Builds a snapshot from a consistent read of the state machine's file;
/// applying goes on meanwhile.
pub struct SnapshotBuilder {
    db: Arc<Database>,
    steps: Steps,
    durable: DurableSnapshot,
}

impl RaftStateMachineStore {
    /// Opens (or creates) the state machine at `path`.
    ///
    /// # Errors
    /// The file cannot be opened or created, or is not a redb file.
    #[allow(clippy::result_large_err, reason = "openraft's StorageError, as from every other call of the store")]
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        Self::open_database(Database::create(path), Steps::Blocking)
    }

    /// Opens (or creates) the state machine on any redb storage backend,
    /// each step run on the calling task: the deterministic simulation's
    /// state machine on a simulated disk.
    ///
    /// # Errors
    /// The backend fails, or does not hold a redb file.
    #[allow(clippy::result_large_err, reason = "openraft's StorageError, as from every other call of the store")]
    pub fn open_with_backend(backend: impl redb::StorageBackend) -> Result<Self, StorageError> {
        Self::open_database(redb::Builder::new().create_with_backend(backend), Steps::Inline)
    }

    #[allow(clippy::result_large_err, reason = "openraft's StorageError, as from every other call of the store")]
    fn open_database(file: Result<Database, redb::DatabaseError>, steps: Steps) -> Result<Self, StorageError> {
        let db = open_database(file, |write| {
            write.open_table(PROPOSALS)?;
            write.open_table(META)?;
            write.open_table(SNAPSHOT)?;
            Ok(())
        })?;
        let durable = DurableSnapshot::default();
        // What the file holds when it is opened is on disk: `open_database`
        // has just committed with an fsync, which makes every earlier
        // (unsynced) apply durable too.
        let (applied, _) = applied_state(&db).map_err(|fault| StorageIOError::read_state_machine(&fault))?;
        let current = snapshot_meta(&db).map_err(|fault| StorageIOError::read_snapshot(None, &fault))?;
        let snapshot = current.and_then(|meta| meta.last_log_id);
        if let Some(index) = applied.max(snapshot).map(|id| id.index) {
            durable.raise(index);
        }
        Ok(Self { db, steps, durable })
    }

    /// The last log index this state machine holds durably, for the log
    /// store ([`super::RaftLogStore::purging_at_most`]).
    #[must_use]
    pub fn durable_snapshot(&self) -> DurableSnapshot {
        self.durable.clone()
    }

    /// The applied proposals from `start_height` on, at most `limit` (itself
    /// at most `RAFT_PROPOSALS_PAGE_MAX`), in height order.
    ///
    /// # Errors
    /// The file cannot be read.
    #[allow(clippy::result_large_err, reason = "openraft's StorageError, as from every other call of the store")]
    pub fn proposals(&self, start_height: u64, limit: usize) -> Result<Vec<BlockProposal>, StorageError> {
        self.reader().proposals(start_height, limit)
    }

    /// A read-only handle on the applied proposals that stays usable once
    /// the store itself is handed to openraft.
    #[must_use]
    pub fn reader(&self) -> ProposalReader {
        ProposalReader { db: Arc::clone(&self.db) }
    }
}

/// Reads the applied proposals of a state machine owned by a running
/// openraft; each read is one redb read transaction, so it sees whole
/// applies only. It keeps the file open: drop it before reopening the file.
#[derive(Clone)]
pub struct ProposalReader {
    db: Arc<Database>,
}

impl ProposalReader {
    /// The applied proposals from `start_height` on, at most `limit` (itself
    /// at most `RAFT_PROPOSALS_PAGE_MAX`), in height order.
    ///
    /// # Errors
    /// The file cannot be read.
    #[allow(clippy::result_large_err, reason = "openraft's StorageError, as from every other call of the store")]
    pub fn proposals(&self, start_height: u64, limit: usize) -> Result<Vec<BlockProposal>, StorageError> {
        let read = || -> Result<Vec<BlockProposal>, Fault> {
            let read = self.db.begin_read()?;
            let proposals = read.open_table(PROPOSALS)?;
            let mut page = Vec::new();
            for row in proposals.range(start_height..)?.take(limit.min(RAFT_PROPOSALS_PAGE_MAX)) {
                let (height, bytes) = row?;
                page.push(BlockProposal { height: height.value(), bytes: bytes.value().to_vec() });
            }
            Ok(page)
        };
        Ok(read().map_err(|fault| StorageIOError::read_state_machine(&fault))?)
    }

    /// Forgets the proposals at or below `height` (this node's ledger has
    /// written them), always keeping the highest one, which the next
    /// proposal is checked against. Not fsynced: a crash that undoes it
    /// only brings back blocks the ledger holds anyway.
    ///
    /// # Errors
    /// The file cannot be written.
    #[allow(clippy::result_large_err, reason = "openraft's StorageError, as from every other call of the store")]
    pub fn prune_through(&self, height: u64) -> Result<u64, StorageError> {
        let prune = || -> Result<u64, Fault> {
            let mut write = self.db.begin_write()?;
            write.set_durability(Durability::None)?;
            let removed = {
                let mut proposals = write.open_table(PROPOSALS)?;
                let last = proposals.last()?.map_or(0, |(h, _)| h.value());
                let through = height.min(last.saturating_sub(1));
                let before = proposals.len()?;
                proposals.retain_in(..=through, |_, _| false)?;
                before - proposals.len()?
            };
            write.commit()?;
            Ok(removed)
        };
        Ok(prune().map_err(|fault| StorageIOError::write_state_machine(&fault))?)
    }

    /// The highest height filled so far (0 when none is).
    ///
    /// # Errors
    /// The file cannot be read.
    #[allow(clippy::result_large_err, reason = "openraft's StorageError, as from every other call of the store")]
    pub fn last_height(&self) -> Result<u64, StorageError> {
        let read = || -> Result<u64, Fault> {
            let read = self.db.begin_read()?;
            let table = read.open_table(PROPOSALS)?;
            let last = table.last()?;
            Ok(last.map_or(0, |(height, _)| height.value()))
        };
        Ok(read().map_err(|fault| StorageIOError::read_state_machine(&fault))?)
    }
}

fn read_meta<T: for<'de> Deserialize<'de>>(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<Option<T>, Fault> {
    meta.get(key)?.map(|bytes| decode(bytes.value())).transpose()
}

fn applied_state(db: &Database) -> Result<(Option<LogId>, Membership), Fault> {
    let read = db.begin_read()?;
    let meta = read.open_table(META)?;
    Ok((read_meta::<Option<LogId>>(&meta, LAST_APPLIED)?.flatten(), read_meta(&meta, MEMBERSHIP)?.unwrap_or_default()))
}

/// Applies entries in one write transaction (not fsynced, see below): what it
/// returns is what a client is told. After a crash that lost an apply,
/// openraft applies the same entries again, to the same outcomes.
fn apply_entries(db: &Database, entries: Vec<Entry>) -> Result<Vec<ApplyOutcome>, Fault> {
    let mut write = db.begin_write()?;
    // Not fsynced: the entries are durable in the log, and a restart that
    // finds an older `last_applied` applies them again from it (openraft
    // purges the log only behind a snapshot, whose fsynced commit also
    // makes every earlier apply durable). One fsync less per block on every
    // replica, on the path of every confirmation.
    write.set_durability(Durability::None)?;
    let mut outcomes = Vec::with_capacity(entries.len());
    {
        let mut meta = write.open_table(META)?;
        let mut proposals = write.open_table(PROPOSALS)?;
        let mut last_applied = read_meta::<Option<LogId>>(&meta, LAST_APPLIED)?.flatten();
        let mut membership: Option<Membership> = None;
        for entry in entries {
            if last_applied.as_ref().is_some_and(|last| entry.log_id.index <= last.index) {
                return Err(Fault::Invariant(format!(
                    "entry {} applied after {}",
                    entry.log_id,
                    last_applied.as_ref().map_or_else(String::new, ToString::to_string)
                )));
            }
            let outcome = match entry.payload {
                EntryPayload::Blank => ApplyOutcome::NoBlock,
                EntryPayload::Normal(proposal) => {
                    let last = proposals.last()?.map_or(0, |(height, _)| height.value());
                    if proposal.height <= last {
                        ApplyOutcome::HeightTaken { height: proposal.height }
                    } else if proposal.height != last + 1 {
                        ApplyOutcome::OutOfOrder { height: proposal.height, expected: last + 1 }
                    } else {
                        proposals.insert(proposal.height, proposal.bytes.as_slice())?;
                        ApplyOutcome::Applied { height: proposal.height }
                    }
                }
                EntryPayload::Membership(config) => {
                    membership = Some(StoredMembership::new(Some(entry.log_id), config));
                    ApplyOutcome::NoBlock
                }
            };
            outcomes.push(outcome);
            last_applied = Some(entry.log_id);
        }
        meta.insert(LAST_APPLIED, encode(&last_applied)?.as_slice())?;
        if let Some(membership) = membership {
            meta.insert(MEMBERSHIP, encode(&membership)?.as_slice())?;
        }
    }
    write.commit()?;
    Ok(outcomes)
}

fn snapshot_id(last_applied: Option<&LogId>, sequence: u64) -> String {
    match last_applied {
        Some(log_id) => format!("{log_id}-{sequence}"),
        None => format!("none-{sequence}"),
    }
}

fn build_snapshot(db: &Database) -> Result<(Meta, Vec<u8>), Fault> {
    let state = {
        let read = db.begin_read()?;
        let meta = read.open_table(META)?;
        let proposals = read.open_table(PROPOSALS)?;
        let mut rows = Vec::new();
        let mut bytes_total = 0usize;
        for row in proposals.iter()? {
            let (height, bytes) = row?;
            bytes_total = bytes_total.saturating_add(bytes.value().len());
            if bytes_total > RAFT_SNAPSHOT_BYTES_MAX {
                return Err(Fault::Invariant(format!("state over {RAFT_SNAPSHOT_BYTES_MAX} bytes")));
            }
            rows.push((height.value(), bytes.value().to_vec()));
        }
        SnapshotState {
            format: SNAPSHOT_FORMAT,
            last_applied: read_meta::<Option<LogId>>(&meta, LAST_APPLIED)?.flatten(),
            membership: read_meta(&meta, MEMBERSHIP)?.unwrap_or_default(),
            proposals: rows,
        }
    };
    let data = encode(&state)?;
    if data.len() > RAFT_SNAPSHOT_BYTES_MAX {
        return Err(Fault::Invariant(format!("snapshot of {} bytes", data.len())));
    }
    let mut write = db.begin_write()?;
    write.set_durability(Durability::Immediate)?;
    let snapshot_meta = {
        let mut meta = write.open_table(META)?;
        let built = read_meta::<u64>(&meta, SNAPSHOTS_BUILT)?.unwrap_or(0) + 1;
        meta.insert(SNAPSHOTS_BUILT, encode(&built)?.as_slice())?;
        let snapshot_meta = Meta {
            snapshot_id: snapshot_id(state.last_applied.as_ref(), built),
            last_log_id: state.last_applied,
            last_membership: state.membership,
        };
        // A snapshot installed while this one was built may be newer: it stays
        // the current one.
        let mut snapshot = write.open_table(SNAPSHOT)?;
        let current: Option<Meta> = read_meta(&snapshot, SNAPSHOT_META)?;
        if current.is_none_or(|current| current.last_log_id <= snapshot_meta.last_log_id) {
            snapshot.insert(SNAPSHOT_META, encode(&snapshot_meta)?.as_slice())?;
            snapshot.insert(SNAPSHOT_DATA, data.as_slice())?;
        }
        snapshot_meta
    };
    write.commit()?;
    Ok((snapshot_meta, data))
}

/// Replaces the whole state by the snapshot's, in one fsynced transaction.
fn install_snapshot(db: &Database, meta: Meta, data: Vec<u8>) -> Result<(), Fault> {
    if data.len() > RAFT_SNAPSHOT_BYTES_MAX {
        return Err(Fault::Invariant(format!("snapshot of {} bytes", data.len())));
    }
    let state: SnapshotState = decode(&data)?;
    if state.format != SNAPSHOT_FORMAT {
        return Err(Fault::Invariant(format!("snapshot format {}", state.format)));
    }
    if state.last_applied != meta.last_log_id || state.membership != meta.last_membership {
        return Err(Fault::Invariant(format!("snapshot {} does not match its meta", meta.snapshot_id)));
    }
    let mut write = db.begin_write()?;
    write.set_durability(Durability::Immediate)?;
    write.delete_table(PROPOSALS)?;
    {
        let mut proposals = write.open_table(PROPOSALS)?;
        for (height, bytes) in &state.proposals {
            proposals.insert(height, bytes.as_slice())?;
        }
        let mut stored_meta = write.open_table(META)?;
        stored_meta.insert(LAST_APPLIED, encode(&state.last_applied)?.as_slice())?;
        stored_meta.insert(MEMBERSHIP, encode(&state.membership)?.as_slice())?;
        let mut snapshot = write.open_table(SNAPSHOT)?;
        snapshot.insert(SNAPSHOT_META, encode(&meta)?.as_slice())?;
        snapshot.insert(SNAPSHOT_DATA, data.as_slice())?;
    }
    write.commit()?;
    Ok(())
}

/// The last snapshot's meta, without its data.
fn snapshot_meta(db: &Database) -> Result<Option<Meta>, Fault> {
    let read = db.begin_read()?;
    read_meta(&read.open_table(SNAPSHOT)?, SNAPSHOT_META)
}

fn current_snapshot(db: &Database) -> Result<Option<(Meta, Vec<u8>)>, Fault> {
    let read = db.begin_read()?;
    let snapshot = read.open_table(SNAPSHOT)?;
    let Some(meta) = read_meta(&snapshot, SNAPSHOT_META)? else {
        return Ok(None);
    };
    let data = snapshot
        .get(SNAPSHOT_DATA)?
        .ok_or_else(|| Fault::Invariant("snapshot meta without its data".into()))?
        .value()
        .to_vec();
    Ok(Some((meta, data)))
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let db = Arc::clone(&self.db);
        let (meta, data) = self
            .steps
            .run(move || build_snapshot(&db))
            .await
            .map_err(|fault| StorageIOError::write_snapshot(None, &fault))?;
        if let Some(last) = &meta.last_log_id {
            self.durable.raise(last.index);
        }
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
    }
}

impl RaftStateMachine<TypeConfig> for RaftStateMachineStore {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, Membership), StorageError> {
        let db = Arc::clone(&self.db);
        Ok(self
            .steps
            .run(move || applied_state(&db))
            .await
            .map_err(|fault| StorageIOError::read_state_machine(&fault))?)
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<ApplyOutcome>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let db = Arc::clone(&self.db);
        Ok(self
            .steps
            .run(move || apply_entries(&db, entries))
            .await
            .map_err(|fault| StorageIOError::write_state_machine(&fault))?)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder { db: Arc::clone(&self.db), steps: self.steps, durable: self.durable.clone() }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(&mut self, meta: &Meta, snapshot: Box<Cursor<Vec<u8>>>) -> Result<(), StorageError> {
        let signature = meta.signature();
        let installed = meta.last_log_id.map(|id| id.index);
        let meta = meta.clone();
        let data = snapshot.into_inner();
        let db = Arc::clone(&self.db);
        let installed_or = self.steps.run(move || install_snapshot(&db, meta, data)).await;
        if let Err(fault) = &installed_or {
            self.durable.fail(fault.to_string());
        }
        installed_or.map_err(|fault| StorageIOError::write_snapshot(Some(signature), &fault))?;
        if let Some(index) = installed {
            self.durable.raise(index);
        }
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let db = Arc::clone(&self.db);
        let stored = self
            .steps
            .run(move || current_snapshot(&db))
            .await
            .map_err(|fault| StorageIOError::read_snapshot(None, &fault))?;
        Ok(stored.map(|(meta, data)| Snapshot { meta, snapshot: Box::new(Cursor::new(data)) }))
    }
}
