/**
 * Every vector of docs/test-vectors.json this package covers: keys and
 * BIP340, amounts, the genesis and chain id, transactions (canonical bytes,
 * txid, record, witness message, signatures), the block and its Merkle
 * tree, the stand-alone Merkle trees, receipts (and their tampering), and
 * the second ledger on which the first one's signatures do not verify.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  AmountError,
  type BlockHeader,
  encodeGenesis,
  encodeHeader,
  encodeRecord,
  encodeTransaction,
  expectedSides,
  formatAmount,
  fromHex,
  genesisHash,
  headerHash,
  headerMessageBytes,
  merkleLevels,
  merklePath,
  merkleRoot,
  parseAmount,
  type Receipt,
  receiptFromJson,
  receiptToJson,
  rootFromPath,
  sha256,
  signedMessageBytes,
  signTransaction,
  SigningKey,
  toHex,
  type Transaction,
  type TransactionKind,
  txid,
  VerificationError,
  verifyGenesisBlock,
  verifyHeader,
  verifyReceipt,
  verifySignature,
  witnessMessage,
} from '@settled/client/verify';

import { hex, integer, type JsonObject, object, objects, small, text, vectors } from './helpers/vectors.js';

const chainId = hex(vectors, 'chain_id');
const genesis = object(vectors['genesis']);
const engineKey = hex(genesis, 'engine_public_key');
const otherChain = object(vectors['other_chain']);
const secrets = new Map(objects(vectors, 'keys').map((key) => [text(key, 'name'), text(key, 'secret_hex')]));

function genesisFields(currency: string) {
  return {
    currency,
    exponent: small(genesis, 'exponent'),
    issuerPublicKeys: (genesis['issuer_public_keys'] as string[]).map(fromHex),
    issuerThreshold: small(genesis, 'issuer_threshold'),
    enginePublicKey: engineKey,
  };
}

function header(fields: JsonObject): BlockHeader {
  return {
    height: integer(fields, 'height'),
    previousHash: hex(fields, 'previous_hash'),
    merkleRoot: hex(fields, 'merkle_root'),
    firstSequence: integer(fields, 'first_sequence'),
    txCount: small(fields, 'tx_count'),
    timeUnixMs: integer(fields, 'time_unix_ms'),
    mintedTotalMinor: integer(fields, 'minted_total_minor'),
    burnedTotalMinor: integer(fields, 'burned_total_minor'),
  };
}

function transaction(fields: JsonObject): Transaction {
  return {
    version: small(fields, 'version'),
    kind: small(fields, 'kind_code') as TransactionKind,
    inputs: objects(fields, 'inputs').map((input) => ({ txid: hex(input, 'txid'), index: small(input, 'index') })),
    outputs: objects(fields, 'outputs').map((output) => ({
      address: hex(output, 'address'),
      amountMinor: integer(output, 'amount_minor'),
      programmeId: small(output, 'programme_id'),
    })),
    reference: hex(fields, 'reference_hex'),
    witnesses: objects(fields, 'witnesses').map((witness) => ({
      publicKey: hex(witness, 'public_key'),
      signature: hex(witness, 'signature'),
    })),
  };
}

/** The byte-level checks every transaction vector gets. */
function checkEncoding(fields: JsonObject): Transaction {
  const tx = transaction(fields);
  assert.equal(toHex(encodeTransaction(tx)), text(fields, 'canonical_hex'));
  assert.equal(toHex(txid(tx)), text(fields, 'txid'));
  assert.equal(toHex(encodeRecord(tx)), text(fields, 'record_hex'));
  assert.equal(toHex(sha256(hex(fields, 'signed_message_hex'))), text(fields, 'signed_message_hash'));
  return tx;
}

/** Each witness verifies over the vector's signed message, and signing it again with the published aux gives it back. */
function checkWitnesses(fields: JsonObject): void {
  const message = hex(fields, 'signed_message_hash');
  for (const witness of objects(fields, 'witnesses')) {
    const signature = hex(witness, 'signature');
    assert.ok(verifySignature(signature, message, hex(witness, 'public_key')), `${text(witness, 'signer')} verifies`);
    const key = SigningKey.fromHex(secrets.get(text(witness, 'signer')) ?? '');
    assert.equal(key.address, text(witness, 'public_key'));
    assert.equal(toHex(key.sign(message, hex(witness, 'aux_hex'))), text(witness, 'signature'));
  }
}

describe('keys and BIP340', () => {
  it('derives the x-only public key of every secret key', () => {
    const keys = objects(vectors, 'keys');
    assert.equal(keys.length, 25);
    for (const key of keys) {
      const signing = SigningKey.fromHex(`${text(key, 'secret_hex')}\n`);
      assert.equal(signing.address, text(key, 'public_key'));
      assert.equal(signing.toHex(), text(key, 'secret_hex'));
    }
  });

  it('passes BIP340 test vectors 0 and 1', () => {
    const cases = [
      [
        '03'.padStart(64, '0'),
        'f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9',
        '00'.repeat(32),
        '00'.repeat(32),
        'e907831f80848d1069a5371b402410364bdf1c5f8307b0084c55f1ce2dca821525f66a4a85ea8b71e482a74f382d2ce5ebeee8fdb2172f477df4900d310536c0',
      ],
      [
        'b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfef',
        'dff1d77f2a671c5f36183726db2341be58feae1da2deced843240f7b502ba659',
        '01'.padStart(64, '0'),
        '243f6a8885a308d313198a2e03707344a4093822299f31d0082efa98ec4e6c89',
        '6896bd60eeae296db48a229ff71dfe071bde413e6d43f917dc8dcf8c78de33418906d11ac976abccb20b091292bff4ea897efcb639ea871cfa95f6de339e4b0a',
      ],
    ] as const;
    for (const [secret, publicKey, aux, message, signature] of cases) {
      const key = SigningKey.fromHex(secret);
      assert.equal(key.address, publicKey);
      assert.equal(toHex(key.sign(fromHex(message), fromHex(aux))), signature);
      assert.ok(verifySignature(fromHex(signature), fromHex(message), publicKey));
      assert.ok(!verifySignature(fromHex(signature), fromHex('00'.repeat(31) + '01'), publicKey));
    }
  });

  it('refuses secret keys out of range and malformed signatures', () => {
    assert.throws(() => SigningKey.fromHex('00'.repeat(32)), TypeError);
    assert.throws(() => SigningKey.fromHex('ff'.repeat(32)), TypeError);
    assert.throws(() => SigningKey.fromHex('abcd'), TypeError);
    const key = SigningKey.generate();
    const message = sha256(new Uint8Array([1]));
    assert.ok(verifySignature(key.sign(message), message, key.publicKey));
    assert.ok(!verifySignature(new Uint8Array(63), message, key.publicKey));
    assert.ok(!verifySignature(key.sign(message), message, new Uint8Array(32).fill(0xff)));
  });
});

describe('amounts', () => {
  it('parses and formats every amount vector', () => {
    const amounts = objects(vectors, 'amounts');
    assert.equal(amounts.length, 30);
    for (const amount of amounts) {
      const input = text(amount, 'text');
      const exponent = small(amount, 'exponent');
      if ('error' in amount) {
        assert.throws(
          () => parseAmount(input, exponent),
          (error: unknown) => error instanceof AmountError && error.code === text(amount, 'error'),
          `${JSON.stringify(input)} at exponent ${exponent}`,
        );
      } else {
        const minor = integer(amount, 'amount_minor');
        assert.equal(parseAmount(input, exponent), minor, input);
        assert.equal(parseAmount(formatAmount(minor, exponent), exponent), minor);
      }
    }
  });

  it('formats with exactly the exponent of decimals', () => {
    assert.equal(formatAmount(1234n, 2), '12.34');
    assert.equal(formatAmount(1200n, 2), '12.00');
    assert.equal(formatAmount(5n, 2), '0.05');
    assert.equal(formatAmount(7n, 0), '7');
    assert.equal(formatAmount(18446744073709551615n, 8), '184467440737.09551615');
    assert.throws(() => formatAmount(18446744073709551616n, 2), RangeError);
  });
});

describe('genesis and chain id', () => {
  const block0 = object(vectors['genesis_block']);

  it('encodes the genesis and hashes it', () => {
    const fields = genesisFields(text(genesis, 'currency'));
    assert.equal(toHex(encodeGenesis(fields)), text(genesis, 'canonical_hex'));
    assert.equal(toHex(genesisHash(fields)), text(genesis, 'hash'));
  });

  it('encodes block 0, whose hash is the chain id', () => {
    assert.equal(toHex(encodeHeader(header(block0))), text(block0, 'canonical_hex'));
    assert.equal(toHex(headerHash(header(block0))), text(block0, 'hash'));
    assert.equal(text(block0, 'hash'), toHex(chainId));
    assert.equal(toHex(headerMessageBytes(header(block0), chainId)), text(block0, 'signed_message_hex'));
    assert.equal(toHex(sha256(hex(block0, 'signed_message_hex'))), text(block0, 'signed_message_hash'));
  });

  it('verifies block 0 against the genesis hash and the engine key', () => {
    const signed = { ...header(block0), hash: hex(block0, 'hash'), engineSignature: hex(block0, 'engine_signature') };
    assert.equal(toHex(verifyGenesisBlock(signed, hex(genesis, 'hash'), engineKey)), toHex(chainId));
    const engine = SigningKey.fromHex(secrets.get('engine') ?? '');
    assert.equal(
      toHex(engine.sign(hex(block0, 'signed_message_hash'), hex(block0, 'engine_aux_hex'))),
      text(block0, 'engine_signature'),
    );
    assert.throws(() => verifyGenesisBlock(signed, new Uint8Array(32), engineKey), VerificationError);
    assert.throws(
      () =>
        verifyGenesisBlock(
          signed,
          hex(genesis, 'hash'),
          engine.publicKey.map((b) => b ^ 1),
        ),
      VerificationError,
    );
  });
});

describe('transactions', () => {
  const transactions = objects(vectors, 'transactions');

  for (const fields of transactions) {
    it(`${text(fields, 'name')}: bytes, txid, record, witness message and witnesses`, () => {
      const tx = checkEncoding(fields);
      const id = txid(tx);
      assert.equal(toHex(signedMessageBytes('STLW', chainId, id)), text(fields, 'signed_message_hex'));
      assert.equal(toHex(witnessMessage(chainId, id)), text(fields, 'signed_message_hash'));
      checkWitnesses(fields);
    });
  }

  for (const section of ['claims', 'refund_transactions', 'redeem_transactions'] as const) {
    for (const fields of objects(vectors, section)) {
      it(`${text(fields, 'name')} (${section}): bytes, txid, record and witness message`, () => {
        const tx = checkEncoding(fields);
        assert.equal(toHex(witnessMessage(chainId, txid(tx))), text(fields, 'signed_message_hash'));
        checkWitnesses(fields);
      });
    }
  }

  for (const section of ['clawback_transactions', 'recovery_transactions'] as const) {
    for (const fields of objects(vectors, section)) {
      it(`${text(fields, 'name')} (${section}): bytes, txid, record; its witnesses sign an authorisation, not the witness message`, () => {
        const tx = checkEncoding(fields);
        checkWitnesses(fields);
        for (const witness of tx.witnesses) {
          assert.ok(!verifySignature(witness.signature, witnessMessage(chainId, txid(tx)), witness.publicKey));
        }
      });
    }
  }

  it('signs new transactions whose witnesses verify for this chain only', () => {
    const issuers = ['issuer-1', 'issuer-2'].map((name) => SigningKey.fromHex(secrets.get(name) ?? ''));
    const mint = transaction(transactions[0] ?? {});
    const signed = signTransaction(
      { kind: mint.kind, outputs: mint.outputs, reference: mint.reference },
      chainId,
      issuers,
    );
    assert.equal(toHex(txid(signed)), text(transactions[0] ?? {}, 'txid'));
    for (const witness of signed.witnesses) {
      assert.ok(verifySignature(witness.signature, witnessMessage(chainId, txid(signed)), witness.publicKey));
      assert.ok(
        !verifySignature(
          witness.signature,
          witnessMessage(hex(otherChain, 'chain_id'), txid(signed)),
          witness.publicKey,
        ),
      );
    }
  });

  it('changes the txid with any field', () => {
    const tx = transaction(transactions[1] ?? {});
    const base = toHex(txid(tx));
    const [first, second] = tx.outputs;
    assert.ok(first !== undefined && second !== undefined);
    const changed: Transaction[] = [
      { ...tx, outputs: [second, first] },
      { ...tx, outputs: [{ ...first, amountMinor: first.amountMinor + 1n }, second] },
      { ...tx, reference: new Uint8Array([...tx.reference, 0]) },
      { ...tx, version: 1 },
    ];
    for (const other of changed) {
      assert.notEqual(toHex(txid(other)), base);
    }
    assert.equal(toHex(txid({ ...tx, witnesses: [] })), base);
  });
});

describe('block 1 and its Merkle tree', () => {
  const block = object(vectors['block']);
  const fields = object(block['header']);
  const txids = (block['txids'] as string[]).map(fromHex);

  it('encodes, hashes and verifies the header, chained to block 0', () => {
    assert.equal(toHex(encodeHeader(header(fields))), text(fields, 'canonical_hex'));
    assert.equal(toHex(headerHash(header(fields))), text(fields, 'hash'));
    assert.equal(toHex(headerMessageBytes(header(fields), chainId)), text(fields, 'signed_message_hex'));
    assert.equal(text(fields, 'previous_hash'), text(object(vectors['genesis_block']), 'hash'));
    const signed = { ...header(fields), hash: hex(fields, 'hash'), engineSignature: hex(fields, 'engine_signature') };
    assert.equal(toHex(verifyHeader(signed, engineKey, chainId)), text(fields, 'hash'));
    assert.throws(() => verifyHeader(signed, engineKey, hex(otherChain, 'chain_id')), VerificationError);
    assert.throws(
      () => verifyHeader({ ...signed, timeUnixMs: signed.timeUnixMs + 1n }, engineKey, chainId),
      VerificationError,
    );
  });

  it('holds the transactions in sequence order under its Merkle root', () => {
    assert.deepEqual(
      block['txids'],
      objects(vectors, 'transactions').map((tx) => text(tx, 'txid')),
    );
    assert.deepEqual(
      merkleLevels(txids).map((level) => level.map(toHex)),
      block['merkle_levels'],
    );
    assert.equal(toHex(merkleRoot(txids)), text(fields, 'merkle_root'));
  });
});

describe('Merkle trees', () => {
  for (const tree of objects(vectors, 'merkle_trees')) {
    const txids = (tree['txids'] as string[]).map(fromHex);
    it(`tree of ${txids.length}: levels, root and every path`, () => {
      assert.deepEqual(
        merkleLevels(txids).map((level) => level.map(toHex)),
        tree['levels'],
      );
      assert.equal(toHex(merkleRoot(txids)), text(tree, 'root'));
      const paths = tree['paths'] as JsonObject[][];
      assert.equal(paths.length, txids.length);
      paths.forEach((path, index) => {
        const steps = merklePath(txids, index);
        assert.deepEqual(
          steps.map((step) => ({ sibling: toHex(step.sibling), sibling_on_left: step.siblingOnLeft })),
          path,
        );
        assert.equal(toHex(rootFromPath(txids[index] ?? new Uint8Array(), steps)), text(tree, 'root'));
        assert.deepEqual(
          steps.map((step) => step.siblingOnLeft),
          expectedSides(index, txids.length),
        );
      });
    });
  }

  it('gives every position of trees of 1 to 69 leaves its own sides', () => {
    for (let count = 1; count < 70; count++) {
      const txids = Array.from({ length: count }, (_, index) => sha256(new Uint8Array([index])));
      const seen = new Set<string>();
      for (let index = 0; index < count; index++) {
        const sides = merklePath(txids, index).map((step) => step.siblingOnLeft);
        assert.deepEqual(sides, expectedSides(index, count));
        seen.add(JSON.stringify(sides));
      }
      assert.equal(seen.size, count);
    }
  });
});

describe('receipts', () => {
  const receipts = objects(vectors, 'receipts');
  const transactions = objects(vectors, 'transactions');
  const txids = transactions.map((tx) => hex(tx, 'txid'));
  const other = hex(otherChain, 'chain_id');

  /** Receipts changed in one way each; none may verify. */
  const tamperings: [string, (receipt: Receipt) => Receipt][] = [
    ['the sequence is changed', (r) => ({ ...r, sequence: r.sequence + 1n })],
    ['the index is changed', (r) => ({ ...r, indexInBlock: r.indexInBlock ^ 1 })],
    ['the txid is changed', (r) => ({ ...r, txid: flip(r.txid, 31) })],
    [
      'a side is flipped',
      (r) => ({
        ...r,
        merklePath: r.merklePath.map((s, i) => (i === 0 ? { ...s, siblingOnLeft: !s.siblingOnLeft } : s)),
      }),
    ],
    [
      'a sibling is changed',
      (r) => ({ ...r, merklePath: r.merklePath.map((s, i) => (i === 0 ? { ...s, sibling: flip(s.sibling, 0) } : s)) }),
    ],
    ['a step is dropped', (r) => ({ ...r, merklePath: r.merklePath.slice(1) })],
    ['a header field is changed', (r) => ({ ...r, block: { ...r.block, timeUnixMs: r.block.timeUnixMs + 1n } })],
    [
      'a header field is changed and rehashed',
      (r) => {
        const block = { ...r.block, mintedTotalMinor: r.block.mintedTotalMinor + 1n };
        return { ...r, block: { ...block, hash: headerHash(block) } };
      },
    ],
    ['a header byte is changed', (r) => ({ ...r, block: { ...r.block, merkleRoot: flip(r.block.merkleRoot, 7) } })],
    [
      'the signature is changed',
      (r) => ({ ...r, block: { ...r.block, engineSignature: flip(r.block.engineSignature, 40) } }),
    ],
    ['the chain id it names is changed', (r) => ({ ...r, chainId: other })],
  ];

  receipts.forEach((json, index) => {
    const name = text(transactions[index] ?? {}, 'name');
    it(`receipt of ${name}: verifies, and only for this chain, engine key and position`, () => {
      const receipt = receiptFromJson(json);
      verifyReceipt(receipt, engineKey, chainId);
      assert.equal(toHex(receipt.txid), text(transactions[index] ?? {}, 'txid'));
      assert.equal(receipt.sequence, integer(transactions[index] ?? {}, 'sequence'));
      assert.equal(receipt.indexInBlock, index);
      assert.deepEqual(receipt.merklePath, merklePath(txids, index));
      assert.throws(() => verifyReceipt(receipt, engineKey, other), VerificationError);
      const { chainId: _named, ...unnamed } = receipt;
      verifyReceipt(unnamed, toHex(engineKey), toHex(chainId));
      assert.throws(() => verifyReceipt(unnamed, engineKey, other), VerificationError);
      assert.throws(() => verifyReceipt(receipt, SigningKey.generate().publicKey, chainId), VerificationError);
      for (const [what, tamper] of tamperings) {
        assert.throws(
          () => verifyReceipt(tamper(receipt), engineKey, chainId),
          VerificationError,
          `refused when ${what}`,
        );
      }
    });
  });

  it('round-trips the JSON form with 64-bit integers intact', () => {
    for (const json of receipts) {
      const receipt = receiptFromJson(json);
      const written = receiptToJson(receipt, chainId);
      assert.deepEqual(receiptFromJson(written), receipt);
      assert.match(written, /"minted_total_minor": 72623859790412757/);
    }
    assert.throws(() => receiptFromJson('{"txid": "00"}'), VerificationError);
    assert.throws(() => receiptFromJson('{'), VerificationError);
  });
});

describe('the other chain', () => {
  it('rebuilds the HKD ledger: genesis, block 0 and chain id', () => {
    const fields = genesisFields('HKD');
    assert.equal(toHex(encodeGenesis(fields)), text(otherChain, 'genesis_canonical_hex'));
    const block0 = { ...header(object(vectors['genesis_block'])), merkleRoot: genesisHash(fields) };
    assert.equal(toHex(encodeHeader(block0)), text(otherChain, 'genesis_block_canonical_hex'));
    assert.equal(toHex(headerHash(block0)), text(otherChain, 'chain_id'));
  });

  it("refuses the first ledger's mint witnesses and engine signatures there", () => {
    const refused = objects(vectors, 'transactions').find(
      (tx) => text(tx, 'name') === text(otherChain, 'refused_transaction'),
    );
    assert.ok(refused !== undefined);
    const tx = transaction(refused);
    const there = witnessMessage(hex(otherChain, 'chain_id'), txid(tx));
    assert.equal(toHex(there), text(otherChain, 'witness_message_hash_there'));
    assert.equal(text(otherChain, 'refused_with'), 'REASON_BAD_SIGNATURE');
    for (const witness of tx.witnesses) {
      assert.ok(!verifySignature(witness.signature, there, witness.publicKey));
      assert.ok(verifySignature(witness.signature, witnessMessage(chainId, txid(tx)), witness.publicKey));
    }
    for (const json of objects(vectors, 'receipts')) {
      assert.throws(
        () => verifyReceipt(receiptFromJson(json), engineKey, hex(otherChain, 'chain_id')),
        VerificationError,
      );
    }
  });
});

function flip(bytes: Uint8Array, index: number): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[index] = (copy[index] ?? 0) ^ 0x01;
  return copy;
}
