//! Merkle tree over a block's txids. Leaves and inner nodes are hashed with
//! different prefixes (0x00, 0x01) so a node can never pass for a leaf, and an
//! odd node is promoted unchanged rather than paired with itself, so no two
//! different lists of txids share a root.

use crate::core::crypto::sha256;
use crate::core::types::{Hash32, TxId};

/// One step from a leaf towards the root.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MerkleStep {
    pub sibling: Hash32,
    pub sibling_on_left: bool,
}

#[must_use]
pub fn leaf_hash(txid: &TxId) -> Hash32 {
    let mut bytes = [0u8; 33];
    bytes[1..].copy_from_slice(&txid.0);
    sha256(&bytes)
}

#[must_use]
pub fn node_hash(left: &Hash32, right: &Hash32) -> Hash32 {
    let mut bytes = [0u8; 65];
    bytes[0] = 1;
    bytes[1..33].copy_from_slice(left);
    bytes[33..].copy_from_slice(right);
    sha256(&bytes)
}

fn next_level(level: &[Hash32]) -> Vec<Hash32> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [left, right] => node_hash(left, right),
            [single] => *single,
            _ => unreachable!("chunks(2) yields one or two"),
        })
        .collect()
}

/// Every level of the tree, leaves first; the last level holds the root.
/// An empty list has no levels.
#[must_use]
pub fn levels(txids: &[TxId]) -> Vec<Vec<Hash32>> {
    if txids.is_empty() {
        return Vec::new();
    }
    let mut levels = vec![txids.iter().map(leaf_hash).collect::<Vec<_>>()];
    while levels.last().expect("non-empty").len() > 1 {
        let next = next_level(levels.last().expect("non-empty"));
        levels.push(next);
    }
    levels
}

/// The root of the tree; all zeros for an empty block.
#[must_use]
pub fn root_of_levels(levels: &[Vec<Hash32>]) -> Hash32 {
    levels.last().map_or([0; 32], |top| top[0])
}

#[must_use]
pub fn root(txids: &[TxId]) -> Hash32 {
    root_of_levels(&levels(txids))
}

/// The path from leaf `index` to the root.
///
/// # Panics
/// When `index` is not a leaf of the tree.
#[must_use]
pub fn path(levels: &[Vec<Hash32>], mut index: usize) -> Vec<MerkleStep> {
    assert!(index < levels.first().map_or(0, Vec::len), "leaf index out of range");
    let mut steps = Vec::new();
    for level in &levels[..levels.len() - 1] {
        let sibling = index ^ 1;
        if sibling < level.len() {
            steps.push(MerkleStep { sibling: level[sibling], sibling_on_left: sibling < index });
        }
        index /= 2;
    }
    steps
}

/// Recomputes the root from a leaf and its path.
#[must_use]
pub fn root_from_path(txid: &TxId, steps: &[MerkleStep]) -> Hash32 {
    steps.iter().fold(leaf_hash(txid), |running, step| {
        if step.sibling_on_left { node_hash(&step.sibling, &running) } else { node_hash(&running, &step.sibling) }
    })
}

/// The leaf position a path proves, given the number of leaves. A path
/// records only sides, so the position is rebuilt by replaying the tree's
/// shape; `None` when the path does not fit a tree of that size.
#[must_use]
pub fn index_from_path(steps: &[MerkleStep], leaf_count: usize) -> Option<usize> {
    // Walk down from the root: at each level, the width of the level tells
    // whether the node had a sibling (and so a step) or was promoted.
    let mut widths = vec![leaf_count];
    while *widths.last()? > 1 {
        let width = *widths.last()?;
        widths.push(width.div_ceil(2));
    }
    // Walk from the root down: a node with a right child consumed a step
    // (the last step is the one nearest the root); a promoted node did not.
    let mut index = 0usize;
    let mut step_iter = steps.iter().rev();
    for depth in (0..widths.len() - 1).rev() {
        let width = widths[depth];
        // Position at this level is index*2 or index*2+1.
        let left_child = index * 2;
        let has_right = left_child + 1 < width;
        if has_right {
            let step = step_iter.next()?;
            index = if step.sibling_on_left { left_child + 1 } else { left_child };
        } else {
            index = left_child;
        }
    }
    if step_iter.next().is_some() || index >= leaf_count {
        return None;
    }
    Some(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<TxId> {
        (0..n).map(|i| TxId([u8::try_from(i % 251).unwrap(); 32])).collect()
    }

    #[test]
    fn every_path_leads_to_the_root_and_back_to_its_index() {
        for n in 1..40 {
            let txids = ids(n);
            let levels = levels(&txids);
            let root = root_of_levels(&levels);
            for (i, txid) in txids.iter().enumerate() {
                let steps = path(&levels, i);
                assert_eq!(root_from_path(txid, &steps), root, "n={n} i={i}");
                assert_eq!(index_from_path(&steps, n), Some(i), "n={n} i={i}");
            }
        }
    }

    #[test]
    fn a_different_leaf_does_not_prove_membership() {
        let txids = ids(7);
        let levels = levels(&txids);
        let steps = path(&levels, 3);
        assert_ne!(root_from_path(&TxId([200; 32]), &steps), root_of_levels(&levels));
    }

    #[test]
    fn odd_leaf_is_not_duplicated() {
        let three = ids(3);
        let mut four = three.clone();
        four.push(three[2]);
        assert_ne!(root(&three), root(&four));
    }
}
