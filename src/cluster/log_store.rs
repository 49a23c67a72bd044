//! The Raft log, the vote and the log's bookkeeping in `raft-log.redb`.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogState, OptionalSend, RaftLogReader, StorageIOError, Vote};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use super::{
    DurableSnapshot, Entry, Fault, LogId, NodeId, Steps, StorageError, TypeConfig, decode, encode, open_database,
};
use crate::core::limits::{RAFT_LOG_ENTRIES_PER_READ_MAX, RAFT_PURGE_WAIT};

/// Log index -> the postcard encoding of the entry.
const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
/// The keys below -> postcard encodings.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const VOTE: &str = "vote";
const COMMITTED: &str = "committed";
const LAST_PURGED: &str = "last_purged";

/// openraft's log storage on its own redb file. Cloning shares the file; the
/// clone is the log reader openraft's replication tasks use.
#[derive(Clone)]
pub struct RaftLogStore {
    db: Arc<Database>,
    steps: Steps,
    /// Purges stop at the state machine's last durable snapshot (none: as
    /// openraft asks).
    floor: Option<DurableSnapshot>,
}

impl RaftLogStore {
    /// Opens (or creates) the log at `path`.
    ///
    /// # Errors
    /// The file cannot be opened or created, or is not a redb file.
    #[allow(clippy::result_large_err, reason = "openraft's StorageError, as from every other call of the store")]
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        Self::open_database(Database::create(path), Steps::Blocking)
    }

    /// Opens (or creates) the log on any redb storage backend, each step run
    /// on the calling task: the deterministic simulation's log on a
    /// simulated disk.
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
            write.open_table(LOG)?;
            write.open_table(META)?;
            Ok(())
        })?;
        Ok(Self { db, steps, floor: None })
    }

    /// The vote stored in the file, read before openraft runs (a node
    /// checks that no forged vote was stored).
    ///
    /// # Errors
    /// The file cannot be read, or the vote does not decode.
    #[allow(clippy::result_large_err, reason = "openraft's StorageError, as from every other call of the store")]
    pub fn stored_vote(&self) -> Result<Option<Vote<NodeId>>, StorageError> {
        let read = || -> Result<Option<Vote<NodeId>>, Fault> {
            let read = self.db.begin_read()?;
            let meta = read.open_table(META)?;
            meta.get(VOTE)?.map(|bytes| decode(bytes.value())).transpose()
        };
        read().map_err(|fault| StorageIOError::read_vote(&fault).into())
    }

    /// The log of a node whose state machine is `durable`: it purges no
    /// entry before a durable snapshot covers it (see [`DurableSnapshot`]).
    #[must_use]
    pub fn purging_at_most(mut self, durable: DurableSnapshot) -> Self {
        self.floor = Some(durable);
        self
    }

    async fn read_meta<T>(&self, key: &'static str) -> Result<Option<T>, Fault>
    where
        T: for<'de> serde::Deserialize<'de> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        self.steps
            .run(move || {
                let read = db.begin_read()?;
                let meta = read.open_table(META)?;
                meta.get(key)?.map(|bytes| decode(bytes.value())).transpose()
            })
            .await
    }

    /// Writes (or with `None` removes) one bookkeeping value.
    async fn write_meta(&self, key: &'static str, value: Option<Vec<u8>>, durability: Durability) -> Result<(), Fault> {
        let db = Arc::clone(&self.db);
        self.steps
            .run(move || {
                let mut write = db.begin_write()?;
                write.set_durability(durability)?;
                {
                    let mut meta = write.open_table(META)?;
                    match value {
                        Some(bytes) => meta.insert(key, bytes.as_slice())?,
                        None => meta.remove(key)?,
                    };
                }
                write.commit()?;
                Ok(())
            })
            .await
    }
}

/// The log id at the head of an encoded entry. `Entry` serialises its
/// `log_id` first and postcard lays fields out in order, so the id is read
/// without decoding the payload (a whole block, later).
fn log_id_of(encoded_entry: &[u8]) -> Result<LogId, Fault> {
    let (log_id, _payload) = postcard::take_from_bytes::<LogId>(encoded_entry)?;
    Ok(log_id)
}

fn read_entries(db: &Database, range: (Bound<u64>, Bound<u64>)) -> Result<Vec<Entry>, Fault> {
    let read = db.begin_read()?;
    let log = read.open_table(LOG)?;
    // Bounded by the range openraft asks for and by what the log holds,
    // which compaction keeps bounded.
    let mut entries = Vec::new();
    for row in log.range::<u64>(range)? {
        let (_index, bytes) = row?;
        entries.push(decode(bytes.value())?);
    }
    Ok(entries)
}

impl RaftLogReader<TypeConfig> for RaftLogStore {
    /// Every stored entry of the range: openraft applies committed entries
    /// from this call and requires all of them, so it cannot be cut short.
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let bounds = (range.start_bound().cloned(), range.end_bound().cloned());
        let db = Arc::clone(&self.db);
        Ok(self
            .steps
            .run(move || read_entries(&db, bounds))
            .await
            .map_err(|fault| StorageIOError::read_logs(&fault))?)
    }

    /// At most `RAFT_LOG_ENTRIES_PER_READ_MAX` consecutive entries from
    /// `start`: replication reads in batches this size whatever a follower
    /// lacks, and sends them behind the entry before `start`.
    ///
    /// Nothing when `start` is no longer held. openraft 0.9 sends what this
    /// returns after that entry as if it were the range asked for: a
    /// replication task still running after its leader stepped down read a
    /// range the node (now a follower) had purged meanwhile, got the entries
    /// after the purged ones, and sent them behind an entry they do not
    /// follow; the follower appended them past a hole and stopped when it
    /// came to apply it (found by the cluster simulation, seed 2119). With
    /// nothing, openraft sends a heartbeat instead.
    async fn limited_get_log_entries(&mut self, start: u64, end: u64) -> Result<Vec<Entry>, StorageError> {
        let end = end.min(start.saturating_add(RAFT_LOG_ENTRIES_PER_READ_MAX));
        let mut entries = self.try_get_log_entries(start..end).await?;
        let consecutive = entries.iter().zip(start..).take_while(|(entry, index)| entry.log_id.index == *index).count();
        if consecutive < entries.len() {
            tracing::warn!(start, end, consecutive, "the log does not hold the range asked for whole; sending less");
            entries.truncate(consecutive);
        }
        Ok(entries)
    }
}

impl RaftLogStorage<TypeConfig> for RaftLogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let db = Arc::clone(&self.db);
        let state = self
            .steps
            .run(move || {
                let read = db.begin_read()?;
                let meta = read.open_table(META)?;
                let last_purged_log_id: Option<LogId> =
                    meta.get(LAST_PURGED)?.map(|bytes| decode(bytes.value())).transpose()?;
                let log = read.open_table(LOG)?;
                let last_stored = log.last()?.map(|(_index, bytes)| log_id_of(bytes.value())).transpose()?;
                // Purged up to (or past) the last entry: the purged id is the last.
                let last_log_id = last_stored.or(last_purged_log_id);
                Ok(LogState { last_purged_log_id, last_log_id })
            })
            .await
            .map_err(|fault| StorageIOError::read_logs(&fault))?;
        Ok(state)
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    /// Fsynced before it returns: a vote must survive a crash, or this node
    /// could vote twice in one term.
    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        let bytes = encode(vote).map_err(|fault| StorageIOError::write_vote(&fault))?;
        self.write_meta(VOTE, Some(bytes), Durability::Immediate)
            .await
            .map_err(|fault| StorageIOError::write_vote(&fault))?;
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        Ok(self.read_meta(VOTE).await.map_err(|fault| StorageIOError::read_vote(&fault))?)
    }

    /// Not fsynced on its own: the committed log id only lets a restarted node
    /// apply sooner, and openraft learns it again from the leader. It becomes
    /// durable with the next append or vote.
    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let bytes = committed.as_ref().map(encode).transpose().map_err(|fault| StorageIOError::write(&fault))?;
        self.write_meta(COMMITTED, bytes, Durability::None).await.map_err(|fault| StorageIOError::write(&fault))?;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.read_meta(COMMITTED).await.map_err(|fault| StorageIOError::read(&fault))?)
    }

    /// The entries are fsynced before openraft is told (`callback`): a
    /// follower acknowledges, and a leader counts itself towards a quorum,
    /// only for entries a crash cannot lose.
    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let records = entries
            .into_iter()
            .map(|entry| Ok((entry.log_id.index, encode(&entry)?)))
            .collect::<Result<Vec<_>, Fault>>()
            .map_err(|fault| StorageIOError::write_logs(&fault))?;
        let db = Arc::clone(&self.db);
        let appended = self
            .steps
            .run(move || {
                if records.windows(2).any(|pair| pair[1].0 != pair[0].0 + 1) {
                    return Err(Fault::Invariant("appended entries are not consecutive".into()));
                }
                let mut write = db.begin_write()?;
                write.set_durability(Durability::Immediate)?;
                {
                    let mut log = write.open_table(LOG)?;
                    // Never a hole: the first entry follows the last one held
                    // (or the last purged), if any. openraft 0.9 asks for one when a
                    // leader's request is malformed (see
                    // `limited_get_log_entries`); refusing stops this node
                    // with nothing written, and it starts again on a sound log.
                    if let Some((first, _)) = records.first() {
                        let purged: Option<LogId> =
                            write.open_table(META)?.get(LAST_PURGED)?.map(|bytes| decode(bytes.value())).transpose()?;
                        let next = log
                            .last()?
                            .map(|(index, _)| index.value() + 1)
                            .into_iter()
                            .chain(purged.map(|purged| purged.index + 1))
                            .max();
                        // An empty log with nothing purged takes any start.
                        if let Some(next) = next
                            && *first > next
                        {
                            return Err(Fault::Invariant(format!(
                                "appending entry {first} would leave a hole: the log's next entry is {next}"
                            )));
                        }
                    }
                    for (index, bytes) in &records {
                        log.insert(index, bytes.as_slice())?;
                    }
                }
                write.commit()?;
                Ok(())
            })
            .await;
        match appended {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(fault) => {
                callback.log_io_completed(Err(io::Error::other(fault.to_string())));
                Err(StorageIOError::write_logs(&fault).into())
            }
        }
    }

    /// Removes the entries from `log_id` on (a new leader's log conflicts).
    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let db = Arc::clone(&self.db);
        self.steps
            .run(move || {
                let mut write = db.begin_write()?;
                write.set_durability(Durability::Immediate)?;
                {
                    let mut log = write.open_table(LOG)?;
                    log.retain_in(log_id.index.., |_, _| false)?;
                }
                write.commit()?;
                Ok(())
            })
            .await
            .map_err(|fault| StorageIOError::write_logs(&fault))?;
        Ok(())
    }

    /// Removes the entries up to `log_id` (they are in a snapshot) and records
    /// it as the last purged id, in one transaction so that the log never
    /// claims entries it has dropped.
    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let db = Arc::clone(&self.db);
        if let Some(durable) = &self.floor
            && let Err(why) = durable.covers(log_id.index, RAFT_PURGE_WAIT).await
        {
            let fault = Fault::Invariant(format!("asked to purge the log through {log_id}: {why}"));
            return Err(StorageIOError::write_logs(&fault).into());
        }
        self.steps
            .run(move || {
                let mut write = db.begin_write()?;
                write.set_durability(Durability::Immediate)?;
                {
                    let mut meta = write.open_table(META)?;
                    let purged: Option<LogId> =
                        meta.get(LAST_PURGED)?.map(|bytes| decode(bytes.value())).transpose()?;
                    if purged.is_some_and(|purged| purged.index >= log_id.index) {
                        return Ok(());
                    }
                    meta.insert(LAST_PURGED, encode(&log_id)?.as_slice())?;
                    let mut log = write.open_table(LOG)?;
                    log.retain_in(..=log_id.index, |_, _| false)?;
                }
                write.commit()?;
                Ok(())
            })
            .await
            .map_err(|fault| StorageIOError::write_logs(&fault))?;
        Ok(())
    }
}
