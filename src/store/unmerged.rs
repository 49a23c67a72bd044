//! The random-key indexes (`unspent`, `earmarked`, `spent`, `tx_index`,
//! `daily`) of the blocks committed since the last merge.
//!
//! A block's commit writes only tables with sequential keys, plus one
//! `index_log` row: what the block did to the random-key indexes
//! ([`BlockIndex`]). The same effects go into an active layer in memory.
//! When it holds `INDEX_UNMERGED_ENTRIES_MAX` entries (or
//! `INDEX_UNMERGED_BLOCKS_MAX` blocks) it is frozen, and each following
//! block's commit writes a slice of it into the tables (twice what the block
//! adds, and more if that would not end the merge before the active layer
//! fills at this block size), each table in key order, until it is all
//! there; that commit records `merged_height` in
//! `meta` and deletes the frozen blocks' log rows. A page of a random-key
//! table is then written about once per merge rather than once per block
//! that touches it, and no commit pays for a whole merge. Readers look in
//! the active layer, then the frozen one, then the tables. Reopening a file
//! replays the log rows after `merged_height` into a fresh active layer:
//! the layers say the last word on every key they hold, so a merge a crash
//! interrupted halfway is simply done again.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::core::types::{Address, OutPoint, Output, ProgrammeId, TxId};

use super::{BlockRecord, StoreError, TxLocation, earmarked_key, outpoint_key, unspent_key};

/// A block's effects on the random-key indexes, net of what the block both
/// created and spent: what its `index_log` row holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct BlockIndex {
    pub height: u64,
    /// Every input of the block with the transaction that spent it.
    pub spent: Vec<(OutPoint, TxId)>,
    /// Outputs that existed before the block and were spent in it: owner,
    /// outpoint, programme (the keys of `unspent` and `earmarked`).
    pub removed: Vec<(Address, OutPoint, ProgrammeId)>,
    /// Outputs created by the block and still unspent at its end.
    pub created: Vec<(OutPoint, Output)>,
    /// Every transaction of the block with its sequence.
    pub located: Vec<(TxId, u64)>,
    /// Tier-limited payers' day and total at the end of the block.
    pub daily: Vec<(Address, u64, u64)>,
}

const SPENT_BYTES: usize = 36 + 32;
const REMOVED_BYTES: usize = 32 + 36 + 4;
const CREATED_BYTES: usize = 36 + 32 + 8 + 4;
const LOCATED_BYTES: usize = 32 + 8;
const DAILY_BYTES: usize = 32 + 8 + 8;

impl BlockIndex {
    pub fn of(block: &BlockRecord) -> Self {
        let mut index = Self { height: block.signed.header.height, ..Self::default() };
        let mut created: BTreeMap<OutPoint, Output> = BTreeMap::new();
        let mut daily: BTreeMap<Address, (u64, u64)> = BTreeMap::new();
        for (vtx, applied) in &block.txs {
            for (input, output) in vtx.tx.inputs.iter().zip(&applied.spent) {
                if created.remove(input).is_none() {
                    index.removed.push((output.owner, *input, output.programme));
                }
                index.spent.push((*input, vtx.txid));
            }
            for (i, output) in vtx.tx.outputs.iter().enumerate() {
                created.insert(OutPoint { txid: vtx.txid, index: u32::try_from(i).expect("bounded") }, *output);
            }
            index.located.push((vtx.txid, applied.sequence));
            for (payer, day, total) in &applied.daily {
                daily.insert(*payer, (*day, *total));
            }
        }
        index.created = created.into_iter().collect();
        index.daily = daily.into_iter().map(|(payer, (day, total))| (payer, day, total)).collect();
        index
    }

    /// Table entries the block adds to a layer (an earmarked output counts
    /// once, though it has two).
    pub fn entries(&self) -> usize {
        self.spent.len() + self.removed.len() + self.created.len() + self.located.len() + self.daily.len()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(
            20 + self.spent.len() * SPENT_BYTES
                + self.removed.len() * REMOVED_BYTES
                + self.created.len() * CREATED_BYTES
                + self.located.len() * LOCATED_BYTES
                + self.daily.len() * DAILY_BYTES,
        );
        for count in [self.spent.len(), self.removed.len(), self.created.len(), self.located.len(), self.daily.len()] {
            bytes.extend_from_slice(&u32::try_from(count).expect("blocks are bounded").to_be_bytes());
        }
        for (outpoint, spender) in &self.spent {
            bytes.extend_from_slice(&outpoint_key(outpoint));
            bytes.extend_from_slice(&spender.0);
        }
        for (owner, outpoint, programme) in &self.removed {
            bytes.extend_from_slice(&owner.0);
            bytes.extend_from_slice(&outpoint_key(outpoint));
            bytes.extend_from_slice(&programme.to_be_bytes());
        }
        for (outpoint, output) in &self.created {
            bytes.extend_from_slice(&outpoint_key(outpoint));
            bytes.extend_from_slice(&output.owner.0);
            bytes.extend_from_slice(&output.amount_minor.to_be_bytes());
            bytes.extend_from_slice(&output.programme.to_be_bytes());
        }
        for (txid, sequence) in &self.located {
            bytes.extend_from_slice(&txid.0);
            bytes.extend_from_slice(&sequence.to_be_bytes());
        }
        for (payer, day, total) in &self.daily {
            bytes.extend_from_slice(&payer.0);
            bytes.extend_from_slice(&day.to_be_bytes());
            bytes.extend_from_slice(&total.to_be_bytes());
        }
        bytes
    }

    pub fn decode(height: u64, bytes: &[u8]) -> Result<Self, StoreError> {
        let corrupt = || StoreError::Corrupt(format!("index log of block {height}"));
        let mut reader = Reader { bytes };
        let mut counts = [0usize; 5];
        for count in &mut counts {
            *count = usize::try_from(u32::from_be_bytes(reader.take().ok_or_else(corrupt)?)).expect("u32 fits");
        }
        let [spent, removed, created, located, daily] = counts;
        let expected = spent * SPENT_BYTES
            + removed * REMOVED_BYTES
            + created * CREATED_BYTES
            + located * LOCATED_BYTES
            + daily * DAILY_BYTES;
        if reader.bytes.len() != expected {
            return Err(corrupt());
        }
        let mut index = Self { height, ..Self::default() };
        let outpoint = |reader: &mut Reader| -> Option<OutPoint> {
            Some(OutPoint { txid: TxId(reader.take()?), index: u32::from_be_bytes(reader.take()?) })
        };
        for _ in 0..spent {
            let at = outpoint(&mut reader).ok_or_else(corrupt)?;
            index.spent.push((at, TxId(reader.take().ok_or_else(corrupt)?)));
        }
        for _ in 0..removed {
            let owner = Address(reader.take().ok_or_else(corrupt)?);
            let at = outpoint(&mut reader).ok_or_else(corrupt)?;
            index.removed.push((owner, at, u32::from_be_bytes(reader.take().ok_or_else(corrupt)?)));
        }
        for _ in 0..created {
            let at = outpoint(&mut reader).ok_or_else(corrupt)?;
            let owner = Address(reader.take().ok_or_else(corrupt)?);
            let amount_minor = u64::from_be_bytes(reader.take().ok_or_else(corrupt)?);
            let programme = u32::from_be_bytes(reader.take().ok_or_else(corrupt)?);
            index.created.push((at, Output { owner, amount_minor, programme }));
        }
        for _ in 0..located {
            let txid = TxId(reader.take().ok_or_else(corrupt)?);
            index.located.push((txid, u64::from_be_bytes(reader.take().ok_or_else(corrupt)?)));
        }
        for _ in 0..daily {
            let payer = Address(reader.take().ok_or_else(corrupt)?);
            let day = u64::from_be_bytes(reader.take().ok_or_else(corrupt)?);
            index.daily.push((payer, day, u64::from_be_bytes(reader.take().ok_or_else(corrupt)?)));
        }
        Ok(index)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.bytes.split_at_checked(N)?;
        self.bytes = rest;
        head.try_into().ok()
    }
}

/// A row of `unspent`: amount and programme.
pub(super) type UnspentValue = (u64, ProgrammeId);
/// A row of `earmarked`: owner and amount.
pub(super) type EarmarkedValue = (Address, u64);

/// One layer of unmerged effects, keyed as the tables are. In `unspent`
/// and `earmarked`, `Some` is an output created in the layer's blocks and
/// `None` one they spent. A spent output is always recorded `None`, even
/// one the layer created: a merge interrupted by a crash may have written
/// it into the table already.
#[derive(Debug, Default)]
struct Layer {
    entries: u64,
    blocks: u64,
    unspent: BTreeMap<[u8; 68], Option<(u64, ProgrammeId)>>,
    earmarked: BTreeMap<[u8; 40], Option<(Address, u64)>>,
    spent: BTreeMap<[u8; 36], TxId>,
    located: BTreeMap<[u8; 32], TxLocation>,
    daily: BTreeMap<[u8; 32], (u64, u64)>,
}

impl Layer {
    fn add(&mut self, block: &BlockIndex) {
        for (owner, outpoint, programme) in &block.removed {
            self.unspent.insert(unspent_key(owner, outpoint), None);
            if *programme != 0 {
                self.earmarked.insert(earmarked_key(*programme, outpoint), None);
            }
        }
        for (outpoint, output) in &block.created {
            self.unspent.insert(unspent_key(&output.owner, outpoint), Some((output.amount_minor, output.programme)));
            if output.programme != 0 {
                self.earmarked
                    .insert(earmarked_key(output.programme, outpoint), Some((output.owner, output.amount_minor)));
            }
        }
        self.spent.extend(block.spent.iter().map(|(outpoint, spender)| (outpoint_key(outpoint), *spender)));
        self.located.extend(
            block
                .located
                .iter()
                .map(|(txid, sequence)| (txid.0, TxLocation { sequence: *sequence, height: block.height })),
        );
        for (payer, day, total) in &block.daily {
            self.daily.insert(payer.0, (*day, *total));
        }
        self.entries += block.entries() as u64;
        self.blocks += 1;
    }
}

/// A frozen layer being written into the tables, a slice per block commit.
#[derive(Debug)]
struct Merging {
    layer: Layer,
    /// The last block in the layer.
    height: u64,
    /// Rows the layer writes (an earmarked output counts twice here).
    rows: u64,
    cursor: Cursor,
}

/// How far a merge has written: the table (in the order of
/// [`Unmerged::merge_slice`]) and the last key written in it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Cursor {
    table: usize,
    after: Option<Vec<u8>>,
    /// Rows written so far.
    written: u64,
}

const MERGED_TABLES: usize = 5;

impl Cursor {
    pub fn done(&self) -> bool {
        self.table == MERGED_TABLES
    }
}

/// The effects of the blocks after the last merge: the blocks being merged
/// (frozen) and those since (active). Readers look in the active layer,
/// then the frozen one, then the tables.
#[derive(Debug, Default)]
pub(super) struct Unmerged {
    /// The last block whose effects are here or in the tables.
    pub height: u64,
    /// The last block whose effects are all in the tables.
    pub merged_height: u64,
    active: Layer,
    merging: Option<Merging>,
}

impl Unmerged {
    pub fn merged_at(height: u64) -> Self {
        Self { height, merged_height: height, ..Self::default() }
    }

    /// Adds the next block's effects.
    pub fn add(&mut self, block: &BlockIndex) {
        assert_eq!(block.height, self.height + 1, "blocks are added in order");
        self.active.add(block);
        self.height = block.height;
    }

    /// Entries and blocks not yet merged.
    pub fn held(&self) -> (u64, u64) {
        let frozen = self.merging.as_ref().map_or((0, 0), |m| (m.layer.entries, m.layer.blocks));
        (self.active.entries + frozen.0, self.active.blocks + frozen.1)
    }

    /// Entries in the active layer.
    #[cfg(test)]
    pub fn active_entries(&self) -> u64 {
        self.active.entries
    }

    /// The last block of the layer being merged, if one is.
    pub fn merging_height(&self) -> Option<u64> {
        self.merging.as_ref().map(|m| m.height)
    }

    pub fn spender(&self, outpoint: &OutPoint) -> Option<TxId> {
        let key = outpoint_key(outpoint);
        self.layers().find_map(|layer| layer.spent.get(&key).copied())
    }

    pub fn location(&self, txid: &TxId) -> Option<TxLocation> {
        self.layers().find_map(|layer| layer.located.get(&txid.0).copied())
    }

    /// Newest first.
    fn layers(&self) -> impl Iterator<Item = &Layer> {
        std::iter::once(&self.active).chain(self.merging.as_ref().map(|m| &m.layer))
    }

    /// The unmerged changes to `unspent` from `start` to `end`, in key order.
    pub fn unspent_range(&self, start: &[u8; 68], end: &[u8; 68]) -> Vec<([u8; 68], Option<UnspentValue>)> {
        let mut changes: BTreeMap<[u8; 68], Option<(u64, ProgrammeId)>> = BTreeMap::new();
        for layer in self.layers().collect::<Vec<_>>().into_iter().rev() {
            changes.extend(layer.unspent.range(*start..=*end).map(|(k, v)| (*k, *v)));
        }
        changes.into_iter().collect()
    }

    /// The unmerged changes to `earmarked` from `start` to `end`, in key order.
    pub fn earmarked_range(&self, start: &[u8; 40], end: &[u8; 40]) -> Vec<([u8; 40], Option<EarmarkedValue>)> {
        let mut changes: BTreeMap<[u8; 40], Option<(Address, u64)>> = BTreeMap::new();
        for layer in self.layers().collect::<Vec<_>>().into_iter().rev() {
            changes.extend(layer.earmarked.range(*start..=*end).map(|(k, v)| (*k, *v)));
        }
        changes.into_iter().collect()
    }

    /// The unmerged daily totals, newest last.
    pub fn daily(&self) -> Vec<(Address, (u64, u64))> {
        let layers: Vec<&Layer> = self.layers().collect();
        layers.into_iter().rev().flat_map(|layer| layer.daily.iter().map(|(payer, v)| (Address(*payer), *v))).collect()
    }

    /// Freezes the active layer for merging, when nothing is being merged
    /// and it holds `entries_max` entries or `blocks_max` blocks.
    pub fn freeze_if_full(&mut self, entries_max: u64, blocks_max: u64) {
        if self.merging.is_none() && (self.active.entries >= entries_max || self.active.blocks >= blocks_max) {
            let layer = std::mem::take(&mut self.active);
            let rows =
                [layer.unspent.len(), layer.earmarked.len(), layer.spent.len(), layer.located.len(), layer.daily.len()]
                    .iter()
                    .sum::<usize>() as u64;
            self.merging = Some(Merging { layer, height: self.height, rows, cursor: Cursor::default() });
        }
    }

    /// Rows the commit of a block adding `entries` writes of the frozen
    /// layer: at least `slice_min` and twice `entries`, and enough that the
    /// merge ends before the active layer reaches `entries_max` at this
    /// block size (a layer replayed at a restart may be larger than one
    /// that filled in service); all that is left once the active layer has
    /// filled.
    pub fn merge_budget(&self, entries: usize, entries_max: u64, slice_min: usize) -> usize {
        let Some(merging) = &self.merging else { return 0 };
        let left = merging.rows.saturating_sub(merging.cursor.written);
        let room = entries_max.saturating_sub(self.active.entries);
        if room == 0 {
            return usize::MAX;
        }
        let commits_left = (room / (entries.max(1) as u64)).max(1);
        let even = usize::try_from(left.div_ceil(commits_left)).unwrap_or(usize::MAX);
        even.max(2 * entries).max(slice_min)
    }

    /// Writes up to `budget` more entries of the frozen layer into the
    /// tables of `write`, each table in key order, and returns how far the
    /// merge got (`None`: nothing is being merged).
    pub fn merge_slice(&self, write: &redb::WriteTransaction, budget: usize) -> Result<Option<Cursor>, StoreError> {
        let Some(merging) = &self.merging else { return Ok(None) };
        let layer = &merging.layer;
        let mut cursor = merging.cursor.clone();
        let budget_at_start = budget;
        let mut budget = budget;
        while !cursor.done() && budget > 0 {
            let after = cursor.after.as_deref();
            let stopped = match cursor.table {
                0 => {
                    let mut table = write.open_table(super::UNSPENT)?;
                    write_from(&layer.unspent, after, &mut budget, |key, value| match value {
                        Some(value) => table.insert(key, *value).map(drop),
                        None => table.remove(key).map(drop),
                    })?
                }
                1 => {
                    let mut table = write.open_table(super::EARMARKED)?;
                    write_from(&layer.earmarked, after, &mut budget, |key, value| match value {
                        Some((owner, amount_minor)) => table.insert(key, (&owner.0, *amount_minor)).map(drop),
                        None => table.remove(key).map(drop),
                    })?
                }
                2 => {
                    let mut table = write.open_table(super::SPENT)?;
                    write_from(&layer.spent, after, &mut budget, |key, spender| {
                        table.insert(key, &spender.0).map(drop)
                    })?
                }
                3 => {
                    let mut table = write.open_table(super::TX_INDEX)?;
                    write_from(&layer.located, after, &mut budget, |key, location| {
                        table.insert(key, (location.sequence, location.height)).map(drop)
                    })?
                }
                _ => {
                    let mut table = write.open_table(super::DAILY)?;
                    write_from(&layer.daily, after, &mut budget, |key, value| table.insert(key, *value).map(drop))?
                }
            };
            match stopped {
                Some(key) => cursor.after = Some(key),
                None => cursor = Cursor { table: cursor.table + 1, after: None, written: cursor.written },
            }
        }
        cursor.written += (budget_at_start - budget) as u64;
        Ok(Some(cursor))
    }

    /// After the commit that wrote a slice: records how far the merge got,
    /// and drops the frozen layer once it is all in the tables.
    pub fn merged_to(&mut self, cursor: Cursor) {
        let merging = self.merging.as_mut().expect("a merge in progress");
        if cursor.done() {
            self.merged_height = merging.height;
            self.merging = None;
        } else {
            merging.cursor = cursor;
        }
    }
}

/// Writes the entries of `map` after `after` until `budget` runs out, and
/// returns the last key written if entries are left (`None`: all written).
/// `budget` must be above zero.
fn write_from<const N: usize, V>(
    map: &BTreeMap<[u8; N], V>,
    after: Option<&[u8]>,
    budget: &mut usize,
    mut put: impl FnMut(&[u8; N], &V) -> Result<(), redb::StorageError>,
) -> Result<Option<Vec<u8>>, StoreError> {
    debug_assert!(*budget > 0);
    let start =
        after.map_or(Bound::Unbounded, |key| Bound::Excluded(<[u8; N]>::try_from(key).expect("a key of this table")));
    let mut last: Option<&[u8; N]> = None;
    for (key, value) in map.range((start, Bound::Unbounded)) {
        if *budget == 0 {
            return Ok(last.map(|key| key.to_vec()));
        }
        put(key, value)?;
        *budget -= 1;
        last = Some(key);
    }
    Ok(None)
}

/// A table's entries in key order with unmerged changes laid over them: an
/// unmerged entry replaces the table's entry of the same key, and `None`
/// hides it.
pub(super) struct Overlaid<K, V, T: Iterator<Item = Result<(K, V), StoreError>>> {
    table: std::iter::Peekable<T>,
    unmerged: std::iter::Peekable<std::vec::IntoIter<(K, Option<V>)>>,
}

impl<K: Ord, V, T: Iterator<Item = Result<(K, V), StoreError>>> Overlaid<K, V, T> {
    /// `unmerged` must be in key order.
    pub fn new(table: T, unmerged: Vec<(K, Option<V>)>) -> Self {
        Self { table: table.peekable(), unmerged: unmerged.into_iter().peekable() }
    }
}

impl<K: Ord, V, T: Iterator<Item = Result<(K, V), StoreError>>> Iterator for Overlaid<K, V, T> {
    type Item = Result<(K, V), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let from_table = match (self.table.peek(), self.unmerged.peek()) {
                (None, None) => return None,
                (Some(_), None) | (Some(Err(_)), Some(_)) => true,
                (None, Some(_)) => false,
                (Some(Ok((table_key, _))), Some((unmerged_key, _))) => match table_key.cmp(unmerged_key) {
                    std::cmp::Ordering::Less => true,
                    std::cmp::Ordering::Equal => {
                        self.table.next();
                        false
                    }
                    std::cmp::Ordering::Greater => false,
                },
            };
            if from_table {
                return self.table.next();
            }
            let (key, value) = self.unmerged.next().expect("peeked");
            if let Some(value) = value {
                return Some(Ok((key, value)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlaid(table: &[(u8, u8)], unmerged: &[(u8, Option<u8>)]) -> Vec<(u8, u8)> {
        let table = table.iter().map(|e| Ok::<_, StoreError>(*e));
        Overlaid::new(table, unmerged.to_vec()).map(|e| e.expect("no error")).collect()
    }

    #[test]
    fn unmerged_entries_replace_hide_and_add_in_key_order() {
        assert_eq!(
            overlaid(
                &[(1, 10), (3, 30), (5, 50), (7, 70)],
                &[(0, Some(0)), (3, None), (4, Some(40)), (7, Some(77)), (9, None)]
            ),
            vec![(0, 0), (1, 10), (4, 40), (5, 50), (7, 77)]
        );
        assert_eq!(overlaid(&[], &[(2, None), (3, Some(3))]), vec![(3, 3)]);
        assert_eq!(overlaid(&[(2, 2)], &[]), vec![(2, 2)]);
    }

    #[test]
    fn a_block_index_decodes_to_what_was_encoded_and_refuses_a_wrong_length() {
        let address = |b: u8| Address([b; 32]);
        let outpoint = |b: u8, index: u32| OutPoint { txid: TxId([b; 32]), index };
        let index = BlockIndex {
            height: 7,
            spent: vec![(outpoint(1, 0), TxId([9; 32])), (outpoint(2, 3), TxId([9; 32]))],
            removed: vec![(address(4), outpoint(1, 0), 0), (address(5), outpoint(2, 3), 12)],
            created: vec![(outpoint(9, 1), Output { owner: address(6), amount_minor: 250, programme: 12 })],
            located: vec![(TxId([9; 32]), 41)],
            daily: vec![(address(4), 20_000, 1_250)],
        };
        let bytes = index.encode();
        assert_eq!(BlockIndex::decode(7, &bytes).expect("decodes"), index);
        assert!(BlockIndex::decode(7, &bytes[..bytes.len() - 1]).is_err());
        assert!(BlockIndex::decode(7, &[bytes.as_slice(), &[0]].concat()).is_err());
    }

    #[test]
    fn the_active_layer_hides_what_the_frozen_one_created() {
        let owner = Address([3; 32]);
        let created = OutPoint { txid: TxId([1; 32]), index: 0 };
        let mut unmerged = Unmerged::merged_at(4);
        unmerged.add(&BlockIndex {
            height: 5,
            created: vec![(created, Output { owner, amount_minor: 5, programme: 3 })],
            located: vec![(TxId([1; 32]), 10)],
            ..BlockIndex::default()
        });
        unmerged.freeze_if_full(1, 1024);
        assert_eq!(unmerged.merging_height(), Some(5));
        unmerged.add(&BlockIndex {
            height: 6,
            spent: vec![(created, TxId([8; 32]))],
            removed: vec![(owner, created, 3)],
            located: vec![(TxId([8; 32]), 11)],
            ..BlockIndex::default()
        });
        let key = unspent_key(&owner, &created);
        assert_eq!(unmerged.unspent_range(&key, &key), vec![(key, None)], "the newer layer wins");
        assert_eq!(unmerged.spender(&created), Some(TxId([8; 32])));
        assert_eq!(unmerged.location(&TxId([1; 32])), Some(TxLocation { sequence: 10, height: 5 }));
        assert_eq!(unmerged.held(), (5, 2));
        assert_eq!(unmerged.active_entries(), 3);
    }

    /// A layer touching every table, including removals of rows the table
    /// holds and an earmarked output.
    fn layer_of(blocks: u64) -> Unmerged {
        let mut unmerged = Unmerged::merged_at(0);
        for height in 1..=blocks {
            let b = u8::try_from(height).expect("small");
            let owner = Address([b; 32]);
            let old = OutPoint { txid: TxId([0xee; 32]), index: u32::from(b) };
            let new = OutPoint { txid: TxId([b; 32]), index: 0 };
            unmerged.add(&BlockIndex {
                height,
                spent: vec![(old, TxId([b; 32]))],
                removed: vec![(owner, old, 0)],
                created: vec![(new, Output { owner, amount_minor: height, programme: u32::from(b % 2) })],
                located: vec![(TxId([b; 32]), height)],
                daily: vec![(owner, 20_000, height)],
            });
        }
        unmerged
    }

    fn table_rows(db: &redb::Database) -> Vec<String> {
        use redb::{ReadableDatabase, ReadableTable};
        let read = db.begin_read().expect("read");
        let mut rows = Vec::new();
        for entry in read.open_table(crate::store::UNSPENT).expect("table").iter().expect("iter") {
            let (k, v) = entry.expect("row");
            rows.push(format!("unspent {:?} {:?}", &k.value()[..2], v.value()));
        }
        for entry in read.open_table(crate::store::EARMARKED).expect("table").iter().expect("iter") {
            let (k, v) = entry.expect("row");
            rows.push(format!("earmarked {:?} {}", &k.value()[..6], v.value().1));
        }
        for entry in read.open_table(crate::store::SPENT).expect("table").iter().expect("iter") {
            let (k, v) = entry.expect("row");
            rows.push(format!("spent {:?} {:?}", &k.value()[..2], &v.value()[..2]));
        }
        for entry in read.open_table(crate::store::TX_INDEX).expect("table").iter().expect("iter") {
            let (k, v) = entry.expect("row");
            rows.push(format!("tx {:?} {:?}", &k.value()[..2], v.value()));
        }
        for entry in read.open_table(crate::store::DAILY).expect("table").iter().expect("iter") {
            let (k, v) = entry.expect("row");
            rows.push(format!("daily {:?} {:?}", &k.value()[..2], v.value()));
        }
        rows
    }

    /// Merges `blocks` blocks' layer with slices of `budget` rows into
    /// tables that hold the outputs the layer spends.
    fn merged_by_slices(blocks: u64, budget: usize) -> (Vec<String>, usize) {
        let db = redb::Builder::new().create_with_backend(redb::backends::InMemoryBackend::new()).expect("db");
        let write = db.begin_write().expect("write");
        {
            let mut unspent = write.open_table(crate::store::UNSPENT).expect("table");
            for b in 1..=u8::try_from(blocks).expect("small") {
                let old = OutPoint { txid: TxId([0xee; 32]), index: u32::from(b) };
                unspent.insert(&unspent_key(&Address([b; 32]), &old), (7, 0)).expect("insert");
            }
            write.open_table(crate::store::EARMARKED).expect("table");
            write.open_table(crate::store::SPENT).expect("table");
            write.open_table(crate::store::TX_INDEX).expect("table");
            write.open_table(crate::store::DAILY).expect("table");
        }
        write.commit().expect("commit");
        let mut unmerged = layer_of(blocks);
        unmerged.freeze_if_full(1, 1);
        let mut commits = 0;
        while unmerged.merging_height().is_some() {
            let write = db.begin_write().expect("write");
            let cursor = unmerged.merge_slice(&write, budget).expect("slice").expect("merging");
            write.commit().expect("commit");
            unmerged.merged_to(cursor);
            commits += 1;
            assert!(commits < 1_000, "the merge ends");
        }
        assert_eq!(unmerged.merged_height, blocks);
        (table_rows(&db), commits)
    }

    #[test]
    fn a_merge_in_slices_of_any_size_writes_what_one_slice_writes() {
        let (whole, commits) = merged_by_slices(5, usize::MAX);
        assert_eq!(commits, 1);
        // 5 created outputs (the spent ones removed), 3 earmarked, 5 spenders,
        // 5 transactions, 5 daily totals.
        assert_eq!(whole.len(), 5 + 3 + 5 + 5 + 5, "{whole:#?}");
        assert!(whole.iter().all(|row| !row.contains("(7, 0)")), "the spent outputs are gone: {whole:#?}");
        let rows = 5 + 5 + 3 + 5 + 5 + 5;
        for budget in [1, 2, 3, 5, 7, rows - 1, rows, rows + 1] {
            let (sliced, commits) = merged_by_slices(5, budget);
            assert_eq!(sliced, whole, "slices of {budget}");
            assert_eq!(commits, rows.div_ceil(budget).max(1), "slices of {budget}");
        }
    }

    #[test]
    fn the_merge_budget_ends_a_large_frozen_layer_before_the_active_one_fills() {
        let mut unmerged = layer_of(20);
        unmerged.freeze_if_full(1, 1);
        // 20 blocks: 20 unspent rows created + 20 removed, 10 earmarked, and
        // 20 each of spenders, transactions, daily totals.
        let rows = 20 + 20 + 10 + 20 + 20 + 20;
        assert_eq!(unmerged.merge_budget(1, 1_000, 1), 2, "plenty of room: twice the block");
        assert_eq!(unmerged.merge_budget(1, 10, 1), usize::try_from(rows).expect("small") / 10, "room for 10 blocks");
        assert_eq!(unmerged.merge_budget(1, 10, 64), 64, "at least the least slice");
        assert_eq!(Unmerged::merged_at(3).merge_budget(5, 10, 1), 0, "nothing frozen");
        let mut full = layer_of(3);
        full.freeze_if_full(1, 1);
        full.add(&BlockIndex { height: 4, located: vec![(TxId([9; 32]), 4)], ..BlockIndex::default() });
        assert_eq!(full.merge_budget(1, 1, 1), usize::MAX, "the active layer is full: all that is left");
    }
}
