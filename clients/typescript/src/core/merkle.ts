/**
 * The Merkle tree of a block's txids and its paths (docs/PROTOCOL.md §7):
 * leaves and nodes hashed with distinct prefixes, an odd last node promoted
 * unchanged, the empty tree's root 32 zero bytes.
 *
 * @module
 */
import { sha256 } from './bytes.js';

/** One step of a path from a leaf up to the root. */
export interface MerkleStep {
  readonly sibling: Uint8Array;
  /** True when the sibling is on the left of the running hash. */
  readonly siblingOnLeft: boolean;
}

/** `SHA-256(0x00 ‖ txid)`. */
export function leafHash(txid: Uint8Array): Uint8Array {
  return sha256(Uint8Array.of(0), txid);
}

/** `SHA-256(0x01 ‖ left ‖ right)`. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(Uint8Array.of(1), left, right);
}

/** Every level of the tree of `txids`, leaves first; none for no txids. */
export function merkleLevels(txids: readonly Uint8Array[]): Uint8Array[][] {
  if (txids.length === 0) {
    return [];
  }
  const levels = [txids.map(leafHash)];
  for (let below = levels[0] ?? []; below.length > 1; below = levels[levels.length - 1] ?? []) {
    const above: Uint8Array[] = [];
    for (let index = 0; index + 1 < below.length; index += 2) {
      above.push(nodeHash(at(below, index), at(below, index + 1)));
    }
    if (below.length % 2 === 1) {
      above.push(at(below, below.length - 1));
    }
    levels.push(above);
  }
  return levels;
}

/** The root of the tree of `txids`: 32 zero bytes for none, `leaf(txid)` for one. */
export function merkleRoot(txids: readonly Uint8Array[]): Uint8Array {
  const top = merkleLevels(txids).at(-1);
  return top === undefined ? new Uint8Array(32) : at(top, 0);
}

/** The path of the leaf at `index` in the tree of `txids`, leaf first. */
export function merklePath(txids: readonly Uint8Array[], index: number): MerkleStep[] {
  if (!Number.isInteger(index) || index < 0 || index >= txids.length) {
    throw new RangeError(`no leaf ${index} in a tree of ${txids.length}`);
  }
  const steps: MerkleStep[] = [];
  let position = index;
  for (const level of merkleLevels(txids).slice(0, -1)) {
    const sibling = position ^ 1;
    if (sibling < level.length) {
      steps.push({ sibling: at(level, sibling), siblingOnLeft: sibling < position });
    }
    position >>= 1;
  }
  return steps;
}

/** The root a txid and its path lead to. */
export function rootFromPath(txid: Uint8Array, path: readonly MerkleStep[]): Uint8Array {
  return path.reduce(
    (running, step) => (step.siblingOnLeft ? nodeHash(step.sibling, running) : nodeHash(running, step.sibling)),
    leafHash(txid),
  );
}

/**
 * The `siblingOnLeft` values the path of leaf `index` in a tree of
 * `leafCount` leaves must have, leaf first (PROTOCOL.md §8.1, step 4): what
 * binds a path to one position.
 */
export function expectedSides(index: number, leafCount: number): boolean[] {
  const sides: boolean[] = [];
  let position = index;
  for (let width = leafCount; width > 1; width = Math.ceil(width / 2)) {
    if (position % 2 === 1) {
      sides.push(true);
    } else if (position + 1 < width) {
      sides.push(false);
    }
    position = Math.floor(position / 2);
  }
  return sides;
}

function at<T>(items: readonly T[], index: number): T {
  const item = items[index];
  if (item === undefined) {
    throw new RangeError(`no item ${index}`);
  }
  return item;
}
