//! Durable state in one redb file. One write transaction per block, committed
//! with `Durability::Immediate` (fsync) before anything in it is confirmed.
//!
//! Tables (keys big-endian so ranges scan in order):
//! - `meta`: genesis parameters.
//! - `headers`: height -> canonical header || engine signature.
//! - `block_txids`: height -> the block's txids, concatenated (for Merkle paths).
//! - `txs`: sequence -> stored transaction record (canonical bytes + witnesses).
//! - `tx_index`: txid -> (sequence, height).
//! - `unspent`: owner || txid || index -> (amount, programme). Keyed by owner
//!   so that balances and listings are range scans; the engine keeps the
//!   same set in memory, keyed by outpoint, and rebuilds it from here.
//! - `spent`: txid || index -> txid of the spender, to name it in refusals and
//!   to recognise a resubmission.
//! - `movements`: (bank, sequence) -> what the transaction did to the bank's
//!   customers: the bank streams and statements read a bank's range.
//! - `bank_totals`: (bank, height) -> the bank's running totals at the end of
//!   every block that changed them: checkpoints, statement balances and net
//!   positions are lookups, not scans.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::encoding::{self, BlockHeader, Genesis, HEADER_BYTES};
use std::sync::Arc;

use crate::faults::{HookedFileBackend, StorageFaults};
use crate::ledger::Applied;
use crate::merkle;
use crate::movements::{BankTotals, Movement, UNBANKED};
use crate::receipt::{Receipt, SignedHeader};
use crate::registry::{AdminOp, ProgrammeStats, Registry};
use crate::types::{Address, AmountMinor, OutPoint, Output, ProgrammeId, Transaction, TxId};
use crate::verify::VerifiedTx;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const HEADERS: TableDefinition<u64, &[u8]> = TableDefinition::new("headers");
const BLOCK_TXIDS: TableDefinition<u64, &[u8]> = TableDefinition::new("block_txids");
const TXS: TableDefinition<u64, &[u8]> = TableDefinition::new("txs");
const TX_INDEX: TableDefinition<&[u8; 32], (u64, u64)> = TableDefinition::new("tx_index");
const UNSPENT: TableDefinition<&[u8; 68], (u64, u32)> = TableDefinition::new("unspent");
const SPENT: TableDefinition<&[u8; 36], &[u8; 32]> = TableDefinition::new("spent");
const REGISTRY_OPS: TableDefinition<u64, &[u8]> = TableDefinition::new("registry_ops");
/// Mint reference -> txid: a reference (a disbursement row) pays once.
const MINT_REFS: TableDefinition<&[u8], &[u8; 32]> = TableDefinition::new("mint_refs");
const DAILY: TableDefinition<&[u8; 32], (u64, u64)> = TableDefinition::new("daily");
const PROGRAMME_STATS: TableDefinition<u32, &[u8]> = TableDefinition::new("programme_stats");
/// Earmarked unspent outputs by programme: programme || txid || index ->
/// (owner, amount). What a clawback batches through.
const EARMARKED: TableDefinition<&[u8; 40], (&[u8; 32], u64)> = TableDefinition::new("earmarked");

const MOVEMENTS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("movements");
/// Height -> the block's registry changes with their positions among its
/// transactions (postcard), for blocks that have any: with `TX_TERMINALS`,
/// what it takes to hand a stored block to a replica as it was sealed.
const BLOCK_OPS: TableDefinition<u64, &[u8]> = TableDefinition::new("block_ops");
/// Sequence -> the terminal that submitted the transaction, when one did.
const TX_TERMINALS: TableDefinition<u64, &str> = TableDefinition::new("tx_terminals");
const BANK_TOTALS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("bank_totals");

const GENESIS_KEY: &str = "genesis";
/// META: the first height whose registry changes and terminals are kept
/// with their positions (`BLOCK_OPS`, `TX_TERMINALS`): 0 for a file created
/// since, the next block for one created before. Older blocks cannot be
/// served whole to a replica (`Store::sealed_block`).
const SEALED_SINCE_KEY: &str = "sealed_since";
/// Outputs per chunk handed from a recovery walker to the map builder, and
/// chunks in flight: bounds the memory of the hand-off.
const RECOVERY_CHUNK_OUTPUTS: usize = 64 * 1024;
const RECOVERY_CHUNKS_IN_FLIGHT: usize = 4;

/// A failure of the storage layer. Any of these while committing a block is
/// fatal for the process: the engine stops confirming (fail-stop).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Redb(#[from] redb::Error),
    #[error("the data file holds a different genesis than the configuration")]
    GenesisMismatch,
    #[error("corrupt data file: {0}")]
    Corrupt(String),
    #[error("the configuration does not fit the data file: {0}")]
    Config(String),
}

from_redb_errors!(StoreError);

/// A stored block as it was sealed (`Store::sealed_block`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedBlock {
    pub signed: SignedHeader,
    pub txs: Vec<(Transaction, Option<String>)>,
    pub ops: Vec<(u32, AdminOp)>,
}

/// A block ready to be written: its signed header and its transactions with
/// what applying them did.
#[derive(Debug)]
pub struct BlockRecord {
    pub signed: SignedHeader,
    pub txs: Vec<(VerifiedTx, Applied)>,
    /// Registry changes, each with the number of the block's transactions
    /// the sequencer applied before it (a replica replays them in between).
    pub ops: Vec<(u32, AdminOp)>,
    /// Statistics of the programmes the block changed, as of its end.
    pub stats: Vec<(ProgrammeId, ProgrammeStats)>,
    /// Totals of the banks the block changed, as of its end.
    pub bank_totals: Vec<(String, BankTotals)>,
}

/// What an address holds at a durable block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Balance {
    /// Per programme, ascending by programme id; no zero entries.
    pub per_programme: Vec<(ProgrammeId, AmountMinor)>,
    pub unspent_count: u64,
    /// Height of the block read at.
    pub height: u64,
}

/// Where a confirmed transaction is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TxLocation {
    pub sequence: u64,
    pub height: u64,
}

/// What reopening a data file recovers: the ledger at its last durable block.
pub struct Recovered {
    pub genesis: Genesis,
    pub tip: SignedHeader,
    pub unspent: HashMap<OutPoint, Output>,
    pub registry: Registry,
    /// Each tier-limited payer's last day of payments and its total.
    pub daily: HashMap<Address, (u64, AmountMinor)>,
    pub stats: HashMap<ProgrammeId, ProgrammeStats>,
    pub bank_totals: BTreeMap<String, BankTotals>,
}

pub struct Store {
    db: Database,
}

/// What the engine hangs on its data file.
#[derive(Clone, Default)]
pub struct FileHooks {
    /// Writes or fsyncs that fail on demand (tests only).
    pub faults: Option<StorageFaults>,
    /// Where each fsync's duration goes (the metrics).
    pub fsync_seconds: Option<Arc<crate::metrics::Histogram>>,
    /// The ledger on a simulated disk instead of the file (power-loss
    /// tests only).
    pub disk: Option<crate::faults::SimDisk>,
    /// The time stamped on a new file's genesis block (now when absent).
    /// Replicas of a cluster must start from the same genesis block, so
    /// the cluster's configuration fixes it.
    pub genesis_time_unix_ms: Option<u64>,
}

fn unspent_key(owner: &Address, outpoint: &OutPoint) -> [u8; 68] {
    let mut key = [0u8; 68];
    key[..32].copy_from_slice(&owner.0);
    key[32..64].copy_from_slice(&outpoint.txid.0);
    key[64..].copy_from_slice(&outpoint.index.to_be_bytes());
    key
}

/// The first and last possible `unspent` keys of `owner`.
fn owner_range(owner: &Address) -> ([u8; 68], [u8; 68]) {
    let first = unspent_key(owner, &OutPoint { txid: TxId([0; 32]), index: 0 });
    let last = unspent_key(owner, &OutPoint { txid: TxId([0xff; 32]), index: u32::MAX });
    (first, last)
}

fn earmarked_key(programme: ProgrammeId, outpoint: &OutPoint) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..4].copy_from_slice(&programme.to_be_bytes());
    key[4..].copy_from_slice(&outpoint_key(outpoint));
    key
}

fn outpoint_key(outpoint: &OutPoint) -> [u8; 36] {
    let mut key = [0u8; 36];
    key[..32].copy_from_slice(&outpoint.txid.0);
    key[32..].copy_from_slice(&outpoint.index.to_be_bytes());
    key
}

fn outpoint_of_unspent_key(key: &[u8; 68]) -> (Address, OutPoint) {
    let owner = Address(key[..32].try_into().expect("32 bytes"));
    let txid = TxId(key[32..64].try_into().expect("32 bytes"));
    let index = u32::from_be_bytes(key[64..].try_into().expect("4 bytes"));
    (owner, OutPoint { txid, index })
}

pub(crate) fn signed_header_bytes(signed: &SignedHeader) -> Vec<u8> {
    let mut bytes = signed.header.canonical_bytes().to_vec();
    bytes.extend_from_slice(&signed.signature);
    bytes
}

pub(crate) fn decode_signed_header(bytes: &[u8]) -> Result<SignedHeader, StoreError> {
    if bytes.len() != HEADER_BYTES + 64 {
        return Err(StoreError::Corrupt(format!("header record of {} bytes", bytes.len())));
    }
    let header =
        BlockHeader::decode(&bytes[..HEADER_BYTES]).map_err(|e| StoreError::Corrupt(format!("header: {e}")))?;
    let signature = bytes[HEADER_BYTES..].try_into().expect("64 bytes");
    Ok(SignedHeader { header, signature })
}

impl Store {
    /// Opens (or creates) the data file. A new file gets `genesis` and a
    /// genesis block signed by `sign`; an existing one must hold the same
    /// genesis. `hooks` says where fsync times go and which faults a test
    /// injects.
    ///
    /// # Errors
    /// Storage failures, or a genesis mismatch.
    pub fn open(
        path: &Path,
        genesis: &Genesis,
        sign: impl FnOnce(&BlockHeader) -> [u8; 64],
        hooks: &FileHooks,
    ) -> Result<(Self, Recovered), StoreError> {
        if let Some(disk) = &hooks.disk {
            let db = redb::Builder::new().create_with_backend(disk.backend())?;
            return Self::open_database(db, genesis, hooks.genesis_time_unix_ms, sign);
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| StoreError::Redb(redb::Error::Io(e)))?;
        let backend = HookedFileBackend::new(
            file,
            hooks.faults.clone().unwrap_or_default(),
            hooks.fsync_seconds.as_ref().map(Arc::clone),
        )?;
        let db = redb::Builder::new().create_with_backend(backend)?;
        Self::open_database(db, genesis, hooks.genesis_time_unix_ms, sign)
    }

    /// Opens (or creates) a ledger on any redb storage backend: the
    /// deterministic simulation runs the store on a simulated disk.
    ///
    /// # Errors
    /// Storage failures, or a genesis mismatch.
    pub fn open_with_backend(
        backend: impl redb::StorageBackend,
        genesis: &Genesis,
        sign: impl FnOnce(&BlockHeader) -> [u8; 64],
    ) -> Result<(Self, Recovered), StoreError> {
        Self::open_database(redb::Builder::new().create_with_backend(backend)?, genesis, None, sign)
    }

    /// [`Store::open_with_backend`] whose genesis block, if it writes one,
    /// carries `genesis_time_unix_ms` (a simulation whose every block hash
    /// must be the same from run to run).
    ///
    /// # Errors
    /// Storage failures, or a genesis mismatch.
    pub fn open_with_backend_at(
        backend: impl redb::StorageBackend,
        genesis: &Genesis,
        genesis_time_unix_ms: u64,
        sign: impl FnOnce(&BlockHeader) -> [u8; 64],
    ) -> Result<(Self, Recovered), StoreError> {
        Self::open_database(
            redb::Builder::new().create_with_backend(backend)?,
            genesis,
            Some(genesis_time_unix_ms),
            sign,
        )
    }

    fn open_database(
        db: Database,
        genesis: &Genesis,
        genesis_time_unix_ms: Option<u64>,
        sign: impl FnOnce(&BlockHeader) -> [u8; 64],
    ) -> Result<(Self, Recovered), StoreError> {
        let store = Self { db };
        let stored = {
            let read = store.db.begin_read()?;
            match read.open_table(META) {
                Ok(meta) => meta.get(GENESIS_KEY)?.map(|v| v.value().to_vec()),
                Err(redb::TableError::TableDoesNotExist(_)) => None,
                Err(e) => return Err(e.into()),
            }
        };
        match stored {
            Some(bytes) if bytes != genesis.canonical_bytes() => return Err(StoreError::GenesisMismatch),
            Some(_) => {}
            None => store.write_genesis(genesis, genesis_time_unix_ms.unwrap_or_else(now_unix_ms), sign)?,
        }
        let recovered = store.recover(genesis.clone())?;
        store.mark_sealed_since(recovered.tip.header.height + 1)?;
        Ok((store, recovered))
    }

    fn write_genesis(
        &self,
        genesis: &Genesis,
        time_unix_ms: u64,
        sign: impl FnOnce(&BlockHeader) -> [u8; 64],
    ) -> Result<(), StoreError> {
        let header = BlockHeader::genesis(genesis, time_unix_ms);
        let signed = SignedHeader { header, signature: sign(&header) };
        let mut write = self.db.begin_write()?;
        write.set_durability(Durability::Immediate)?;
        {
            let mut meta = write.open_table(META)?;
            meta.insert(GENESIS_KEY, genesis.canonical_bytes().as_slice())?;
            meta.insert(SEALED_SINCE_KEY, 0u64.to_be_bytes().as_slice())?;
            drop(meta);
            write.open_table(HEADERS)?.insert(0, signed_header_bytes(&signed).as_slice())?;
            write.open_table(BLOCK_TXIDS)?.insert(0, [].as_slice())?;
            write.open_table(TXS)?;
            write.open_table(TX_INDEX)?;
            write.open_table(UNSPENT)?;
            write.open_table(SPENT)?;
            write.open_table(REGISTRY_OPS)?;
            write.open_table(BLOCK_OPS)?;
            write.open_table(TX_TERMINALS)?;
            write.open_table(DAILY)?;
            write.open_table(MINT_REFS)?;
            write.open_table(PROGRAMME_STATS)?;
            write.open_table(EARMARKED)?;
            write.open_table(MOVEMENTS)?;
            write.open_table(BANK_TOTALS)?;
        }
        write.commit()?;
        Ok(())
    }

    /// The ledger's state at the last durable block, as a restart reads
    /// it (a deposed cluster leader rebuilds its ledger from it).
    ///
    /// # Errors
    /// Storage failures, or records that do not decode.
    pub fn recover(&self, genesis: Genesis) -> Result<Recovered, StoreError> {
        let read = self.db.begin_read()?;
        let headers = read.open_table(HEADERS)?;
        let (_, last) = headers.last()?.ok_or_else(|| StoreError::Corrupt("no blocks".to_owned()))?;
        let tip = decode_signed_header(last.value())?;
        let started = std::time::Instant::now();
        let unspent = Self::read_unspent(&read)?;
        tracing::info!(outputs = unspent.len(), elapsed_ms = started.elapsed().as_millis(), "unspent set read");
        let mut ops = Vec::new();
        for entry in read.open_table(REGISTRY_OPS)?.iter()? {
            let (index, value) = entry?;
            let bytes = value.value();
            let op: AdminOp = serde_json::from_slice(bytes.get(8..).unwrap_or_default())
                .map_err(|e| StoreError::Corrupt(format!("registry op {}: {e}", index.value())))?;
            ops.push(op);
        }
        let registry = Registry::replay(ops).map_err(|r| StoreError::Corrupt(format!("registry: {r}")))?;
        let mut daily = HashMap::new();
        for entry in read.open_table(DAILY)?.iter()? {
            let (address, value) = entry?;
            daily.insert(Address(*address.value()), value.value());
        }
        let mut stats = HashMap::new();
        for entry in read.open_table(PROGRAMME_STATS)?.iter()? {
            let (programme, value) = entry?;
            let programme = programme.value();
            let value = serde_json::from_slice(value.value())
                .map_err(|e| StoreError::Corrupt(format!("stats of programme {programme}: {e}")))?;
            stats.insert(programme, value);
        }
        let mut bank_totals = BTreeMap::new();
        let table = read.open_table(BANK_TOTALS)?;
        for bank in registry.banks.keys().map(String::as_str).chain([UNBANKED]) {
            if let Some(entry) = table.range((bank, 0)..=(bank, u64::MAX))?.next_back() {
                bank_totals.insert(bank.to_owned(), decode_totals(entry?.1.value())?);
            }
        }
        Ok(Recovered { genesis, tip, unspent, registry, daily, stats, bank_totals })
    }

    /// The whole unspent set. Two threads walk the two halves of the owner
    /// key space while this one builds the map: on a restart with millions
    /// of outputs the B-tree walk and the hashing overlap.
    fn read_unspent(read: &redb::ReadTransaction) -> Result<HashMap<OutPoint, Output>, StoreError> {
        let table = read.open_table(UNSPENT)?;
        let mut unspent = HashMap::with_capacity(usize::try_from(table.len()?).unwrap_or(0));
        let mut middle = [0u8; 68];
        middle[0] = 0x80;
        let (chunks_out, chunks) =
            std::sync::mpsc::sync_channel::<Result<Vec<(OutPoint, Output)>, StoreError>>(RECOVERY_CHUNKS_IN_FLIGHT);
        std::thread::scope(|scope| -> Result<(), StoreError> {
            for lower_half in [true, false] {
                let (table, chunks_out) = (&table, chunks_out.clone());
                scope.spawn(move || {
                    let walk = || -> Result<(), StoreError> {
                        let range = if lower_half {
                            table.range::<&[u8; 68]>(..&middle)?
                        } else {
                            table.range::<&[u8; 68]>(&middle..)?
                        };
                        let mut chunk = Vec::with_capacity(RECOVERY_CHUNK_OUTPUTS);
                        for entry in range {
                            let (key, value) = entry?;
                            let (owner, outpoint) = outpoint_of_unspent_key(key.value());
                            let (amount_minor, programme) = value.value();
                            chunk.push((outpoint, Output { owner, amount_minor, programme }));
                            if chunk.len() == RECOVERY_CHUNK_OUTPUTS {
                                let full = std::mem::replace(&mut chunk, Vec::with_capacity(RECOVERY_CHUNK_OUTPUTS));
                                if chunks_out.send(Ok(full)).is_err() {
                                    return Ok(());
                                }
                            }
                        }
                        let _ = chunks_out.send(Ok(chunk));
                        Ok(())
                    };
                    if let Err(error) = walk() {
                        let _ = chunks_out.send(Err(error));
                    }
                });
            }
            drop(chunks_out);
            for chunk in chunks {
                unspent.extend(chunk?);
            }
            Ok(())
        })?;
        Ok(unspent)
    }

    /// Writes one block and everything it did in a single write transaction,
    /// durable when this returns.
    ///
    /// # Errors
    /// Any storage failure; the block is then not durable and must not be
    /// confirmed.
    pub fn commit_block(&self, block: &BlockRecord) -> Result<(), StoreError> {
        let height = block.signed.header.height;
        let mut write = self.db.begin_write()?;
        write.set_durability(Durability::Immediate)?;
        {
            write.open_table(HEADERS)?.insert(height, signed_header_bytes(&block.signed).as_slice())?;
            let mut txids = Vec::with_capacity(block.txs.len() * 32);
            for (vtx, _) in &block.txs {
                txids.extend_from_slice(&vtx.txid.0);
            }
            write.open_table(BLOCK_TXIDS)?.insert(height, txids.as_slice())?;
            let mut txs = write.open_table(TXS)?;
            let mut index = write.open_table(TX_INDEX)?;
            let mut unspent = write.open_table(UNSPENT)?;
            let mut spent = write.open_table(SPENT)?;
            if !block.ops.is_empty() {
                write
                    .open_table(BLOCK_OPS)?
                    .insert(height, postcard::to_stdvec(&block.ops).expect("registry ops serialise").as_slice())?;
            }
            let mut terminals = write.open_table(TX_TERMINALS)?;
            for (_, applied) in &block.txs {
                if let Some(terminal) = applied.movements.iter().find_map(|(_, m)| m.terminal.as_deref()) {
                    terminals.insert(applied.sequence, terminal)?;
                }
            }
            let mut registry_ops = write.open_table(REGISTRY_OPS)?;
            let first_op = registry_ops.last()?.map_or(0, |(k, _)| k.value() + 1);
            for (index, (_, op)) in (first_op..).zip(&block.ops) {
                let mut bytes = height.to_be_bytes().to_vec();
                bytes.extend_from_slice(&serde_json::to_vec(op).expect("registry ops serialise"));
                registry_ops.insert(index, bytes.as_slice())?;
            }
            let mut programme_stats = write.open_table(PROGRAMME_STATS)?;
            for (programme, stats) in &block.stats {
                programme_stats.insert(*programme, serde_json::to_vec(stats).expect("stats serialise").as_slice())?;
            }
            let mut bank_totals = write.open_table(BANK_TOTALS)?;
            for (bank, totals) in &block.bank_totals {
                bank_totals
                    .insert((bank.as_str(), height), postcard::to_stdvec(totals).expect("serialise").as_slice())?;
            }
            let mut movements = write.open_table(MOVEMENTS)?;
            let mut earmarked = write.open_table(EARMARKED)?;
            let mut mint_refs = write.open_table(MINT_REFS)?;
            let mut daily = write.open_table(DAILY)?;
            // Random keys go in sorted, each table in one pass, net of what
            // the block both created and spent: neighbouring keys share
            // B-tree pages, so a block dirties (and writes) fewer of them.
            let mut created: BTreeMap<[u8; 68], (u64, u32)> = BTreeMap::new();
            let mut removed: Vec<[u8; 68]> = Vec::new();
            let mut created_earmarked: BTreeMap<[u8; 40], (Address, u64)> = BTreeMap::new();
            let mut removed_earmarked: Vec<[u8; 40]> = Vec::new();
            let mut spenders: Vec<([u8; 36], TxId)> = Vec::new();
            let mut located: Vec<(TxId, u64)> = Vec::with_capacity(block.txs.len());
            let mut daily_totals: BTreeMap<Address, (u64, u64)> = BTreeMap::new();
            for (vtx, applied) in &block.txs {
                if vtx.tx.kind == crate::types::TxKind::Mint {
                    mint_refs.insert(vtx.tx.reference.as_slice(), &vtx.txid.0)?;
                }
                for (payer, day, total) in &applied.daily {
                    daily_totals.insert(*payer, (*day, *total));
                }
                txs.insert(applied.sequence, encoding::tx_record_bytes(&vtx.tx).as_slice())?;
                for (bank, movement) in &applied.movements {
                    movements.insert(
                        (bank.as_str(), applied.sequence),
                        postcard::to_stdvec(movement).expect("serialise").as_slice(),
                    )?;
                }
                located.push((vtx.txid, applied.sequence));
                for (input, output) in vtx.tx.inputs.iter().zip(&applied.spent) {
                    let key = unspent_key(&output.owner, input);
                    if created.remove(&key).is_none() {
                        removed.push(key);
                    }
                    if output.programme != 0 {
                        let key = earmarked_key(output.programme, input);
                        if created_earmarked.remove(&key).is_none() {
                            removed_earmarked.push(key);
                        }
                    }
                    spenders.push((outpoint_key(input), vtx.txid));
                }
                for (i, output) in vtx.tx.outputs.iter().enumerate() {
                    let outpoint = OutPoint { txid: vtx.txid, index: u32::try_from(i).expect("bounded") };
                    created.insert(unspent_key(&output.owner, &outpoint), (output.amount_minor, output.programme));
                    if output.programme != 0 {
                        created_earmarked
                            .insert(earmarked_key(output.programme, &outpoint), (output.owner, output.amount_minor));
                    }
                }
            }
            removed.sort_unstable();
            for key in &removed {
                unspent.remove(key)?;
            }
            for (key, value) in &created {
                unspent.insert(key, *value)?;
            }
            removed_earmarked.sort_unstable();
            for key in &removed_earmarked {
                earmarked.remove(key)?;
            }
            for (key, (owner, amount_minor)) in &created_earmarked {
                earmarked.insert(key, (&owner.0, *amount_minor))?;
            }
            spenders.sort_unstable();
            for (key, spender) in &spenders {
                spent.insert(key, &spender.0)?;
            }
            located.sort_unstable();
            for (txid, sequence) in &located {
                index.insert(&txid.0, (*sequence, height))?;
            }
            for (payer, value) in &daily_totals {
                daily.insert(&payer.0, *value)?;
            }
        }
        write.commit()?;
        Ok(())
    }

    /// Which transaction spent `outpoint`, if a durable one did.
    ///
    /// # Errors
    /// Storage failures.
    pub fn spent_by(&self, outpoint: &OutPoint) -> Result<Option<TxId>, StoreError> {
        let read = self.db.begin_read()?;
        let table = read.open_table(SPENT)?;
        Ok(table.get(&outpoint_key(outpoint))?.map(|v| TxId(*v.value())))
    }

    /// The durable mint that used `reference`, if any.
    ///
    /// # Errors
    /// Storage failures.
    pub fn mint_by_reference(&self, reference: &[u8]) -> Result<Option<TxId>, StoreError> {
        let read = self.db.begin_read()?;
        let table = read.open_table(MINT_REFS)?;
        Ok(table.get(reference)?.map(|v| TxId(*v.value())))
    }

    /// Where a durable transaction is.
    ///
    /// # Errors
    /// Storage failures.
    pub fn locate(&self, txid: &TxId) -> Result<Option<TxLocation>, StoreError> {
        let read = self.db.begin_read()?;
        let table = read.open_table(TX_INDEX)?;
        Ok(table.get(&txid.0)?.map(|v| {
            let (sequence, height) = v.value();
            TxLocation { sequence, height }
        }))
    }

    /// The signed header at `height`.
    ///
    /// # Errors
    /// Storage failures.
    pub fn header(&self, height: u64) -> Result<Option<SignedHeader>, StoreError> {
        let read = self.db.begin_read()?;
        let table = read.open_table(HEADERS)?;
        table.get(height)?.map(|v| decode_signed_header(v.value())).transpose()
    }

    /// Records, on a file created before blocks kept their registry changes'
    /// positions, the first block that does.
    fn mark_sealed_since(&self, next_height: u64) -> Result<(), StoreError> {
        let known = self.db.begin_read()?.open_table(META)?.get(SEALED_SINCE_KEY)?.is_some();
        if !known {
            let mut write = self.db.begin_write()?;
            write.set_durability(Durability::Immediate)?;
            write.open_table(META)?.insert(SEALED_SINCE_KEY, next_height.to_be_bytes().as_slice())?;
            write.commit()?;
        }
        Ok(())
    }

    /// The block at `height` as it was sealed: its signed header, its
    /// transactions (witnesses included) in order with the terminal that
    /// submitted each, and its registry changes with their positions. What
    /// a replica far behind fetches from a peer.
    ///
    /// # Errors
    /// Storage failures, undecodable records, or a block written before
    /// its registry changes were kept with their positions.
    pub fn sealed_block(&self, height: u64) -> Result<Option<SealedBlock>, StoreError> {
        let read = self.db.begin_read()?;
        let since = match read.open_table(META)?.get(SEALED_SINCE_KEY)? {
            Some(bytes) => u64::from_be_bytes(
                bytes.value().try_into().map_err(|_| StoreError::Corrupt("sealed_since".to_owned()))?,
            ),
            None => u64::MAX,
        };
        if height < since && height > 0 {
            return Err(StoreError::Config(format!(
                "block {height} was written before blocks kept their registry changes' positions (since block \
                 {since}); it cannot be served whole"
            )));
        }
        let Some(signed) =
            read.open_table(HEADERS)?.get(height)?.map(|v| decode_signed_header(v.value())).transpose()?
        else {
            return Ok(None);
        };
        let header = signed.header;
        let records = read.open_table(TXS)?;
        let terminals = read.open_table(TX_TERMINALS)?;
        let mut txs = Vec::with_capacity(header.tx_count as usize);
        for sequence in header.first_sequence..header.next_sequence() {
            let record = records
                .get(sequence)?
                .ok_or_else(|| StoreError::Corrupt(format!("transaction {sequence} of block {height} missing")))?;
            let tx = encoding::decode_tx_record(record.value())
                .map_err(|e| StoreError::Corrupt(format!("transaction {sequence}: {e}")))?;
            txs.push((tx, terminals.get(sequence)?.map(|t| t.value().to_owned())));
        }
        let ops: Vec<(u32, AdminOp)> = match read.open_table(BLOCK_OPS)?.get(height)? {
            Some(bytes) => postcard::from_bytes(bytes.value())
                .map_err(|e| StoreError::Corrupt(format!("registry changes of block {height}: {e}")))?,
            None => Vec::new(),
        };
        Ok(Some(SealedBlock { signed, txs, ops }))
    }

    /// The txids of the block at `height`, in order.
    ///
    /// # Errors
    /// Storage failures.
    pub fn block_txids(&self, height: u64) -> Result<Option<Vec<TxId>>, StoreError> {
        let read = self.db.begin_read()?;
        let table = read.open_table(BLOCK_TXIDS)?;
        Ok(table
            .get(height)?
            .map(|v| v.value().chunks_exact(32).map(|c| TxId(c.try_into().expect("32 bytes"))).collect()))
    }

    /// The receipt of a durable transaction, rebuilt from its block.
    ///
    /// # Errors
    /// Storage failures, or a block that does not hold the transaction.
    pub fn receipt(&self, txid: &TxId) -> Result<Option<Receipt>, StoreError> {
        let Some(location) = self.locate(txid)? else {
            return Ok(None);
        };
        let block = self
            .header(location.height)?
            .ok_or_else(|| StoreError::Corrupt(format!("tx {txid} points at missing block {}", location.height)))?;
        let txids = self.block_txids(location.height)?.unwrap_or_default();
        let index = location.sequence.checked_sub(block.header.first_sequence).and_then(|i| usize::try_from(i).ok());
        let index = index.filter(|i| txids.get(*i) == Some(txid)).ok_or_else(|| {
            StoreError::Corrupt(format!("tx {txid} is not at its place in block {}", location.height))
        })?;
        let levels = merkle::levels(&txids);
        Ok(Some(Receipt {
            txid: *txid,
            sequence: location.sequence,
            block,
            index_in_block: u32::try_from(index).expect("blocks are bounded"),
            merkle_path: merkle::path(&levels, index),
        }))
    }

    /// The stored transaction at `sequence`.
    ///
    /// # Errors
    /// Storage failures or an undecodable record.
    pub fn transaction(&self, sequence: u64) -> Result<Option<Transaction>, StoreError> {
        let read = self.db.begin_read()?;
        let table = read.open_table(TXS)?;
        table
            .get(sequence)?
            .map(|v| {
                encoding::decode_tx_record(v.value()).map_err(|e| StoreError::Corrupt(format!("tx {sequence}: {e}")))
            })
            .transpose()
    }

    /// Up to `limit` unspent outputs of `owner`, after `after` (exclusive),
    /// in outpoint order, and the height they were read at.
    ///
    /// # Errors
    /// Storage failures.
    pub fn unspent_of(
        &self,
        owner: &Address,
        after: Option<&OutPoint>,
        limit: usize,
    ) -> Result<(Vec<(OutPoint, Output)>, u64), StoreError> {
        let read = self.db.begin_read()?;
        let height = read.open_table(HEADERS)?.last()?.map_or(0, |(k, _)| k.value());
        let table = read.open_table(UNSPENT)?;
        let (first, end) = owner_range(owner);
        let start = after.map_or(first, |outpoint| unspent_key(owner, outpoint));
        let mut outputs = Vec::new();
        for entry in table.range::<&[u8; 68]>(&start..=&end)? {
            let (key, value) = entry?;
            let (_, outpoint) = outpoint_of_unspent_key(key.value());
            if after == Some(&outpoint) {
                continue;
            }
            if outputs.len() == limit {
                break;
            }
            let (amount_minor, programme) = value.value();
            outputs.push((outpoint, Output { owner: *owner, amount_minor, programme }));
        }
        Ok((outputs, height))
    }
}

impl Store {
    /// The balance of `owner` per programme (ascending), its number of
    /// unspent outputs, and the height they were read at. Sums while it
    /// scans, so memory does not grow with the number of outputs.
    ///
    /// # Errors
    /// Storage failures, or a balance past 2^64 - 1 (a corrupt file).
    pub fn balance_of(&self, owner: &Address) -> Result<Balance, StoreError> {
        let read = self.db.begin_read()?;
        let height = read.open_table(HEADERS)?.last()?.map_or(0, |(k, _)| k.value());
        let table = read.open_table(UNSPENT)?;
        let (start, end) = owner_range(owner);
        let mut balances: Vec<(ProgrammeId, AmountMinor)> = Vec::new();
        let mut count = 0u64;
        for entry in table.range::<&[u8; 68]>(&start..=&end)? {
            let (_, value) = entry?;
            let (amount_minor, programme) = value.value();
            count += 1;
            let slot = match balances.iter().position(|(p, _)| *p == programme) {
                Some(i) => &mut balances[i].1,
                None => {
                    balances.push((programme, 0));
                    &mut balances.last_mut().expect("just pushed").1
                }
            };
            *slot = slot
                .checked_add(amount_minor)
                .ok_or_else(|| StoreError::Corrupt(format!("balance of {owner} past 2^64 - 1")))?;
        }
        balances.sort_unstable_by_key(|(p, _)| *p);
        Ok(Balance { per_programme: balances, unspent_count: count, height })
    }

    /// Up to `limit` unspent outputs of an earmarked programme, in outpoint
    /// order, after `after` (exclusive).
    ///
    /// # Errors
    /// Storage failures.
    pub fn earmarked_outputs(
        &self,
        programme: ProgrammeId,
        after: Option<&OutPoint>,
        limit: usize,
    ) -> Result<Vec<(OutPoint, Output)>, StoreError> {
        let read = self.db.begin_read()?;
        let table = read.open_table(EARMARKED)?;
        let first = earmarked_key(programme, &OutPoint { txid: TxId([0; 32]), index: 0 });
        let start = after.map_or(first, |outpoint| earmarked_key(programme, outpoint));
        let end = earmarked_key(programme, &OutPoint { txid: TxId([0xff; 32]), index: u32::MAX });
        let mut outputs = Vec::new();
        for entry in table.range::<&[u8; 40]>(&start..=&end)? {
            let (key, value) = entry?;
            let key = key.value();
            let txid = TxId(key[4..36].try_into().expect("32 bytes"));
            let outpoint = OutPoint { txid, index: u32::from_be_bytes(key[36..].try_into().expect("4 bytes")) };
            if after == Some(&outpoint) {
                continue;
            }
            if outputs.len() == limit {
                break;
            }
            let (owner, amount_minor) = value.value();
            outputs.push((outpoint, Output { owner: Address(*owner), amount_minor, programme }));
        }
        Ok(outputs)
    }

    /// Counts the durable unspent set (a full scan): number of outputs, their
    /// sum, and the header of the block it was counted at.
    ///
    /// # Errors
    /// Storage failures.
    pub fn count_unspent(&self) -> Result<(u64, u64, SignedHeader), StoreError> {
        let read = self.db.begin_read()?;
        let headers = read.open_table(HEADERS)?;
        let (_, last) = headers.last()?.ok_or_else(|| StoreError::Corrupt("no blocks".to_owned()))?;
        let tip = decode_signed_header(last.value())?;
        let (mut count, mut sum) = (0u64, 0u64);
        for entry in read.open_table(UNSPENT)?.iter()? {
            let (_, value) = entry?;
            count += 1;
            sum = sum
                .checked_add(value.value().0)
                .ok_or_else(|| StoreError::Corrupt("unspent outputs add up past 2^64".to_owned()))?;
        }
        Ok((count, sum, tip))
    }
}

fn decode_totals(bytes: &[u8]) -> Result<BankTotals, StoreError> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Corrupt(format!("bank totals: {e}")))
}

/// A block's header and, of one bank, its movements after a sequence.
pub struct BankBlock {
    pub header: SignedHeader,
    pub movements: Vec<Movement>,
    /// Whether the block holds more of the bank's movements than returned.
    pub more: bool,
    /// The bank's totals at the end of the block (only when `more` is false).
    pub totals: Option<BankTotals>,
}

impl Store {
    /// The height of the last durable block.
    ///
    /// # Errors
    /// Storage failures.
    pub fn tip_height(&self) -> Result<u64, StoreError> {
        let read = self.db.begin_read()?;
        Ok(read.open_table(HEADERS)?.last()?.map_or(0, |(k, _)| k.value()))
    }

    /// The first block with a transaction after sequence `after`, or the
    /// block that holds `after` itself (its checkpoint may not have been
    /// seen): the first whose next sequence is past `after`. `None` when
    /// the ledger has not reached `after` yet.
    ///
    /// # Errors
    /// Storage failures.
    pub fn block_of_sequence(&self, after: u64) -> Result<Option<u64>, StoreError> {
        let read = self.db.begin_read()?;
        let headers = read.open_table(HEADERS)?;
        let Some((tip, _)) = headers.last()? else { return Ok(None) };
        let next_of = |height: u64| -> Result<u64, StoreError> {
            let value = headers.get(height)?.ok_or_else(|| StoreError::Corrupt(format!("no block {height}")))?;
            Ok(decode_signed_header(value.value())?.header.next_sequence())
        };
        // Heights whose next sequence is past `after`: a suffix of the chain.
        let (mut low, mut high) = (0u64, tip.value() + 1);
        while low < high {
            let middle = low + (high - low) / 2;
            if next_of(middle)? > after { high = middle } else { low = middle + 1 }
        }
        Ok((low <= tip.value()).then_some(low))
    }

    /// Of block `height`: its header and up to `limit` of `bank`'s
    /// movements with a sequence after `after`, in order; with the bank's
    /// totals at the end of the block once nothing is left.
    ///
    /// # Errors
    /// Storage failures or undecodable records.
    pub fn bank_block(
        &self,
        bank: &str,
        height: u64,
        after: u64,
        limit: usize,
    ) -> Result<Option<BankBlock>, StoreError> {
        let read = self.db.begin_read()?;
        let Some(value) = read.open_table(HEADERS)?.get(height)? else { return Ok(None) };
        let header = decode_signed_header(value.value())?;
        let first = header.header.first_sequence.max(after.saturating_add(1));
        let last = header.header.next_sequence().saturating_sub(1);
        let mut movements = Vec::new();
        let mut more = false;
        if first <= last {
            for entry in read.open_table(MOVEMENTS)?.range((bank, first)..=(bank, last))? {
                if movements.len() == limit {
                    more = true;
                    break;
                }
                let (key, value) = entry?;
                let movement: Movement = postcard::from_bytes(value.value())
                    .map_err(|e| StoreError::Corrupt(format!("movement {}: {e}", key.value().1)))?;
                movements.push(movement);
            }
        }
        let totals = if more { None } else { Some(Self::totals_at(&read, bank, height)?) };
        Ok(Some(BankBlock { header, movements, more, totals }))
    }

    fn totals_at(read: &redb::ReadTransaction, bank: &str, height: u64) -> Result<BankTotals, StoreError> {
        match read.open_table(BANK_TOTALS)?.range((bank, 0)..=(bank, height))?.next_back() {
            Some(entry) => decode_totals(entry?.1.value()),
            None => Ok(BankTotals::default()),
        }
    }

    /// Every bank's totals (the unbanked included) at the end of block
    /// `height`, for the banks in `banks`.
    ///
    /// # Errors
    /// Storage failures or undecodable records.
    pub fn totals_of_banks_at(&self, banks: &[String], height: u64) -> Result<Vec<BankTotals>, StoreError> {
        let read = self.db.begin_read()?;
        banks.iter().map(|bank| Self::totals_at(&read, bank, height)).collect()
    }

    /// The last block whose time is before `time_unix_ms` (the genesis block
    /// if none): block times never decrease along the chain.
    ///
    /// # Errors
    /// Storage failures.
    pub fn last_block_before(&self, time_unix_ms: u64) -> Result<SignedHeader, StoreError> {
        let read = self.db.begin_read()?;
        let headers = read.open_table(HEADERS)?;
        let tip = headers.last()?.map_or(0, |(k, _)| k.value());
        let header_at = |height: u64| -> Result<SignedHeader, StoreError> {
            let value = headers.get(height)?.ok_or_else(|| StoreError::Corrupt(format!("no block {height}")))?;
            decode_signed_header(value.value())
        };
        // First height at or after the time, over 1..=tip; the one before it.
        let (mut low, mut high) = (1u64, tip + 1);
        while low < high {
            let middle = low + (high - low) / 2;
            if header_at(middle)?.header.time_unix_ms >= time_unix_ms { high = middle } else { low = middle + 1 }
        }
        header_at(low - 1)
    }

    /// `bank`'s movements with sequences in `first..=last`, in order, in
    /// one read transaction: calls `each` for every one until it answers
    /// `false`.
    ///
    /// # Errors
    /// Storage failures, undecodable records, or what `each` returns.
    pub fn movements_between(
        &self,
        bank: &str,
        first: u64,
        last: u64,
        mut each: impl FnMut(Movement) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let read = self.db.begin_read()?;
        if first > last {
            return Ok(());
        }
        for entry in read.open_table(MOVEMENTS)?.range((bank, first)..=(bank, last))? {
            let (key, value) = entry?;
            let movement: Movement = postcard::from_bytes(value.value())
                .map_err(|e| StoreError::Corrupt(format!("movement {}: {e}", key.value().1)))?;
            if !each(movement)? {
                break;
            }
        }
        Ok(())
    }
}

#[must_use]
pub fn now_unix_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}
