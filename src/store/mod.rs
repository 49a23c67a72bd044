//! Durable state in one redb file. One write transaction per block, committed
//! with `Durability::Immediate` (fsync) before anything in it is confirmed.
//!
//! Tables (keys big-endian so ranges scan in order):
//! - `meta`: genesis parameters.
//! - `headers`: height -> canonical header || engine signature.
//! - `block_txids`: height -> the block's txids, concatenated (for Merkle paths).
//! - `txs`: sequence -> stored transaction record (canonical bytes + witnesses).
//! - `tx_index`: txid -> (sequence, height).
//! - `unspent_by_owner`: owner || txid || index -> (amount, programme)
//!   (`unspent` in files from before the index log). Keyed by owner
//!   so that balances and listings are range scans; the engine keeps the
//!   same set in memory, keyed by outpoint, and rebuilds it from here.
//! - `spent`: txid || index -> txid of the spender, to name it in refusals and
//!   to recognise a resubmission.
//! - `index_log`: height -> what the block did to the random-key tables
//!   (`tx_index`, `unspent`, `earmarked`, `spent`, `daily`), for the blocks
//!   after `merged_height` in `meta`. Those tables are written only by a
//!   merge, every `INDEX_UNMERGED_ENTRIES_MAX` entries, from the same
//!   effects held in memory (`unmerged.rs`); readers lay the unmerged
//!   effects over the tables.
//! - `movements`: (bank, sequence) -> what the transaction did to the bank's
//!   customers: the bank streams and statements read a bank's range.
//! - `programme_stats`, `merchant_figures`: programme (and merchant) -> where
//!   the programme's money went, as of the last block that changed it
//!   (a programme's row also as of a commit of its own, when only claims
//!   refused as paid already changed it: `commit_programme_stats`).
//! - `bank_totals`: (bank, height) -> the bank's running totals at the end of
//!   every block that changed them: checkpoints, statement balances and net
//!   positions are lookups, not scans.

pub mod audit;
pub mod file_backend;
mod integrity;
mod unmerged;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::core::encoding::{self, BlockHeader, Genesis, HEADER_BYTES};

use crate::core::clock::now_unix_ms;
use crate::core::ledger::Applied;
use crate::core::limits::INDEX_MERGE_SLICE_MIN;
use crate::core::merkle;
use crate::core::movements::{BankTotals, Movement, UNBANKED};
use crate::core::receipt::{Receipt, SignedHeader};
use crate::core::registry::{MerchantFigures, ProgrammeStats, Registry, RegistryChange};
use crate::core::types::{Address, AmountMinor, ChainId, Hash32, OutPoint, Output, ProgrammeId, Transaction, TxId};
use crate::core::verify::VerifiedTx;
pub use integrity::BlockCheck;
use integrity::Integrity;
use unmerged::{BlockIndex, Overlaid, Unmerged};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const HEADERS: TableDefinition<u64, &[u8]> = TableDefinition::new("headers");
const BLOCK_TXIDS: TableDefinition<u64, &[u8]> = TableDefinition::new("block_txids");
const TXS: TableDefinition<u64, &[u8]> = TableDefinition::new("txs");
const TX_INDEX: TableDefinition<&[u8; 32], (u64, u64)> = TableDefinition::new("tx_index");
const UNSPENT: TableDefinition<&[u8; 68], (u64, u32)> = TableDefinition::new("unspent_by_owner");
const SPENT: TableDefinition<&[u8; 36], &[u8; 32]> = TableDefinition::new("spent");
const REGISTRY_OPS: TableDefinition<u64, &[u8]> = TableDefinition::new("registry_ops");
/// Mint reference -> txid: a reference (a disbursement row) pays once.
const MINT_REFS: TableDefinition<&[u8], &[u8; 32]> = TableDefinition::new("mint_refs");
const DAILY: TableDefinition<&[u8; 32], (u64, u64)> = TableDefinition::new("daily");
/// Payer -> (year, total paid that year), for payers of tiers with an
/// annual limit only; written directly by each block's commit, outside the
/// index log: one random-key write per such payer and payment (every
/// anonymous payer, when the unregistered tier has a limit: the default
/// table has none). The in-memory map is not pruned of past years.
const YEARLY: TableDefinition<&[u8; 32], (u64, u64)> = TableDefinition::new("yearly");
const PROGRAMME_STATS: TableDefinition<u32, &[u8]> = TableDefinition::new("programme_stats");
/// Payment txid -> what was refunded of it so far, per programme (postcard).
/// Random keys written in the block's commit itself: refunds are rare, so
/// this table stays small and out of the index log.
const REFUNDED: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("refunded");
/// (programme, merchant id) -> what the merchant took of the programme
/// (postcard `MerchantFigures`), as of the last block that changed it.
/// Written in the block's commit itself, like `programme_stats`: a row per
/// merchant and programme, so the table stays as small as the registry.
const MERCHANT_FIGURES: TableDefinition<(u32, &str), &[u8]> = TableDefinition::new("merchant_figures");
/// Alert number (from 1) -> an integrity alert (JSON), written by the
/// detector in its own write transactions, with its cursor in `meta`.
const ALERTS: TableDefinition<u64, &[u8]> = TableDefinition::new("alerts");
/// The next block height the integrity detector reads (`meta`).
const DETECTOR_CURSOR_KEY: &str = "detector_next_height";
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
/// Height -> the block's effects on the random-key tables, for the blocks
/// not yet merged into them (`unmerged::BlockIndex`).
const INDEX_LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("index_log");
/// META: the last block whose effects are in the random-key tables.
const MERGED_HEIGHT_KEY: &str = "merged_height";
/// META: every block through this height was checked whole when the file
/// was opened, or written by a process that then shut down cleanly. The
/// next open checks every block after it (`Store::open_check`).
const CHECKED_THROUGH_KEY: &str = "checked_through";

const GENESIS_KEY: &str = "genesis";
/// META: the last audit's outcome, JSON (`audit::AuditRecord`).
const LAST_AUDIT_KEY: &str = "last_audit";
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
    #[error(
        "the data file was written by protocol version {found}; this build speaks version {} only (signatures \
         bound to the chain id) and converts no older file: start the ledger in a new, empty data directory",
        crate::core::types::PROTOCOL_VERSION
    )]
    ProtocolVersion { found: u8 },
    /// Something read back from the file is not what was written: a
    /// signature, a hash or a Merkle root does not hold. The engine stops
    /// (fail-stop); nothing of it is served.
    #[error("the data file is damaged: {0}")]
    Damaged(String),
    #[error("corrupt data file: {0}")]
    Corrupt(String),
    #[error("the configuration does not fit the data file: {0}")]
    Config(String),
}

from_redb_errors!(StoreError);

/// A registry change with its number among all and its block's height.
pub type NumberedChange = (u64, u64, RegistryChange);

/// A stored block as it was sealed (`Store::sealed_block`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedBlock {
    pub signed: SignedHeader,
    pub txs: Vec<(Transaction, Option<String>)>,
    pub ops: Vec<(u32, RegistryChange)>,
}

/// A block ready to be written: its signed header and its transactions with
/// what applying them did.
#[derive(Clone, Debug)]
pub struct BlockRecord {
    pub signed: SignedHeader,
    pub txs: Vec<(VerifiedTx, Applied)>,
    /// Registry changes, each with the number of the block's transactions
    /// the sequencer applied before it (a replica replays them in between).
    pub ops: Vec<(u32, RegistryChange)>,
    /// Statistics of the programmes the block changed, as of its end.
    pub stats: Vec<(ProgrammeId, ProgrammeStats)>,
    /// Figures of the (programme, merchant) pairs the block changed, as of
    /// its end.
    pub merchants: Vec<((ProgrammeId, String), MerchantFigures)>,
    /// Totals of the banks the block changed, as of its end.
    pub bank_totals: Vec<(String, BankTotals)>,
    /// What was refunded so far of each payment the block's refunds
    /// refunded, per programme, as of its end.
    pub refunded: Vec<(TxId, BTreeMap<ProgrammeId, AmountMinor>)>,
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
    /// Each payer of a tier with an annual limit: its last year of
    /// payments and its total.
    pub yearly: HashMap<Address, (u64, AmountMinor)>,
    pub stats: HashMap<ProgrammeId, ProgrammeStats>,
    /// What each merchant took of each programme.
    pub merchants: HashMap<(ProgrammeId, String), MerchantFigures>,
    pub bank_totals: BTreeMap<String, BankTotals>,
    /// What was refunded of each payment refunded at least once.
    pub refunded: HashMap<TxId, BTreeMap<ProgrammeId, AmountMinor>>,
}

pub struct Store {
    db: Database,
    /// Effects of the blocks after the last merge. Readers take it before
    /// they begin their read transaction, and the writer updates it after
    /// each commit: a reader sees either the tables before a merge with
    /// everything it merged still here, or the tables after it.
    unmerged: RwLock<Unmerged>,
    merge_entries_max: AtomicU64,
    merge_blocks_max: AtomicU64,
    merge_slice_min: AtomicUsize,
    integrity: Integrity,
    /// The last audit's outcome as `meta` holds it: read once at open,
    /// replaced by `record_audit`, so that readers (every ledger watch's
    /// status) take no read transaction for it.
    last_audit: RwLock<Option<audit::AuditRecord>>,
}

/// redb with its page cache bounded (`LEDGER_CACHE_BYTES`): the unspent
/// set lives in the sequencer's map, so a large cache would mostly hold the
/// recovery walk's pages.
fn ledger_builder() -> redb::Builder {
    let mut builder = redb::Builder::new();
    builder.set_cache_size(crate::core::limits::LEDGER_CACHE_BYTES);
    builder
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

/// The block's sequential-key tables: header, txids, transaction records,
/// registry changes, terminals, programme statistics, bank totals,
/// movements and mint references.
fn write_block_tables(write: &redb::WriteTransaction, block: &BlockRecord) -> Result<(), StoreError> {
    let height = block.signed.header.height;
    write.open_table(HEADERS)?.insert(height, signed_header_bytes(&block.signed).as_slice())?;
    let mut txids = Vec::with_capacity(block.txs.len() * 32);
    for (vtx, _) in &block.txs {
        txids.extend_from_slice(&vtx.txid.0);
    }
    write.open_table(BLOCK_TXIDS)?.insert(height, txids.as_slice())?;
    let mut txs = write.open_table(TXS)?;
    if !block.ops.is_empty() {
        write.open_table(BLOCK_OPS)?.insert(
            height,
            integrity::sealed(&postcard::to_stdvec(&block.ops).expect("registry ops serialise")).as_slice(),
        )?;
    }
    let mut terminals = write.open_table(TX_TERMINALS)?;
    for (_, applied) in &block.txs {
        if let Some(terminal) = applied.movements.iter().find_map(|(_, m)| m.terminal.as_deref()) {
            terminals.insert(applied.sequence, terminal)?;
        }
    }
    let mut registry_ops = write.open_table(REGISTRY_OPS)?;
    let first_op = registry_ops.last()?.map_or(0, |(k, _)| k.value() + 1);
    for (index, (_, change)) in (first_op..).zip(&block.ops) {
        let mut bytes = height.to_be_bytes().to_vec();
        bytes.extend_from_slice(&serde_json::to_vec(change).expect("registry ops serialise"));
        registry_ops.insert(index, bytes.as_slice())?;
    }
    let mut programme_stats = write.open_table(PROGRAMME_STATS)?;
    for (programme, stats) in &block.stats {
        programme_stats.insert(*programme, serde_json::to_vec(stats).expect("stats serialise").as_slice())?;
    }
    if !block.merchants.is_empty() {
        let mut merchants = write.open_table(MERCHANT_FIGURES)?;
        for ((programme, merchant), figures) in &block.merchants {
            merchants
                .insert((*programme, merchant.as_str()), postcard::to_stdvec(figures).expect("serialise").as_slice())?;
        }
    }
    if !block.refunded.is_empty() {
        let mut refunded = write.open_table(REFUNDED)?;
        for (payment, amounts) in &block.refunded {
            refunded.insert(&payment.0, postcard::to_stdvec(amounts).expect("serialise").as_slice())?;
        }
    }
    if block.txs.iter().any(|(_, applied)| !applied.yearly.is_empty()) {
        let mut yearly = write.open_table(YEARLY)?;
        for (payer, year, total) in block.txs.iter().flat_map(|(_, applied)| &applied.yearly) {
            yearly.insert(&payer.0, (*year, *total))?;
        }
    }
    let mut bank_totals = write.open_table(BANK_TOTALS)?;
    for (bank, totals) in &block.bank_totals {
        bank_totals.insert((bank.as_str(), height), postcard::to_stdvec(totals).expect("serialise").as_slice())?;
    }
    let mut movements = write.open_table(MOVEMENTS)?;
    let mut mint_refs = write.open_table(MINT_REFS)?;
    for (vtx, applied) in &block.txs {
        if vtx.tx.kind == crate::core::types::TxKind::Mint {
            mint_refs.insert(vtx.tx.reference.as_slice(), &vtx.txid.0)?;
        }
        txs.insert(applied.sequence, integrity::sealed(&encoding::tx_record_bytes(&vtx.tx)).as_slice())?;
        for (bank, movement) in &applied.movements {
            movements.insert(
                (bank.as_str(), applied.sequence),
                integrity::sealed(&postcard::to_stdvec(movement).expect("serialise")).as_slice(),
            )?;
        }
    }
    Ok(())
}

fn block_zero(db: &Database) -> Result<SignedHeader, StoreError> {
    let read = db.begin_read()?;
    let bytes = read.open_table(HEADERS)?.get(0)?.map(|v| v.value().to_vec());
    decode_signed_header(&bytes.ok_or_else(|| StoreError::Corrupt("no block 0".to_owned()))?)
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
    /// Opens (or creates) a ledger on `backend` (the data file's
    /// `HookedFileBackend`, or a simulated disk). A new ledger gets
    /// `genesis` and a genesis block stamped `genesis_time_unix_ms` (now
    /// when absent; a cluster and a simulation fix it), `sign` signing its
    /// message (`BlockHeader::signing_message` for its own chain id); an
    /// existing one must hold the same genesis, and the blocks it has not
    /// checked yet must hold (`Store::open_check`).
    ///
    /// # Errors
    /// Storage failures, or a genesis mismatch.
    pub fn open(
        backend: impl redb::StorageBackend,
        genesis: &Genesis,
        genesis_time_unix_ms: Option<u64>,
        sign: impl FnOnce(&Hash32) -> [u8; 64],
    ) -> Result<(Self, Recovered), StoreError> {
        Self::open_database(ledger_builder().create_with_backend(backend)?, genesis, genesis_time_unix_ms, sign)
    }

    /// Opens the data file of a stopped server for an offline audit
    /// (`settled audit --data-dir`): the genesis is the one the file holds,
    /// nothing is created, no block is checked at open (the audit checks
    /// them all) and nothing is written but what redb's own recovery
    /// writes after a crash.
    ///
    /// # Errors
    /// No such file, a file of another protocol version, or no genesis.
    pub fn open_for_audit(path: &Path) -> Result<Self, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Config(format!("{} is not a ledger file", path.display())));
        }
        let db = ledger_builder().open(path)?;
        let stored = db.begin_read()?.open_table(META)?.get(GENESIS_KEY)?.map(|v| v.value().to_vec());
        let stored = stored.ok_or_else(|| StoreError::Corrupt("no genesis".to_owned()))?;
        if let Some(found) = stored.get(4).filter(|v| **v != crate::core::types::PROTOCOL_VERSION) {
            return Err(StoreError::ProtocolVersion { found: *found });
        }
        let genesis = Genesis::decode(&stored).map_err(|e| StoreError::Corrupt(format!("genesis: {e}")))?;
        let block_zero = block_zero(&db)?;
        let integrity = Integrity::new(block_zero.header.chain_id(), genesis.engine_key, genesis.hash());
        Self::assemble(db, integrity)
    }

    /// The store over an opened database, its unmerged index layers read.
    fn assemble(db: Database, integrity: Integrity) -> Result<Self, StoreError> {
        let mut store = Self {
            db,
            unmerged: RwLock::new(Unmerged::default()),
            merge_entries_max: AtomicU64::new(crate::core::limits::INDEX_UNMERGED_ENTRIES_MAX),
            merge_blocks_max: AtomicU64::new(crate::core::limits::INDEX_UNMERGED_BLOCKS_MAX),
            merge_slice_min: AtomicUsize::new(INDEX_MERGE_SLICE_MIN),
            integrity,
            last_audit: RwLock::new(None),
        };
        store.unmerged = RwLock::new(store.read_unmerged()?);
        store.last_audit = RwLock::new(store.read_last_audit()?);
        Ok(store)
    }

    /// The engine key the ledger's genesis names.
    #[must_use]
    pub fn engine_key(&self) -> Address {
        self.integrity.engine_key
    }

    fn open_database(
        db: Database,
        genesis: &Genesis,
        genesis_time_unix_ms: Option<u64>,
        sign: impl FnOnce(&Hash32) -> [u8; 64],
    ) -> Result<(Self, Recovered), StoreError> {
        let stored = {
            let read = db.begin_read()?;
            match read.open_table(META) {
                Ok(meta) => meta.get(GENESIS_KEY)?.map(|v| v.value().to_vec()),
                Err(redb::TableError::TableDoesNotExist(_)) => None,
                Err(e) => return Err(e.into()),
            }
        };
        match stored {
            // The version follows the genesis magic: refused before any
            // other table is read, whatever else changed.
            Some(bytes) if bytes.get(4).is_some_and(|v| *v != crate::core::types::PROTOCOL_VERSION) => {
                return Err(StoreError::ProtocolVersion { found: bytes[4] });
            }
            Some(bytes) if bytes != genesis.canonical_bytes() => return Err(StoreError::GenesisMismatch),
            Some(_) => {}
            None => write_genesis(&db, genesis, genesis_time_unix_ms.unwrap_or_else(now_unix_ms), sign)?,
        }
        let block_zero = block_zero(&db)?;
        let chain = block_zero.header.chain_id();
        let integrity = Integrity::new(chain, genesis.engine_key, genesis.hash());
        if block_zero.header.merkle_root != genesis.hash() || !integrity.header_holds(0, &block_zero) {
            return Err(integrity.damaged("block 0 is not this genesis's block, signed by its engine key".to_owned()));
        }
        let store = Self::assemble(db, integrity)?;
        store.open_check()?;
        let recovered = store.recover(genesis.clone())?;
        store.mark_sealed_since(recovered.tip.header.height + 1)?;
        Ok((store, recovered))
    }

    /// `error` as damage if it says the file does not hold together (the
    /// engine stops), as it is otherwise.
    fn damage(&self, error: StoreError) -> StoreError {
        match error {
            StoreError::Corrupt(what) => self.integrity.damaged(what),
            other => other,
        }
    }

    /// The chain id of this ledger: the hash of its block 0.
    #[must_use]
    pub fn chain_id(&self) -> ChainId {
        self.integrity.chain
    }

    /// Calls `hook` with what was found whenever a read finds the file
    /// damaged (the engine fails stop); set once.
    pub fn on_damage(&self, hook: impl Fn(&str) + Send + Sync + 'static) {
        self.integrity.set_hook(Box::new(hook));
    }

    /// Checks every block the file has not had checked (those after
    /// `checked_through`, and at least the last `OPEN_CHECK_RECENT_BLOCKS`)
    /// and records the tip as checked.
    fn open_check(&self) -> Result<(), StoreError> {
        let (tip, checked_through) = {
            let read = self.db.begin_read()?;
            let tip = read.open_table(HEADERS)?.last()?.map_or(0, |(k, _)| k.value());
            (tip, meta_u64(&read, CHECKED_THROUGH_KEY)?.unwrap_or(0))
        };
        // The last OPEN_CHECK_RECENT_BLOCKS blocks: tip + 1 - N ..= tip.
        let recent = (tip + 1).saturating_sub(crate::core::limits::OPEN_CHECK_RECENT_BLOCKS);
        let first = checked_through.saturating_add(1).min(recent).max(1);
        let started = std::time::Instant::now();
        let mut previous = if first <= tip { Some(self.check_block(first - 1, None)?) } else { None };
        for height in first..=tip {
            let check = self.check_block(height, previous.as_ref().and_then(|p| p.header.as_ref()))?;
            if let Some(failure) = check.failures.first() {
                return Err(self.integrity.damaged(format!(
                    "{failure} ({} failures in block {height}; found by the check at open, which covers every block \
                     since block {first}). Run `settled audit --data-dir` for the whole file",
                    check.failures.len()
                )));
            }
            previous = Some(check);
        }
        if first <= tip {
            tracing::info!(
                from = first,
                to = tip,
                elapsed_ms = crate::core::clock::millis_since(started),
                "blocks written since the last clean shutdown checked"
            );
        }
        self.set_checked_through(tip)
    }

    /// Keeps `record` as the last audit's outcome.
    ///
    /// # Errors
    /// Storage failures.
    pub fn record_audit(&self, record: &audit::AuditRecord) -> Result<(), StoreError> {
        let json = serde_json::to_vec(record).expect("an audit record serialises");
        let mut write = self.db.begin_write()?;
        write.set_durability(Durability::Immediate)?;
        write.open_table(META)?.insert(LAST_AUDIT_KEY, json.as_slice())?;
        write.commit()?;
        *self.last_audit.write().expect("not poisoned") = Some(record.clone());
        Ok(())
    }

    /// The last audit's outcome, if an audit ever ran on this file.
    #[must_use]
    pub fn last_audit(&self) -> Option<audit::AuditRecord> {
        self.last_audit.read().expect("not poisoned").clone()
    }

    /// The last audit's outcome as `meta` holds it.
    fn read_last_audit(&self) -> Result<Option<audit::AuditRecord>, StoreError> {
        let read = self.db.begin_read()?;
        let table = match read.open_table(META) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        match table.get(LAST_AUDIT_KEY)? {
            Some(bytes) => serde_json::from_slice(bytes.value())
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("meta {LAST_AUDIT_KEY}: {e}"))),
            None => Ok(None),
        }
    }

    /// Records that every block through `height` holds (at open, after the
    /// check; at a clean shutdown, for what this process wrote).
    fn set_checked_through(&self, height: u64) -> Result<(), StoreError> {
        let mut write = self.db.begin_write()?;
        write.set_durability(Durability::Immediate)?;
        write.open_table(META)?.insert(CHECKED_THROUGH_KEY, height.to_be_bytes().as_slice())?;
        write.commit()?;
        Ok(())
    }

    /// Marks the file cleanly closed at its tip: the blocks this process
    /// wrote are not checked again at the next open (only the last
    /// `OPEN_CHECK_RECENT_BLOCKS`). Call when nothing more will be written.
    ///
    /// # Errors
    /// Storage failures.
    pub fn close_cleanly(&self) -> Result<(), StoreError> {
        let tip = self.tip_height()?;
        self.set_checked_through(tip)
    }

    /// Checks block `height` whole against the block before it (`None`:
    /// only what the block itself can show): its header decodes, is at its
    /// height and signed by the engine for this chain, links to `previous`
    /// and continues its sequences; its txids are as many as it holds and
    /// hash to its Merkle root (block 0: the genesis); each of its
    /// transactions decodes and hashes to its txid.
    ///
    /// # Errors
    /// Storage failures; what does not hold is in `failures`.
    pub fn check_block(&self, height: u64, previous: Option<&BlockHeader>) -> Result<BlockCheck, StoreError> {
        let mut check = BlockCheck::default();
        let read = self.db.begin_read()?;
        let Some(bytes) = read.open_table(HEADERS)?.get(height)?.map(|v| v.value().to_vec()) else {
            check.failures.push(format!("block {height}: missing"));
            return Ok(check);
        };
        let signed = match decode_signed_header(&bytes) {
            Ok(signed) => signed,
            Err(e) => {
                check.failures.push(format!("block {height}: {e}"));
                return Ok(check);
            }
        };
        let header = signed.header;
        check.header = Some(header);
        if header.height != height {
            check.failures.push(format!("block {height}: header says height {}", header.height));
        }
        if !signed.verify(&self.integrity.engine_key, &self.integrity.chain) {
            check.failures.push(format!(
                "block {height}: not signed by the engine key {} for chain {}",
                self.integrity.engine_key, self.integrity.chain
            ));
        }
        if height == 0 && (header.previous_hash != [0; 32] || header.merkle_root != self.integrity.genesis_hash) {
            check.failures.push("block 0: not the genesis block of this genesis".to_owned());
        }
        if let Some(prev) = previous {
            if header.previous_hash != prev.hash() {
                check.failures.push(format!("block {height}: previous_hash does not match block {}", height - 1));
            }
            if header.first_sequence != prev.next_sequence() {
                check.failures.push(format!("block {height}: sequences do not continue block {}", height - 1));
            }
        }
        let txids = read_txids(&read, height)?.unwrap_or_default();
        if txids.len() != header.tx_count as usize {
            check.failures.push(format!("block {height}: {} txids for tx_count {}", txids.len(), header.tx_count));
        }
        if height > 0 && merkle::root(&txids) != header.merkle_root {
            check.failures.push(format!("block {height}: Merkle root does not match its txids"));
        }
        let records = read.open_table(TXS)?;
        for (i, txid) in txids.iter().enumerate() {
            let sequence = header.first_sequence + i as u64;
            check.transactions += 1;
            let Some(record) = records.get(sequence)? else {
                check.failures.push(format!("block {height}: transaction {sequence} missing"));
                continue;
            };
            let Some(record) = integrity::unsealed(record.value()) else {
                check.failures.push(format!(
                    "block {height}: transaction {sequence} ({txid}): its stored bytes do not match their checksum"
                ));
                continue;
            };
            match encoding::decode_tx_record(record) {
                Ok(tx) if encoding::txid(&tx) == *txid => {
                    if tx.kind == crate::core::types::TxKind::Mint {
                        let created = tx.outputs.iter().fold(0u64, |s, o| s.saturating_add(o.amount_minor));
                        check.minted_minor = check.minted_minor.saturating_add(created);
                    }
                }
                Ok(_) => check.failures.push(format!("block {height}: transaction {sequence} does not hash to {txid}")),
                Err(e) => check.failures.push(format!("block {height}: transaction {sequence}: {e}")),
            }
        }
        Ok(check)
    }

    /// The effects of the blocks after the last merge, replayed from the
    /// index log.
    fn read_unmerged(&self) -> Result<Unmerged, StoreError> {
        let read = self.db.begin_read()?;
        let tip = read.open_table(HEADERS)?.last()?.map_or(0, |(k, _)| k.value());
        let log = read.open_table(INDEX_LOG);
        let merged_height =
            meta_u64(&read, MERGED_HEIGHT_KEY)?.ok_or_else(|| StoreError::Corrupt("no merged_height".to_owned()))?;
        let mut unmerged = Unmerged::merged_at(merged_height);
        match log {
            Ok(log) => {
                for entry in log.iter()? {
                    let (height, bytes) = entry?;
                    let height = height.value();
                    if height != unmerged.height + 1 {
                        return Err(StoreError::Corrupt(format!(
                            "index log row of block {height} after block {} (merged through {merged_height})",
                            unmerged.height
                        )));
                    }
                    unmerged.add(&BlockIndex::decode(height, bytes.value())?);
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(e.into()),
        }
        if unmerged.height != tip {
            return Err(StoreError::Corrupt(format!(
                "the index log ends at block {}, the chain at block {tip}",
                unmerged.height
            )));
        }
        Ok(unmerged)
    }

    /// Merges the random-key tables every `entries` entries or `blocks`
    /// blocks, at least `slice` entries per commit, instead of the limits
    /// (`INDEX_UNMERGED_*_MAX`, `INDEX_MERGE_SLICE_MIN`): the simulation
    /// makes merges frequent and spread over several commits. Values are
    /// clamped to 1..=limit.
    pub fn set_merge_every(&self, entries: u64, blocks: u64, slice: usize) {
        self.merge_entries_max
            .store(entries.clamp(1, crate::core::limits::INDEX_UNMERGED_ENTRIES_MAX), Ordering::Relaxed);
        self.merge_blocks_max.store(blocks.clamp(1, crate::core::limits::INDEX_UNMERGED_BLOCKS_MAX), Ordering::Relaxed);
        self.merge_slice_min.store(slice.clamp(1, INDEX_MERGE_SLICE_MIN), Ordering::Relaxed);
    }

    /// The ledger's state at the last durable block, as a restart reads
    /// it (a deposed cluster leader rebuilds its ledger from it). The
    /// writer must be idle: the unspent set and daily totals are read at the
    /// block the unmerged layers are at, the registry, programme statistics
    /// and bank totals at the last committed block, and a commit between the
    /// two would set them one block apart.
    ///
    /// # Errors
    /// Storage failures, or records that do not decode.
    pub fn recover(&self, genesis: Genesis) -> Result<Recovered, StoreError> {
        // What the layers hold, taken with the read transaction: the block
        // they are at (one committed since is not in them), their changes
        // to `unspent` and their daily totals.
        let (read, height, unmerged_blocks, unspent_changes, unmerged_daily) = {
            let held = self.unmerged.read().expect("not poisoned");
            let changes = held.unspent_range(&[0; 68], &[0xff; 68]);
            (self.db.begin_read()?, held.height, held.held().1, changes, held.daily())
        };
        let tip = self.header_at(&read, height)?;
        let started = std::time::Instant::now();
        let mut unspent = Self::read_unspent(&read)?;
        for (key, value) in &unspent_changes {
            let (owner, outpoint) = outpoint_of_unspent_key(key);
            match value {
                Some((amount_minor, programme)) => {
                    unspent.insert(outpoint, Output { owner, amount_minor: *amount_minor, programme: *programme });
                }
                None => {
                    unspent.remove(&outpoint);
                }
            }
        }
        tracing::info!(
            outputs = unspent.len(),
            unmerged_blocks,
            elapsed_ms = crate::core::clock::millis_since(started),
            "unspent set read"
        );
        let mut ops = Vec::new();
        for entry in read.open_table(REGISTRY_OPS)?.iter()? {
            let (index, value) = entry?;
            let bytes = value.value();
            let json = bytes.get(8..).unwrap_or_default();
            let change: RegistryChange = serde_json::from_slice(json).map_err(|e| {
                let earlier = serde_json::from_slice::<crate::core::registry::AdminOp>(json).is_ok();
                StoreError::Corrupt(if earlier {
                    format!(
                        "registry op {} was written by an earlier build, before registry changes recorded who made \
                         them: open this file with that build, or start a new ledger",
                        index.value()
                    )
                } else {
                    format!("registry op {}: {e}", index.value())
                })
            })?;
            ops.push(change.op);
        }
        let registry = Registry::replay(ops).map_err(|r| StoreError::Corrupt(format!("registry: {r}")))?;
        let mut daily = HashMap::new();
        for entry in read.open_table(DAILY)?.iter()? {
            let (address, value) = entry?;
            daily.insert(Address(*address.value()), value.value());
        }
        daily.extend(unmerged_daily);
        let mut yearly = HashMap::new();
        match read.open_table(YEARLY) {
            Ok(table) => {
                for entry in table.iter()? {
                    let (address, value) = entry?;
                    yearly.insert(Address(*address.value()), value.value());
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(e.into()),
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
        let mut refunded = HashMap::new();
        // A file from before refunds has no such table, and no refund.
        let table = match read.open_table(REFUNDED) {
            Ok(table) => Some(table),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(e.into()),
        };
        if let Some(table) = table {
            for entry in table.iter()? {
                let (payment, value) = entry?;
                let amounts = postcard::from_bytes(value.value())
                    .map_err(|e| StoreError::Corrupt(format!("refunded of {}: {e}", TxId(*payment.value()))))?;
                refunded.insert(TxId(*payment.value()), amounts);
            }
        }
        let mut merchants = HashMap::new();
        // A file from before per-merchant figures has no such table.
        let table = match read.open_table(MERCHANT_FIGURES) {
            Ok(table) => Some(table),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(e.into()),
        };
        if let Some(table) = table {
            for entry in table.iter()? {
                let (key, value) = entry?;
                let (programme, merchant) = key.value();
                let figures = postcard::from_bytes(value.value()).map_err(|e| {
                    StoreError::Corrupt(format!("figures of merchant {merchant} in programme {programme}: {e}"))
                })?;
                merchants.insert((programme, merchant.to_owned()), figures);
            }
        }
        Ok(Recovered { genesis, tip, unspent, registry, daily, yearly, stats, merchants, bank_totals, refunded })
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
        let index = BlockIndex::of(block);
        let mut write = self.db.begin_write()?;
        write.set_durability(Durability::Immediate)?;
        write_block_tables(&write, block)?;
        let merged = self.log_and_merge(&write, height, &index)?;
        write.commit()?;
        self.integrity.remember(height, integrity::signed_hash(&block.signed));
        let mut held = self.unmerged.write().expect("not poisoned");
        held.add(&index);
        if let Some(cursor) = merged {
            held.merged_to(cursor);
        }
        held.freeze_if_full(
            self.merge_entries_max.load(Ordering::Relaxed),
            self.merge_blocks_max.load(Ordering::Relaxed),
        );
        Ok(())
    }

    /// Writes programme statistics as of block `height` in a commit of their
    /// own (what changed them is in no block: claims refused as paid
    /// already), durable when this returns; only if `height` is the last
    /// block written, so that the rows never hold a block the file lacks.
    /// `Ok(false)`: another block is the last, nothing written.
    ///
    /// # Errors
    /// Any storage failure.
    pub fn commit_programme_stats(
        &self,
        height: u64,
        stats: &[(ProgrammeId, ProgrammeStats)],
    ) -> Result<bool, StoreError> {
        // Blocks are committed by one writer, the caller: the last block
        // cannot move before this commit.
        if self.unmerged.read().expect("not poisoned").height != height {
            return Ok(false);
        }
        let mut write = self.db.begin_write()?;
        write.set_durability(Durability::Immediate)?;
        {
            let mut table = write.open_table(PROGRAMME_STATS)?;
            for (programme, programme_stats) in stats {
                table.insert(*programme, serde_json::to_vec(programme_stats).expect("stats serialise").as_slice())?;
            }
        }
        write.commit()?;
        Ok(true)
    }

    /// The block's row in the index log, and the next slice of the merge of
    /// the random-key tables (the whole merge finished moves
    /// `merged_height` and drops its log rows, in this same commit).
    fn log_and_merge(
        &self,
        write: &redb::WriteTransaction,
        height: u64,
        index: &BlockIndex,
    ) -> Result<Option<unmerged::Cursor>, StoreError> {
        let held = self.unmerged.read().expect("not poisoned");
        if held.height + 1 != height {
            return Err(StoreError::Corrupt(format!("block {height} committed after block {}", held.height)));
        }
        write.open_table(INDEX_LOG)?.insert(height, index.encode().as_slice())?;
        let budget = held.merge_budget(
            index.entries(),
            self.merge_entries_max.load(Ordering::Relaxed),
            self.merge_slice_min.load(Ordering::Relaxed),
        );
        let cursor = held.merge_slice(write, budget)?;
        if let (Some(cursor), Some(merging_height)) = (&cursor, held.merging_height())
            && cursor.done()
        {
            write.open_table(META)?.insert(MERGED_HEIGHT_KEY, merging_height.to_be_bytes().as_slice())?;
            let mut log = write.open_table(INDEX_LOG)?;
            for logged in held.merged_height + 1..=merging_height {
                log.remove(logged)?;
            }
        }
        Ok(cursor)
    }

    /// Which transaction spent `outpoint`, if a durable one did.
    ///
    /// # Errors
    /// Storage failures.
    pub fn spent_by(&self, outpoint: &OutPoint) -> Result<Option<TxId>, StoreError> {
        let unmerged = self.unmerged.read().expect("not poisoned");
        if let Some(spender) = unmerged.spender(outpoint) {
            return Ok(Some(spender));
        }
        let read = self.db.begin_read()?;
        drop(unmerged);
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
        let unmerged = self.unmerged.read().expect("not poisoned");
        if let Some(location) = unmerged.location(txid) {
            return Ok(Some(location));
        }
        let read = self.db.begin_read()?;
        drop(unmerged);
        let table = read.open_table(TX_INDEX)?;
        Ok(table.get(&txid.0)?.map(|v| {
            let (sequence, height) = v.value();
            TxLocation { sequence, height }
        }))
    }

    /// The signed header at `height`, once its signature holds.
    ///
    /// # Errors
    /// Storage failures, or a damaged header (`StoreError::Damaged`).
    pub fn header(&self, height: u64) -> Result<Option<SignedHeader>, StoreError> {
        let read = self.db.begin_read()?;
        self.checked_header(&read, height)
    }

    /// The header at `height` in `read`, checked (`Integrity::header_holds`).
    fn checked_header(&self, read: &redb::ReadTransaction, height: u64) -> Result<Option<SignedHeader>, StoreError> {
        let Some(value) = read.open_table(HEADERS)?.get(height)? else { return Ok(None) };
        let signed =
            decode_signed_header(value.value()).map_err(|e| self.integrity.damaged(format!("block {height}: {e}")))?;
        if !self.integrity.header_holds(height, &signed) {
            return Err(self.integrity.damaged(format!(
                "block {height}: its header is not the one the engine signed for chain {}",
                self.integrity.chain
            )));
        }
        Ok(Some(signed))
    }

    /// The signed header of block `height`, which must be stored, checked.
    fn header_at(&self, read: &redb::ReadTransaction, height: u64) -> Result<SignedHeader, StoreError> {
        self.checked_header(read, height)?.ok_or_else(|| StoreError::Corrupt(format!("no block {height}")))
    }

    /// The txids of block `height` in `read`, once they hash to the
    /// Merkle root of `header`.
    fn checked_txids(&self, read: &redb::ReadTransaction, header: &BlockHeader) -> Result<Vec<TxId>, StoreError> {
        let height = header.height;
        let txids = read_txids(read, height).map_err(|e| self.damage(e))?.unwrap_or_default();
        if height > 0 && (txids.len() != header.tx_count as usize || merkle::root(&txids) != header.merkle_root) {
            return Err(self.integrity.damaged(format!("block {height}: its txids do not hash to its Merkle root")));
        }
        Ok(txids)
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
        let Some(signed) = self.checked_header(&read, height)? else {
            return Ok(None);
        };
        let header = signed.header;
        let txids = self.checked_txids(&read, &header)?;
        let records = read.open_table(TXS)?;
        let terminals = read.open_table(TX_TERMINALS)?;
        let mut txs = Vec::with_capacity(header.tx_count as usize);
        for (sequence, txid) in (header.first_sequence..).zip(&txids) {
            let tx = self.checked_record(&records, sequence, txid)?;
            txs.push((tx, terminals.get(sequence)?.map(|t| t.value().to_owned())));
        }
        let ops: Vec<(u32, RegistryChange)> = match read.open_table(BLOCK_OPS)?.get(height)? {
            Some(stored) => integrity::unsealed(stored.value())
                .and_then(|bytes| postcard::from_bytes(bytes).ok())
                .ok_or_else(|| self.integrity.damaged(format!("block {height}: its registry changes are damaged")))?,
            None => Vec::new(),
        };
        Ok(Some(SealedBlock { signed, txs, ops }))
    }

    /// Appends integrity alerts (numbered on from the last) and moves the
    /// detector's cursor to `next_height`, in one write transaction: after
    /// a crash the detector resumes exactly where what it wrote ends.
    ///
    /// # Errors
    /// Storage failures.
    pub fn append_alerts(&self, alerts: &[crate::core::integrity::Alert], next_height: u64) -> Result<u64, StoreError> {
        let mut write = self.db.begin_write()?;
        write.set_durability(Durability::Immediate)?;
        let last = {
            let mut table = write.open_table(ALERTS)?;
            let mut last = table.last()?.map_or(0, |(k, _)| k.value());
            for alert in alerts {
                last += 1;
                table.insert(last, serde_json::to_vec(alert).expect("alerts serialise").as_slice())?;
            }
            last
        };
        write.open_table(META)?.insert(DETECTOR_CURSOR_KEY, next_height.to_be_bytes().as_slice())?;
        write.commit()?;
        Ok(last)
    }

    /// Up to `limit` registry changes after number `after` (from the first
    /// without), each with its number and the height of its block, and
    /// whether more follow.
    ///
    /// # Errors
    /// Storage failures, or a stored change that does not decode.
    pub fn registry_changes(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<NumberedChange>, bool), StoreError> {
        let read = self.db.begin_read()?;
        let table = read.open_table(REGISTRY_OPS)?;
        let mut entries = match after {
            Some(after) => table.range(after.saturating_add(1)..)?,
            None => table.range(0..)?,
        };
        let mut changes = Vec::with_capacity(limit.min(1024));
        for entry in entries.by_ref().take(limit) {
            let (index, value) = entry?;
            let (index, bytes) = (index.value(), value.value());
            let height = bytes.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes);
            let change = bytes.get(8..).and_then(|b| serde_json::from_slice(b).ok());
            let (Some(height), Some(change)) = (height, change) else {
                return Err(StoreError::Corrupt(format!("registry change {index} does not decode")));
            };
            changes.push((index, height, change));
        }
        let more = entries.next().is_some();
        Ok((changes, more))
    }

    /// The next block height the integrity detector reads (1 when it never ran).
    ///
    /// # Errors
    /// Storage failures.
    pub fn detector_cursor(&self) -> Result<u64, StoreError> {
        Ok(meta_u64(&self.db.begin_read()?, DETECTOR_CURSOR_KEY)?.unwrap_or(1))
    }

    /// The number of the last alert stored (0: none).
    ///
    /// # Errors
    /// Storage failures.
    pub fn last_alert_number(&self) -> Result<u64, StoreError> {
        let read = self.db.begin_read()?;
        match read.open_table(ALERTS) {
            Ok(table) => Ok(table.last()?.map_or(0, |(number, _)| number.value())),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    /// Up to `limit` alerts after number `after`, in order.
    ///
    /// # Errors
    /// Storage failures, or an alert that does not decode.
    pub fn alerts_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, crate::core::integrity::Alert)>, StoreError> {
        let read = self.db.begin_read()?;
        let table = match read.open_table(ALERTS) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut alerts = Vec::new();
        for entry in table.range(after.saturating_add(1)..)?.take(limit) {
            let (number, value) = entry?;
            let alert = serde_json::from_slice(value.value())
                .map_err(|e| StoreError::Corrupt(format!("alert {}: {e}", number.value())))?;
            alerts.push((number.value(), alert));
        }
        Ok(alerts)
    }

    /// The block at `height`: its header and its txids in order, once the
    /// header's signature and the txids' Merkle root hold.
    ///
    /// # Errors
    /// Storage failures, or a damaged block (`StoreError::Damaged`).
    pub fn block(&self, height: u64) -> Result<Option<(SignedHeader, Vec<TxId>)>, StoreError> {
        let read = self.db.begin_read()?;
        let Some(signed) = self.checked_header(&read, height)? else { return Ok(None) };
        let txids = self.checked_txids(&read, &signed.header)?;
        Ok(Some((signed, txids)))
    }

    /// The transaction record at `sequence` in `records`, once it decodes
    /// and hashes to `txid`.
    fn checked_record(
        &self,
        records: &redb::ReadOnlyTable<u64, &[u8]>,
        sequence: u64,
        txid: &TxId,
    ) -> Result<Transaction, StoreError> {
        let record = records
            .get(sequence)?
            .ok_or_else(|| self.integrity.damaged(format!("transaction {sequence} ({txid}) missing")))?;
        let Some(record) = integrity::unsealed(record.value()) else {
            return Err(self
                .integrity
                .damaged(format!("transaction {sequence} ({txid}): its stored bytes do not match their checksum")));
        };
        match encoding::decode_tx_record(record) {
            Ok(tx) if encoding::txid(&tx) == *txid => Ok(tx),
            Ok(_) => Err(self.integrity.damaged(format!("transaction {sequence} does not hash to {txid}"))),
            Err(e) => Err(self.integrity.damaged(format!("transaction {sequence} ({txid}): {e}"))),
        }
    }

    /// The receipt of a durable transaction, rebuilt from its block.
    ///
    /// # Errors
    /// Storage failures, or a block that does not hold the transaction.
    pub fn receipt(&self, txid: &TxId) -> Result<Option<Receipt>, StoreError> {
        let Some(location) = self.locate(txid)? else {
            return Ok(None);
        };
        let (block, txids) = self
            .block(location.height)?
            .ok_or_else(|| self.integrity.damaged(format!("tx {txid} points at missing block {}", location.height)))?;
        let index = location.sequence.checked_sub(block.header.first_sequence).and_then(|i| usize::try_from(i).ok());
        let index = index.filter(|i| txids.get(*i) == Some(txid)).ok_or_else(|| {
            self.integrity.damaged(format!("tx {txid} is not at its place in block {}", location.height))
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

    /// The durable transaction `txid`, once its record hashes to it.
    ///
    /// # Errors
    /// Storage failures, or a damaged record (`StoreError::Damaged`).
    pub fn transaction(&self, txid: &TxId) -> Result<Option<Transaction>, StoreError> {
        let Some(location) = self.locate(txid)? else { return Ok(None) };
        let read = self.db.begin_read()?;
        self.checked_record(&read.open_table(TXS)?, location.sequence, txid).map(Some)
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
        let (first, end) = owner_range(owner);
        let start = after.map_or(first, |outpoint| unspent_key(owner, outpoint));
        let (read, height, unmerged) = self.read_unspent_range(&start, &end)?;
        let table = read.open_table(UNSPENT)?;
        let mut outputs = Vec::new();
        for entry in Overlaid::new(unspent_entries(table.range::<&[u8; 68]>(&start..=&end)?), unmerged) {
            let (key, (amount_minor, programme)) = entry?;
            let (_, outpoint) = outpoint_of_unspent_key(&key);
            if after == Some(&outpoint) {
                continue;
            }
            if outputs.len() == limit {
                break;
            }
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
        let (start, end) = owner_range(owner);
        let (read, height, unmerged) = self.read_unspent_range(&start, &end)?;
        let table = read.open_table(UNSPENT)?;
        let mut balances: Vec<(ProgrammeId, AmountMinor)> = Vec::new();
        let mut count = 0u64;
        for entry in Overlaid::new(unspent_entries(table.range::<&[u8; 68]>(&start..=&end)?), unmerged) {
            let (_, (amount_minor, programme)) = entry?;
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
        let first = earmarked_key(programme, &OutPoint { txid: TxId([0; 32]), index: 0 });
        let start = after.map_or(first, |outpoint| earmarked_key(programme, outpoint));
        let end = earmarked_key(programme, &OutPoint { txid: TxId([0xff; 32]), index: u32::MAX });
        let (read, unmerged) = {
            let held = self.unmerged.read().expect("not poisoned");
            let unmerged = held.earmarked_range(&start, &end);
            (self.db.begin_read()?, unmerged)
        };
        let table = read.open_table(EARMARKED)?;
        let entries = table.range::<&[u8; 40]>(&start..=&end)?.map(|entry| {
            let (key, value) = entry?;
            let (owner, amount_minor) = value.value();
            Ok((*key.value(), (Address(*owner), amount_minor)))
        });
        let mut outputs = Vec::new();
        for entry in Overlaid::new(entries, unmerged) {
            let (key, (owner, amount_minor)) = entry?;
            let txid = TxId(key[4..36].try_into().expect("32 bytes"));
            let outpoint = OutPoint { txid, index: u32::from_be_bytes(key[36..].try_into().expect("4 bytes")) };
            if after == Some(&outpoint) {
                continue;
            }
            if outputs.len() == limit {
                break;
            }
            outputs.push((outpoint, Output { owner, amount_minor, programme }));
        }
        Ok(outputs)
    }

    /// Counts the durable unspent set (a full scan): number of outputs, their
    /// sum, and the header of the block it was counted at.
    ///
    /// # Errors
    /// Storage failures.
    pub fn count_unspent(&self) -> Result<(u64, u64, SignedHeader), StoreError> {
        let (read, height, unmerged) = self.read_unspent_range(&[0; 68], &[0xff; 68])?;
        let tip = self.header_at(&read, height)?;
        let (mut count, mut sum) = (0u64, 0u64);
        for entry in Overlaid::new(unspent_entries(read.open_table(UNSPENT)?.iter()?), unmerged) {
            let (_, (amount_minor, _)) = entry?;
            count += 1;
            sum = sum
                .checked_add(amount_minor)
                .ok_or_else(|| StoreError::Corrupt("unspent outputs add up past 2^64".to_owned()))?;
        }
        Ok((count, sum, tip))
    }
}

impl Store {
    /// A read transaction, the height of the unspent set it shows, and
    /// the unmerged changes to `unspent` between `start` and `end`.
    #[allow(clippy::type_complexity)]
    fn read_unspent_range(
        &self,
        start: &[u8; 68],
        end: &[u8; 68],
    ) -> Result<(redb::ReadTransaction, u64, Vec<([u8; 68], Option<unmerged::UnspentValue>)>), StoreError> {
        let held = self.unmerged.read().expect("not poisoned");
        let unmerged = held.unspent_range(start, end);
        Ok((self.db.begin_read()?, held.height, unmerged))
    }
}

/// Writes a new file's genesis and its block 0, signed by `sign` for its
/// own chain id, and creates every table.
fn write_genesis(
    db: &Database,
    genesis: &Genesis,
    time_unix_ms: u64,
    sign: impl FnOnce(&Hash32) -> [u8; 64],
) -> Result<(), StoreError> {
    let header = BlockHeader::genesis(genesis, time_unix_ms);
    let signed = SignedHeader { header, signature: sign(&header.signing_message(&header.chain_id())) };
    let mut write = db.begin_write()?;
    write.set_durability(Durability::Immediate)?;
    {
        let mut meta = write.open_table(META)?;
        meta.insert(GENESIS_KEY, genesis.canonical_bytes().as_slice())?;
        meta.insert(SEALED_SINCE_KEY, 0u64.to_be_bytes().as_slice())?;
        meta.insert(MERGED_HEIGHT_KEY, 0u64.to_be_bytes().as_slice())?;
        meta.insert(CHECKED_THROUGH_KEY, 0u64.to_be_bytes().as_slice())?;
        drop(meta);
        write.open_table(INDEX_LOG)?;
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
        write.open_table(REFUNDED)?;
        write.open_table(MERCHANT_FIGURES)?;
        write.open_table(EARMARKED)?;
        write.open_table(MOVEMENTS)?;
        write.open_table(BANK_TOTALS)?;
    }
    write.commit()?;
    Ok(())
}

/// A `u64` in `meta`, if present.
fn meta_u64(read: &redb::ReadTransaction, key: &str) -> Result<Option<u64>, StoreError> {
    match read.open_table(META)?.get(key)? {
        Some(bytes) => Ok(Some(u64::from_be_bytes(
            bytes.value().try_into().map_err(|_| StoreError::Corrupt(format!("meta {key}")))?,
        ))),
        None => Ok(None),
    }
}

/// The txids of block `height`, in order.
fn read_txids(read: &redb::ReadTransaction, height: u64) -> Result<Option<Vec<TxId>>, StoreError> {
    let table = read.open_table(BLOCK_TXIDS)?;
    let Some(bytes) = table.get(height)? else { return Ok(None) };
    let bytes = bytes.value();
    if bytes.len() % 32 != 0 {
        return Err(StoreError::Corrupt(format!("txids of block {height}: {} bytes", bytes.len())));
    }
    Ok(Some(bytes.chunks_exact(32).map(|c| TxId(c.try_into().expect("32 bytes"))).collect()))
}

/// `unspent` table entries with owned keys, for [`Overlaid`].
fn unspent_entries<'a>(
    range: impl Iterator<
        Item = Result<
            (redb::AccessGuard<'a, &'static [u8; 68]>, redb::AccessGuard<'a, (u64, u32)>),
            redb::StorageError,
        >,
    >,
) -> impl Iterator<Item = Result<([u8; 68], (u64, ProgrammeId)), StoreError>> {
    range.map(|entry| {
        let (key, value) = entry?;
        Ok((*key.value(), value.value()))
    })
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
            let value = headers.get(height)?.ok_or_else(|| self.integrity.damaged(format!("no block {height}")))?;
            let signed = decode_signed_header(value.value()).map_err(|e| self.damage(e))?;
            Ok(signed.header.next_sequence())
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
        let Some(header) = self.checked_header(&read, height)? else { return Ok(None) };
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
                movements.push(self.checked_movement(entry?)?);
            }
        }
        let totals = if more { None } else { Some(Self::totals_at(&read, bank, height)?) };
        Ok(Some(BankBlock { header, movements, more, totals }))
    }

    /// A stored movement, once it decodes and is stored under its own
    /// sequence.
    fn checked_movement(
        &self,
        (key, value): (redb::AccessGuard<'_, (&str, u64)>, redb::AccessGuard<'_, &[u8]>),
    ) -> Result<Movement, StoreError> {
        let (bank, sequence) = key.value();
        let Some(bytes) = integrity::unsealed(value.value()) else {
            return Err(self.integrity.damaged(format!(
                "bank {bank}'s movement at sequence {sequence}: its stored bytes do not match their checksum"
            )));
        };
        match postcard::from_bytes::<Movement>(bytes) {
            Ok(movement) if movement.sequence == sequence => Ok(movement),
            Ok(movement) => Err(self
                .integrity
                .damaged(format!("bank {bank}'s movement at sequence {sequence} says sequence {}", movement.sequence))),
            Err(e) => Err(self.integrity.damaged(format!("bank {bank}'s movement at sequence {sequence}: {e}"))),
        }
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
            let value = headers.get(height)?.ok_or_else(|| self.integrity.damaged(format!("no block {height}")))?;
            decode_signed_header(value.value()).map_err(|e| self.damage(e))
        };
        // First height at or after the time, over 1..=tip; the one before it.
        let (mut low, mut high) = (1u64, tip + 1);
        while low < high {
            let middle = low + (high - low) / 2;
            if header_at(middle)?.header.time_unix_ms >= time_unix_ms { high = middle } else { low = middle + 1 }
        }
        drop(headers);
        self.header_at(&read, low - 1)
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
            if !each(self.checked_movement(entry?)?)? {
                break;
            }
        }
        Ok(())
    }
}

/// Copies every entry of `table` as `read` sees it into `write`; a table
/// the source does not have yet (an older file) is left out.
fn copy_table<K: redb::Key + 'static, V: redb::Value + 'static>(
    read: &redb::ReadTransaction,
    write: &redb::WriteTransaction,
    table: TableDefinition<K, V>,
) -> Result<(), StoreError> {
    let source = match read.open_table(table) {
        Ok(source) => source,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut target = write.open_table(table)?;
    for entry in source.iter()? {
        let (key, value) = entry?;
        target.insert(key.value(), value.value())?;
    }
    Ok(())
}

impl Store {
    /// Writes a consistent copy of the ledger, as of the last committed
    /// block, to a new redb file at `path` (which must not exist), durably,
    /// while the engine goes on: one read transaction is the snapshot. Every
    /// table is copied, the index log with it, so the copy reopens as the
    /// ledger did at that block. Returns that block's height.
    ///
    /// # Errors
    /// Storage failures; a table this build does not know (it would not be
    /// in the copy).
    pub fn backup_to(&self, path: &Path) -> Result<u64, StoreError> {
        let read = self.db.begin_read()?;
        let height = read.open_table(HEADERS)?.last()?.map_or(0, |(height, _)| height.value());
        let backup = ledger_builder().create(path)?;
        let mut write = backup.begin_write()?;
        write.set_durability(Durability::Immediate)?;
        let mut copied = std::collections::BTreeSet::new();
        macro_rules! copy {
            ($($table:ident),* $(,)?) => {
                $(
                    copy_table(&read, &write, $table)?;
                    copied.insert(redb::TableHandle::name(&$table).to_owned());
                )*
            };
        }
        copy!(
            META,
            HEADERS,
            BLOCK_TXIDS,
            TXS,
            TX_INDEX,
            UNSPENT,
            SPENT,
            REGISTRY_OPS,
            MINT_REFS,
            DAILY,
            YEARLY,
            PROGRAMME_STATS,
            REFUNDED,
            MERCHANT_FIGURES,
            ALERTS,
            EARMARKED,
            MOVEMENTS,
            BLOCK_OPS,
            TX_TERMINALS,
            BANK_TOTALS,
            INDEX_LOG,
        );
        for table in read.list_tables()? {
            let name = redb::TableHandle::name(&table);
            if !copied.contains(name) {
                return Err(StoreError::Corrupt(format!("table {name} is unknown to this build: no backup of it")));
            }
        }
        write.commit()?;
        Ok(height)
    }
}
