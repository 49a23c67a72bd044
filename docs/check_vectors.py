#!/usr/bin/env python3
"""Independent checker of Settled's published test vectors.

Usage: python3 docs/check_vectors.py [docs/test-vectors.json]

Written from docs/PROTOCOL.md alone, in plain Python 3.8+ with the standard
library only (hashlib, json), to show that a client in another language can
rebuild every byte the engine hashes and signs. From the fields of the JSON
file it rebuilds and checks:

- the layout version of the file (2) and the protocol version (2);
- the x-only public key of every secret key;
- the genesis encoding and hash, and the genesis block, whose hash is the
  chain id every signature covers (protocol version 2);
- every transaction's canonical bytes, txid, stored record, the witness
  message (domain "STLW", version, chain id, txid) and witnesses (each
  signature is verified, and re-created from the secret key and the
  published auxiliary randomness, which proves the signing side too);
- the ledger rules: the transactions, replayed in order, form a valid history
  (inputs exist and are unspent, one witness per distinct input owner,
  per-programme conservation, m-of-n issuer signatures on mints, sequences);
- the block header encoding, hash and engine signature (of domain "STLH",
  version, chain id, header hash), its chain link to the genesis block, its
  Merkle root and the Merkle levels;
- every receipt, with the offline verification algorithm of PROTOCOL.md
  against the pinned engine key and the pinned chain id (which its
  `chain_id` field must name), and that tampered receipts, and receipts
  checked against another chain id, are refused;
- the stand-alone Merkle trees (levels, root, every path, leaf position);
- the decimal amount examples;
- the clawback authorisations (message bytes naming the chain, programme,
  treasury and valid_until; hash; every issuer signature verified and
  re-created) and the clawback transaction: its canonical bytes, txid and
  record, its shape (one output of programme 0 and the whole amount to the
  treasury, the programme id and its valid_until as reference), its inputs
  (unspent after the history, of that programme, not a merchant's), its
  witnesses (issuers, at least the threshold, signing the authorisation its
  own reference and output name, and not the txid nor the witness message),
  that its reference names the programme's registered valid_until, and that
  it is judged at or after the programme's end;
- the refund transaction (PROTOCOL.md §4.11): its bytes, txid and record,
  its reference naming a payment of the history with one payer, spending
  the merchant's unspent takings, paying the payer at most what the merchant
  received and the rest back to the merchant, signed by the merchant;
- the claim (PROTOCOL.md §4.10): the person reference as HMAC-SHA-256 of
  the normalised identity number under the administrator's key, the month's
  bounds in the ledger's time zone from the calendar, the claim tag and the
  44-byte reference, the mint's canonical bytes, txid, record and issuer
  witnesses, one output of the programme to the designated wallet, judged
  within the month;
- the recovery transaction (PROTOCOL.md §4.12): its bytes, txid and
  record, its reference (the lost wallet then the replacement), the 101
  authorisation bytes the issuers sign (not the txid), that it spends only
  the lost wallet's earmarked outputs (the claim's) and pays the replacement
  each programme's money;
- the second ledger with the same keys: its genesis and block 0, its chain
  id, and that neither the first ledger's mint witnesses nor its engine
  signatures verify on it.

Prints one line per failure and a final "N passed, M failed" summary; exits 1
when anything failed. The BIP340 code follows the reference implementation
in BIP340 (https://github.com/bitcoin/bips/blob/master/bip-0340/reference.py)
and is checked against two of its official test vectors first. It is slow
and not constant-time: fine for checking vectors, never for real keys.
"""

import calendar
import hashlib
import hmac
import json
import sys
import traceback

# --------------------------------------------------------------------------
# BIP340 Schnorr signatures over secp256k1 (after the BIP340 reference code).

P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
G = (
    0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
    0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8,
)


def tagged_hash(tag, msg):
    tag_hash = hashlib.sha256(tag.encode()).digest()
    return hashlib.sha256(tag_hash + tag_hash + msg).digest()


def point_add(p1, p2):
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    if p1[0] == p2[0] and p1[1] != p2[1]:
        return None
    if p1 == p2:
        lam = (3 * p1[0] * p1[0] * pow(2 * p1[1], -1, P)) % P
    else:
        lam = ((p2[1] - p1[1]) * pow(p2[0] - p1[0], -1, P)) % P
    x3 = (lam * lam - p1[0] - p2[0]) % P
    return (x3, (lam * (p1[0] - x3) - p1[1]) % P)


def point_mul(point, scalar):
    result = None
    for i in range(256):
        if (scalar >> i) & 1:
            result = point_add(result, point)
        point = point_add(point, point)
    return result


def int_from_bytes(b):
    return int.from_bytes(b, "big")


def bytes_from_int(x):
    return x.to_bytes(32, "big")


def bytes_from_point(point):
    return bytes_from_int(point[0])


def has_even_y(point):
    return point[1] % 2 == 0


def lift_x(x):
    """The point with x coordinate x and an even y, or None."""
    if x >= P:
        return None
    y_sq = (pow(x, 3, P) + 7) % P
    y = pow(y_sq, (P + 1) // 4, P)
    if pow(y, 2, P) != y_sq:
        return None
    return (x, y if y % 2 == 0 else P - y)


def pubkey_gen(secret):
    d0 = int_from_bytes(secret)
    if not 1 <= d0 <= N - 1:
        raise ValueError("secret key out of range")
    return bytes_from_point(point_mul(G, d0))


def schnorr_sign(msg, secret, aux_rand):
    d0 = int_from_bytes(secret)
    if not 1 <= d0 <= N - 1:
        raise ValueError("secret key out of range")
    pub = point_mul(G, d0)
    d = d0 if has_even_y(pub) else N - d0
    t = bytes(a ^ b for a, b in zip(bytes_from_int(d), tagged_hash("BIP0340/aux", aux_rand)))
    k0 = int_from_bytes(tagged_hash("BIP0340/nonce", t + bytes_from_point(pub) + msg)) % N
    if k0 == 0:
        raise ValueError("nonce is zero")
    r = point_mul(G, k0)
    k = k0 if has_even_y(r) else N - k0
    e = int_from_bytes(tagged_hash("BIP0340/challenge", bytes_from_point(r) + bytes_from_point(pub) + msg)) % N
    return bytes_from_point(r) + bytes_from_int((k + e * d) % N)


def schnorr_verify(msg, pubkey, sig):
    if len(pubkey) != 32 or len(sig) != 64:
        return False
    pub = lift_x(int_from_bytes(pubkey))
    r = int_from_bytes(sig[0:32])
    s = int_from_bytes(sig[32:64])
    if pub is None or r >= P or s >= N:
        return False
    e = int_from_bytes(tagged_hash("BIP0340/challenge", sig[0:32] + pubkey + msg)) % N
    point = point_add(point_mul(G, s), point_mul(pub, N - e))
    return point is not None and has_even_y(point) and point[0] == r


# Test vectors 0 and 1 of BIP340 (bip-0340/test-vectors.csv).
BIP340_SELF_TEST = [
    (
        "0000000000000000000000000000000000000000000000000000000000000003",
        "f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "e907831f80848d1069a5371b402410364bdf1c5f8307b0084c55f1ce2dca8215"
        "25f66a4a85ea8b71e482a74f382d2ce5ebeee8fdb2172f477df4900d310536c0",
    ),
    (
        "b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfef",
        "dff1d77f2a671c5f36183726db2341be58feae1da2deced843240f7b502ba659",
        "0000000000000000000000000000000000000000000000000000000000000001",
        "243f6a8885a308d313198a2e03707344a4093822299f31d0082efa98ec4e6c89",
        "6896bd60eeae296db48a229ff71dfe071bde413e6d43f917dc8dcf8c78de3341"
        "8906d11ac976abccb20b091292bff4ea897efcb639ea871cfa95f6de339e4b0a",
    ),
]

# --------------------------------------------------------------------------
# Settled's encodings, as docs/PROTOCOL.md defines them. All integers are
# unsigned and big-endian.

TX_MAGIC = b"STLD"
BLOCK_MAGIC = b"STLB"
GENESIS_MAGIC = b"STLG"
CLAWBACK_MAGIC = b"STLC"
WITNESS_MAGIC = b"STLW"
HEADER_SIGNATURE_MAGIC = b"STLH"
PROTOCOL_VERSION = 2
VECTORS_FORMAT_VERSION = 2
TX_VERSION = PROTOCOL_VERSION
BLOCK_VERSION = PROTOCOL_VERSION
GENESIS_VERSION = PROTOCOL_VERSION
CLAWBACK_VERSION = PROTOCOL_VERSION
KIND_CODES = {"transfer": 1, "mint": 2, "redeem": 3, "clawback": 4, "refund": 5, "recovery": 6}

TX_INPUTS_MAX = 16
TX_OUTPUTS_MAX = 16
TX_WITNESSES_MAX = 16
TX_REFERENCE_BYTES_MAX = 64
CURRENCY_EXPONENT_MAX = 8
U64_MAX = 2**64 - 1


def uint(value, size):
    if not 0 <= value < 2 ** (8 * size):
        raise ValueError(f"{value} does not fit {size} bytes")
    return value.to_bytes(size, "big")


def hex32(text):
    b = bytes.fromhex(text)
    if len(b) != 32:
        raise ValueError(f"{text!r} is not 32 bytes")
    return b


def sha256(b):
    return hashlib.sha256(b).digest()


def tx_canonical(tx):
    out = TX_MAGIC + uint(tx["version"], 1) + uint(KIND_CODES[tx["kind"]], 1)
    out += uint(len(tx["inputs"]), 2)
    for i in tx["inputs"]:
        out += hex32(i["txid"]) + uint(i["index"], 4)
    out += uint(len(tx["outputs"]), 2)
    for o in tx["outputs"]:
        out += hex32(o["address"]) + uint(o["amount_minor"], 8) + uint(o["programme_id"], 4)
    reference = bytes.fromhex(tx["reference_hex"])
    out += uint(len(reference), 1) + reference
    return out


def tx_record(tx):
    out = tx_canonical(tx) + uint(len(tx["witnesses"]), 1)
    for w in tx["witnesses"]:
        signature = bytes.fromhex(w["signature"])
        if len(signature) != 64:
            raise ValueError("signature is not 64 bytes")
        out += hex32(w["public_key"]) + signature
    return out


def signed_message(domain, chain, message):
    """The 69 bytes whose SHA-256 a witness (domain STLW, message the txid) or
    the engine (domain STLH, message the header hash) signs on chain `chain`."""
    return domain + uint(PROTOCOL_VERSION, 1) + chain + message


def clawback_authorization_message(chain, programme, treasury, valid_until):
    """The 81 bytes whose SHA-256 issuers sign to authorise a clawback."""
    return (
        CLAWBACK_MAGIC
        + uint(CLAWBACK_VERSION, 1)
        + chain
        + uint(programme, 4)
        + treasury
        + uint(valid_until, 8)
    )


def clawback_reference(programme, valid_until):
    """A clawback transaction's reference: the programme, then valid_until."""
    return uint(programme, 4) + uint(valid_until, 8)


def clawback_terms(reference):
    """(programme, valid_until) from a clawback's 12-byte reference; None for
    a reference of another length or programme 0."""
    if len(reference) != 12:
        return None
    programme = int_from_bytes(reference[:4])
    return (programme, int_from_bytes(reference[4:])) if programme != 0 else None


def clawback_message(chain, tx):
    """What a clawback's witnesses sign, from the transaction alone: the
    reference names the programme and valid_until, the one output the
    treasury. None when the transaction has not that shape."""
    terms = clawback_terms(bytes.fromhex(tx["reference_hex"]))
    if terms is None or len(tx["outputs"]) != 1:
        return None
    programme, valid_until = terms
    return clawback_authorization_message(chain, programme, hex32(tx["outputs"][0]["address"]), valid_until)


def header_canonical(h):
    return (
        BLOCK_MAGIC
        + uint(BLOCK_VERSION, 1)
        + uint(h["height"], 8)
        + hex32(h["previous_hash"])
        + hex32(h["merkle_root"])
        + uint(h["first_sequence"], 8)
        + uint(h["tx_count"], 4)
        + uint(h["time_unix_ms"], 8)
        + uint(h["minted_total_minor"], 8)
        + uint(h["burned_total_minor"], 8)
    )


def genesis_canonical(g):
    currency = g["currency"].encode("ascii")
    out = GENESIS_MAGIC + uint(GENESIS_VERSION, 1) + uint(len(currency), 1) + currency
    out += uint(g["exponent"], 1) + uint(g["issuer_threshold"], 1) + uint(len(g["issuer_public_keys"]), 1)
    for key in g["issuer_public_keys"]:
        out += hex32(key)
    return out + hex32(g["engine_public_key"])


# Merkle tree: leaves and nodes hashed with distinct prefixes; an odd node at
# the end of a level is promoted unchanged; the empty tree's root is zeros.


def leaf_hash(txid):
    return sha256(b"\x00" + txid)


def node_hash(left, right):
    return sha256(b"\x01" + left + right)


def merkle_levels(txids):
    if not txids:
        return []
    levels = [[leaf_hash(t) for t in txids]]
    while len(levels[-1]) > 1:
        below = levels[-1]
        above = [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
        if len(below) % 2 == 1:
            above.append(below[-1])
        levels.append(above)
    return levels


def merkle_root(txids):
    levels = merkle_levels(txids)
    return levels[-1][0] if levels else bytes(32)


def merkle_path(levels, index):
    steps = []
    for level in levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            steps.append((level[sibling], sibling < index))
        index //= 2
    return steps


def root_from_path(txid, steps):
    running = leaf_hash(txid)
    for sibling, sibling_on_left in steps:
        running = node_hash(sibling, running) if sibling_on_left else node_hash(running, sibling)
    return running


def expected_sides(index, leaf_count):
    """The sibling_on_left flags a path from leaf `index` must have, leaf first."""
    sides = []
    width = leaf_count
    while width > 1:
        if index % 2 == 1:
            sides.append(True)
        elif index + 1 < width:
            sides.append(False)
        index //= 2
        width = (width + 1) // 2
    return sides


def index_from_sides(sides, leaf_count):
    """The leaf position whose path has exactly these sides, or None (top-down)."""
    widths = [leaf_count]
    while widths[-1] > 1:
        widths.append((widths[-1] + 1) // 2)
    remaining = list(sides)
    index = 0
    for width in reversed(widths[:-1]):
        left = 2 * index
        if left + 1 < width:
            if not remaining:
                return None
            index = left + 1 if remaining.pop() else left
        else:
            index = left
    if remaining or index >= leaf_count:
        return None
    return index


def verify_receipt(receipt, engine_key, chain):
    """The offline receipt check of PROTOCOL.md, against the pinned engine key
    and chain id; returns None or why it fails."""
    if "chain_id" in receipt and hex32(receipt["chain_id"]) != chain:
        return "the receipt names another chain than the pinned one"
    block = receipt["block"]
    header_hash = sha256(header_canonical(block))
    if bytes.fromhex(block["hash"]) != header_hash:
        return "block.hash is not the hash of the header fields"
    message = sha256(signed_message(HEADER_SIGNATURE_MAGIC, chain, header_hash))
    if not schnorr_verify(message, engine_key, bytes.fromhex(block["engine_signature"])):
        return "the engine did not sign this header for this chain"
    txid = hex32(receipt["txid"])
    steps = [(hex32(s["sibling"]), s["sibling_on_left"]) for s in receipt["merkle_path"]]
    if root_from_path(txid, steps) != hex32(block["merkle_root"]):
        return "the Merkle path does not lead to the header's Merkle root"
    index = receipt["index_in_block"]
    if index >= block["tx_count"] or [side for _, side in steps] != expected_sides(index, block["tx_count"]):
        return "the Merkle path does not prove position index_in_block"
    if receipt["sequence"] != block["first_sequence"] + index:
        return "sequence is not first_sequence + index_in_block"
    return None


def parse_amount(text, exponent):
    """Decimal text to minor units; returns (amount, None) or (None, error)."""
    if exponent > CURRENCY_EXPONENT_MAX:
        return None, "bad_exponent"
    if text == "":
        return None, "empty"
    whole, dot, fraction = text.partition(".")

    def digits(s):
        return s != "" and all(c in "0123456789" for c in s)

    if not digits(whole) or (dot and not digits(fraction)):
        return None, "not_decimal"
    if len(fraction) > exponent:
        return None, "too_precise"
    minor = int(whole + fraction.ljust(exponent, "0"))
    if minor > U64_MAX:
        return None, "overflow"
    return minor, None


# --------------------------------------------------------------------------


class Checker:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, what, condition, detail=""):
        if condition:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL {what}" + (f": {detail}" if detail else ""))

    def eq(self, what, got, want):
        self.ok(what, got == want, f"got {show(got)}, want {show(want)}")

    def section(self, name, check, *args):
        try:
            check(self, *args)
        except Exception:  # a malformed vector is a failure, not a crash
            self.failed += 1
            print(f"FAIL {name}: exception\n{traceback.format_exc()}")


def show(value):
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return repr(value)


def check_bip340(c):
    for secret, pubkey, aux, msg, sig in BIP340_SELF_TEST:
        secret, pubkey, aux, msg, sig = (bytes.fromhex(x) for x in (secret, pubkey, aux, msg, sig))
        c.eq("BIP340 self-test public key", pubkey_gen(secret), pubkey)
        c.eq("BIP340 self-test signature", schnorr_sign(msg, secret, aux), sig)
        c.ok("BIP340 self-test verify", schnorr_verify(msg, pubkey, sig))
        c.ok("BIP340 self-test refuses another message", not schnorr_verify(bytes(32 - 1) + b"\x01", pubkey, sig))


def check_keys(c, vectors):
    for key in vectors["keys"]:
        c.eq(f"key {key['name']}: public key", pubkey_gen(hex32(key["secret_hex"])), hex32(key["public_key"]))


def chain_of(vectors):
    """The chain id: the hash of block 0."""
    return sha256(header_canonical(vectors["genesis_block"]))


def check_genesis(c, vectors):
    c.eq("format version", vectors["format_version"], VECTORS_FORMAT_VERSION)
    c.eq("protocol version", vectors["protocol_version"], PROTOCOL_VERSION)
    g = vectors["genesis"]
    canonical = genesis_canonical(g)
    c.eq("genesis canonical bytes", canonical, bytes.fromhex(g["canonical_hex"]))
    c.eq("genesis hash", sha256(canonical), hex32(g["hash"]))
    engine_key = hex32(g["engine_public_key"])
    b = vectors["genesis_block"]
    c.eq("genesis block height", b["height"], 0)
    c.eq("genesis block previous hash", hex32(b["previous_hash"]), bytes(32))
    c.eq("genesis block Merkle root is the genesis hash", hex32(b["merkle_root"]), sha256(canonical))
    c.eq("genesis block tx_count", b["tx_count"], 0)
    c.eq("genesis block first_sequence", b["first_sequence"], 1)
    c.eq("genesis block totals", (b["minted_total_minor"], b["burned_total_minor"]), (0, 0))
    c.eq("the chain id is the hash of block 0", hex32(vectors["chain_id"]), chain_of(vectors))
    check_header(c, "genesis block", b, engine_key, chain_of(vectors))
    # Block 0's hash is the chain id: it is signed with its own hash as chain.
    message = bytes.fromhex(b["signed_message_hex"])
    c.eq("genesis block: signed for its own hash as chain", (message[5:37], message[37:]),
         (hex32(b["hash"]), hex32(b["hash"])))


def check_header(c, name, h, engine_key, chain):
    canonical = header_canonical(h)
    c.eq(f"{name}: header length", len(canonical), 113)
    c.eq(f"{name}: header canonical bytes", canonical, bytes.fromhex(h["canonical_hex"]))
    header_hash = sha256(canonical)
    c.eq(f"{name}: header hash", header_hash, hex32(h["hash"]))
    message = signed_message(HEADER_SIGNATURE_MAGIC, chain, header_hash)
    c.eq(f"{name}: signed message bytes", message, bytes.fromhex(h["signed_message_hex"]))
    c.eq(f"{name}: signed message length", len(message), 69)
    digest = sha256(message)
    c.eq(f"{name}: signed message hash", digest, hex32(h["signed_message_hash"]))
    signature = bytes.fromhex(h["engine_signature"])
    c.ok(f"{name}: engine signature verifies", schnorr_verify(digest, engine_key, signature))
    c.ok(f"{name}: engine signature is not of the bare header hash",
         not schnorr_verify(header_hash, engine_key, signature))
    secret = SECRETS.get(engine_key)
    if secret is not None:
        resigned = schnorr_sign(digest, secret, hex32(h["engine_aux_hex"]))
        c.eq(f"{name}: engine signature re-created", resigned, signature)


SECRETS = {}


def check_transactions(c, vectors):
    g = vectors["genesis"]
    issuers = [hex32(k) for k in g["issuer_public_keys"]]
    unspent = {}
    next_sequence = vectors["genesis_block"]["first_sequence"] + vectors["genesis_block"]["tx_count"]
    minted = 0
    chain = chain_of(vectors)
    for tx in vectors["transactions"]:
        name = tx["name"]
        canonical = tx_canonical(tx)
        c.eq(f"{name}: canonical bytes", canonical, bytes.fromhex(tx["canonical_hex"]))
        txid = sha256(canonical)
        c.eq(f"{name}: txid", txid, hex32(tx["txid"]))
        c.eq(f"{name}: stored record", tx_record(tx), bytes.fromhex(tx["record_hex"]))
        c.eq(f"{name}: kind code", tx["kind_code"], KIND_CODES[tx["kind"]])
        message = signed_message(WITNESS_MAGIC, chain, txid)
        c.eq(f"{name}: witness message bytes", message, bytes.fromhex(tx["signed_message_hex"]))
        digest = sha256(message)
        c.eq(f"{name}: witness message hash", digest, hex32(tx["signed_message_hash"]))
        for w in tx["witnesses"]:
            key = hex32(w["public_key"])
            signature = bytes.fromhex(w["signature"])
            c.ok(f"{name}: witness {w['signer']} verifies", schnorr_verify(digest, key, signature))
            c.ok(f"{name}: witness {w['signer']} signs not the bare txid", not schnorr_verify(txid, key, signature))
            c.ok(f"{name}: witness {w['signer']} signs only this txid",
                 not schnorr_verify(sha256(signed_message(WITNESS_MAGIC, chain, sha256(txid))), key, signature))
            c.eq(f"{name}: witness {w['signer']} re-created",
                 schnorr_sign(digest, SECRETS[key], hex32(w["aux_hex"])), signature)

        # The rules the engine applies, stateless then stateful.
        inputs = [(hex32(i["txid"]), i["index"]) for i in tx["inputs"]]
        outputs = [(hex32(o["address"]), o["amount_minor"], o["programme_id"]) for o in tx["outputs"]]
        keys = [hex32(w["public_key"]) for w in tx["witnesses"]]
        reference = bytes.fromhex(tx["reference_hex"])
        c.eq(f"{name}: version", tx["version"], TX_VERSION)
        c.ok(f"{name}: within the limits",
             len(inputs) <= TX_INPUTS_MAX and len(outputs) <= TX_OUTPUTS_MAX
             and len(keys) <= TX_WITNESSES_MAX and len(reference) <= TX_REFERENCE_BYTES_MAX)
        c.ok(f"{name}: has outputs and witnesses", outputs and keys)
        c.ok(f"{name}: distinct inputs", len(set(inputs)) == len(inputs))
        c.ok(f"{name}: distinct witness keys", len(set(keys)) == len(keys))
        c.ok(f"{name}: amounts positive and summing within 64 bits",
             all(a > 0 for _, a, _ in outputs) and sum(a for _, a, _ in outputs) <= U64_MAX)
        c.ok(f"{name}: output addresses are curve points",
             all(lift_x(int_from_bytes(addr)) is not None for addr, _, _ in outputs))
        if tx["kind"] == "mint":
            c.ok(f"{name}: mint has no inputs and a reference", not inputs and reference)
            c.ok(f"{name}: mint witnesses are issuers", all(k in issuers for k in keys))
            c.ok(f"{name}: mint meets the threshold", len(keys) >= g["issuer_threshold"])
            minted += sum(a for _, a, _ in outputs)
        else:
            c.eq(f"{name}: kind", tx["kind"], "transfer")
            c.ok(f"{name}: spends unspent outputs", inputs and all(i in unspent for i in inputs))
            spent = [unspent.pop(i) for i in inputs if i in unspent]
            owners = {owner for owner, _, _ in spent}
            c.eq(f"{name}: one witness per distinct input owner", sorted(keys), sorted(owners))
            balance = {}
            for _, amount, programme in spent:
                balance[programme] = balance.get(programme, 0) + amount
            for _, amount, programme in outputs:
                balance[programme] = balance.get(programme, 0) - amount
            c.ok(f"{name}: conserved per programme", all(v == 0 for v in balance.values()), repr(balance))
        for index, output in enumerate(outputs):
            unspent[(txid, index)] = output
        c.eq(f"{name}: sequence", tx["sequence"], next_sequence)
        next_sequence += 1
    return minted, unspent


def check_block(c, vectors, minted):
    engine_key = hex32(vectors["genesis"]["engine_public_key"])
    block = vectors["block"]
    h = block["header"]
    genesis_block = vectors["genesis_block"]
    txs = vectors["transactions"]
    chain = chain_of(vectors)
    check_header(c, "block 1", h, engine_key, chain)
    c.eq("block 1: height", h["height"], genesis_block["height"] + 1)
    c.eq("block 1: previous hash", hex32(h["previous_hash"]), sha256(header_canonical(genesis_block)))
    c.eq("block 1: first_sequence continues the chain", h["first_sequence"],
         genesis_block["first_sequence"] + genesis_block["tx_count"])
    c.ok("block 1: time does not go back", h["time_unix_ms"] >= genesis_block["time_unix_ms"])
    c.eq("block 1: txids are the transactions in sequence order", block["txids"], [t["txid"] for t in txs])
    c.eq("block 1: tx_count", h["tx_count"], len(block["txids"]))
    c.eq("block 1: minted total", h["minted_total_minor"], minted)
    txids = [hex32(t) for t in block["txids"]]
    levels = merkle_levels(txids)
    c.eq("block 1: Merkle levels", [[x.hex() for x in level] for level in levels], block["merkle_levels"])
    c.eq("block 1: Merkle root", merkle_root(txids), hex32(h["merkle_root"]))

    receipts = vectors["receipts"]
    c.eq("receipts: one per transaction", len(receipts), len(txs))
    for index, (receipt, tx) in enumerate(zip(receipts, txs)):
        name = f"receipt of {tx['name']}"
        c.eq(f"{name}: txid", receipt["txid"], tx["txid"])
        c.eq(f"{name}: sequence", receipt["sequence"], tx["sequence"])
        c.eq(f"{name}: index", receipt["index_in_block"], index)
        c.eq(f"{name}: chain id", receipt.get("chain_id"), chain.hex())
        signing_only = ("canonical_hex", "engine_aux_hex", "signed_message_hex", "signed_message_hash")
        expected_block = {k: v for k, v in h.items() if k not in signing_only}
        c.eq(f"{name}: block", receipt["block"], expected_block)
        c.eq(f"{name}: path", [(hex32(s["sibling"]), s["sibling_on_left"]) for s in receipt["merkle_path"]],
             merkle_path(levels, index))
        c.eq(f"{name}: verifies", verify_receipt(receipt, engine_key, chain), None)
        other = hex32(vectors["other_chain"]["chain_id"])
        c.ok(f"{name}: refused on another chain", verify_receipt(receipt, engine_key, other) is not None)
        unnamed = {k: v for k, v in receipt.items() if k != "chain_id"}
        c.eq(f"{name}: verifies without its chain_id field, the chain pinned", verify_receipt(unnamed, engine_key, chain),
             None)
        c.ok(f"{name}: without its chain_id field, refused on another chain",
             verify_receipt(unnamed, engine_key, other) is not None)
        c.eq(f"{name}: position recovered from the path",
             index_from_sides([s["sibling_on_left"] for s in receipt["merkle_path"]], h["tx_count"]), index)
        for tamper, change in TAMPERINGS:
            forged = json.loads(json.dumps(receipt))
            change(forged)
            c.ok(f"{name}: refused when {tamper}", verify_receipt(forged, engine_key, chain) is not None)


def _other_txid(r):
    r["txid"] = r["txid"][:-1] + ("0" if r["txid"][-1] != "0" else "1")


def _flip_side(r):
    r["merkle_path"][0]["sibling_on_left"] = not r["merkle_path"][0]["sibling_on_left"]


def _other_chain_named(r):
    r["chain_id"] = r["chain_id"][:-1] + ("0" if r["chain_id"][-1] != "0" else "1")


def _other_time(r):
    r["block"]["time_unix_ms"] += 1
    r["block"]["hash"] = sha256(header_canonical(r["block"])).hex()


TAMPERINGS = [
    ("the sequence is changed", lambda r: r.update(sequence=r["sequence"] + 1)),
    ("the index is changed", lambda r: r.update(index_in_block=r["index_in_block"] ^ 1)),
    ("the txid is changed", _other_txid),
    ("a side is flipped", _flip_side),
    ("a header field is changed and rehashed", _other_time),
    ("the chain_id it names is changed", _other_chain_named),
]


def check_merkle_trees(c, vectors):
    for tree in vectors["merkle_trees"]:
        txids = [hex32(t) for t in tree["txids"]]
        n = len(txids)
        levels = merkle_levels(txids)
        c.eq(f"Merkle tree of {n}: levels", [[x.hex() for x in level] for level in levels], tree["levels"])
        c.eq(f"Merkle tree of {n}: root", merkle_root(txids), hex32(tree["root"]))
        c.eq(f"Merkle tree of {n}: path count", len(tree["paths"]), n)
        for index, (txid, path) in enumerate(zip(txids, tree["paths"])):
            steps = [(hex32(s["sibling"]), s["sibling_on_left"]) for s in path]
            c.eq(f"Merkle tree of {n}: path {index}", steps, merkle_path(levels, index))
            c.eq(f"Merkle tree of {n}: path {index} leads to the root", root_from_path(txid, steps), merkle_root(txids))
            c.eq(f"Merkle tree of {n}: path {index} sides", [s for _, s in steps], expected_sides(index, n))
            c.eq(f"Merkle tree of {n}: path {index} position", index_from_sides([s for _, s in steps], n), index)
    # The two ways of checking a position agree on every small tree.
    for n in range(1, 70):
        positions = [index_from_sides(expected_sides(i, n), n) for i in range(n)]
        c.eq(f"position recovery on trees of {n}", positions, list(range(n)))


def check_clawback_authorizations(c, vectors):
    issuers = [hex32(k) for k in vectors["genesis"]["issuer_public_keys"]]
    chain = chain_of(vectors)
    entries = vectors["clawback_authorizations"]
    c.ok("clawback authorisations: present", len(entries) > 0)
    for entry in entries:
        programme = entry["programme_id"]
        treasury = hex32(entry["treasury"])
        until = entry["valid_until_unix_ms"]
        name = f"clawback authorisation of programme {programme}"
        message = clawback_authorization_message(chain, programme, treasury, until)
        c.eq(f"{name}: message bytes", message, bytes.fromhex(entry["message_hex"]))
        c.eq(f"{name}: message length", len(message), 81)
        digest = sha256(message)
        c.eq(f"{name}: hash", digest, hex32(entry["hash"]))
        others = [
            ("programme", clawback_authorization_message(chain, programme ^ 1, treasury, until)),
            ("treasury", clawback_authorization_message(chain, programme, bytes(32), until)),
            ("valid_until", clawback_authorization_message(chain, programme, treasury, until ^ 1)),
            ("chain", clawback_authorization_message(hex32(vectors["other_chain"]["chain_id"]), programme, treasury,
                                                     until)),
        ]
        for w in entry["witnesses"]:
            key = hex32(w["public_key"])
            signature = bytes.fromhex(w["signature"])
            c.ok(f"{name}: {w['signer']} is an issuer", key in issuers)
            c.ok(f"{name}: {w['signer']} verifies", schnorr_verify(digest, key, signature))
            for what, other in others:
                c.ok(f"{name}: {w['signer']} authorises only this {what}",
                     not schnorr_verify(sha256(other), key, signature))
            c.eq(f"{name}: {w['signer']} re-created", schnorr_sign(digest, SECRETS[key], hex32(w["aux_hex"])), signature)


def check_clawback_transactions(c, vectors, unspent):
    g = vectors["genesis"]
    issuers = [hex32(k) for k in g["issuer_public_keys"]]
    authorizations = {a["programme_id"]: a for a in vectors["clawback_authorizations"]}
    block_time = vectors["block"]["header"]["time_unix_ms"]
    chain = chain_of(vectors)
    txs = vectors["clawback_transactions"]
    c.ok("clawback transactions: present", len(txs) > 0)
    for tx in txs:
        name = tx["name"]
        canonical = tx_canonical(tx)
        c.eq(f"{name}: canonical bytes", canonical, bytes.fromhex(tx["canonical_hex"]))
        c.eq(f"{name}: canonical length", len(canonical), 11 + 36 * len(tx["inputs"]) + 44 * len(tx["outputs"]) + 12)
        txid = sha256(canonical)
        c.eq(f"{name}: txid", txid, hex32(tx["txid"]))
        c.eq(f"{name}: stored record", tx_record(tx), bytes.fromhex(tx["record_hex"]))
        c.eq(f"{name}: kind", (tx["kind"], tx["kind_code"]), ("clawback", KIND_CODES["clawback"]))
        c.eq(f"{name}: version", tx["version"], TX_VERSION)

        # Shape: the reference is the programme id and its valid_until, one
        # output of everything to the treasury as unrestricted money.
        programme = tx["programme_id"]
        until = tx["programme_valid_until_unix_ms"]
        reference = bytes.fromhex(tx["reference_hex"])
        c.eq(f"{name}: reference is the programme id (4 bytes) then valid_until (8 bytes), big-endian", reference,
             clawback_reference(programme, until))
        c.ok(f"{name}: programme is not 0", programme != 0)
        inputs = [(hex32(i["txid"]), i["index"]) for i in tx["inputs"]]
        outputs = [(hex32(o["address"]), o["amount_minor"], o["programme_id"]) for o in tx["outputs"]]
        c.ok(f"{name}: 1 to {TX_INPUTS_MAX} distinct inputs",
             0 < len(inputs) <= TX_INPUTS_MAX and len(set(inputs)) == len(inputs))
        c.eq(f"{name}: exactly one output", len(outputs), 1)
        treasury = hex32(tx["treasury"])
        c.ok(f"{name}: treasury is a curve point", lift_x(int_from_bytes(treasury)) is not None)

        # Inputs: unspent after the history, of this programme, not a merchant's.
        merchants = [hex32(a) for a in tx["merchant_addresses"]]
        c.ok(f"{name}: spends unspent outputs", all(i in unspent for i in inputs))
        spent = [unspent[i] for i in inputs if i in unspent]
        c.ok(f"{name}: inputs are programme {programme} money", all(p == programme for _, _, p in spent))
        c.ok(f"{name}: no merchant's takings", all(owner not in merchants for owner, _, _ in spent))
        total = sum(a for _, a, _ in spent)
        c.eq(f"{name}: the whole amount to the treasury as programme 0", outputs[0] if outputs else None,
             (treasury, total, 0))

        # Time: the history ran while the programme did; the clawback is
        # judged at or after its end (valid_until is exclusive).
        c.ok(f"{name}: block 1 is inside the programme", block_time < until)
        c.ok(f"{name}: judged at or after the programme's end", tx["block_time_unix_ms"] >= until)

        # Witnesses: issuers, at least the threshold, signing the
        # authorisation of this programme (on this chain, to this treasury,
        # for this valid_until) and not the txid.
        message = clawback_authorization_message(chain, programme, treasury, until)
        c.eq(f"{name}: signed message bytes", message, bytes.fromhex(tx["signed_message_hex"]))
        digest = sha256(message)
        c.eq(f"{name}: signed message hash", digest, hex32(tx["signed_message_hash"]))
        c.eq(f"{name}: authorisation hash", hex32(tx["authorization_hash"]), digest)
        c.eq(f"{name}: signed message from the transaction alone (reference, output)", clawback_message(chain, tx),
             message)
        c.eq(f"{name}: the reference names the programme and its registered valid_until",
             clawback_terms(reference), (programme, until))
        published_entry = authorizations.get(programme, {})
        c.eq(f"{name}: the published authorisation of programme {programme} names its treasury and valid_until",
             (published_entry.get("treasury"), published_entry.get("valid_until_unix_ms")), (tx["treasury"], until))
        stale = sha256(clawback_authorization_message(chain, programme, treasury, until - 1))
        keys = [hex32(w["public_key"]) for w in tx["witnesses"]]
        c.ok(f"{name}: distinct witness keys", len(set(keys)) == len(keys))
        c.ok(f"{name}: witnesses are issuers", all(k in issuers for k in keys))
        c.ok(f"{name}: meets the issuer threshold", len(keys) >= g["issuer_threshold"])
        published = {w["signer"]: w["signature"] for w in authorizations.get(programme, {}).get("witnesses", [])}
        for w in tx["witnesses"]:
            key = hex32(w["public_key"])
            signature = bytes.fromhex(w["signature"])
            c.ok(f"{name}: witness {w['signer']} signs the authorisation", schnorr_verify(digest, key, signature))
            c.ok(f"{name}: witness {w['signer']} does not sign the txid", not schnorr_verify(txid, key, signature))
            c.ok(f"{name}: witness {w['signer']} does not sign the witness message",
                 not schnorr_verify(sha256(signed_message(WITNESS_MAGIC, chain, txid)), key, signature))
            c.ok(f"{name}: witness {w['signer']} does not authorise another valid_until",
                 not schnorr_verify(stale, key, signature))
            c.eq(f"{name}: witness {w['signer']} re-created",
                 schnorr_sign(digest, SECRETS[key], hex32(w["aux_hex"])), signature)
            if published:
                c.eq(f"{name}: witness {w['signer']} is the published authorisation", w["signature"],
                     published.get(w["signer"]))


def check_unblocked_encoding(c, tx, kind, kind_code):
    """A transaction of no block (refunds, redemptions): its canonical
    bytes, txid, stored record and kind; returns the txid."""
    name = tx["name"]
    canonical = tx_canonical(tx)
    c.eq(f"{name}: canonical bytes", canonical, bytes.fromhex(tx["canonical_hex"]))
    txid = sha256(canonical)
    c.eq(f"{name}: txid", txid, hex32(tx["txid"]))
    c.eq(f"{name}: stored record", tx_record(tx), bytes.fromhex(tx["record_hex"]))
    c.eq(f"{name}: a {kind}", (tx["kind"], tx["kind_code"]), (kind, kind_code))
    return txid


def check_witnesses_of_txid(c, tx, chain, txid):
    """Every witness signs the txid's witness message, and is re-created
    from its key and aux."""
    name = tx["name"]
    digest = sha256(signed_message(WITNESS_MAGIC, chain, txid))
    for w in tx["witnesses"]:
        signature = bytes.fromhex(w["signature"])
        c.ok(f"{name}: witness verifies", schnorr_verify(digest, hex32(w["public_key"]), signature))
        c.eq(f"{name}: witness re-created",
             schnorr_sign(digest, SECRETS[hex32(w["public_key"])], hex32(w["aux_hex"])), signature)


def check_refunds(c, vectors, unspent):
    """Refunds: the merchant pays back part of a payment it took, to its
    payer, naming the payment (PROTOCOL.md §4.11)."""
    chain = chain_of(vectors)
    payments = {hex32(t["txid"]): t for t in vectors["transactions"]}
    txs = vectors.get("refund_transactions", [])
    c.ok("refund transactions: present", len(txs) > 0)
    for tx in txs:
        name = tx["name"]
        txid = check_unblocked_encoding(c, tx, "refund", 5)
        reference = bytes.fromhex(tx["reference_hex"])
        c.eq(f"{name}: the reference is the refunded payment's txid", reference, hex32(tx["refunded_payment"]))
        payment = payments.get(reference)
        c.ok(f"{name}: the payment is a transfer of the history", payment is not None and payment["kind"] == "transfer")
        if payment is None:
            continue
        # The payment's payer: the owner of what it spent (one payer).
        spent_owners = set()
        for t in vectors["transactions"]:
            for i in payment["inputs"]:
                if t["txid"] == i["txid"]:
                    spent_owners.add(t["outputs"][i["index"]]["address"])
        c.eq(f"{name}: the payment had one payer, the refund's payee", sorted(spent_owners), [tx["payer"]])
        merchant = tx["outputs"][-1]["address"]
        received = sum(o["amount_minor"] for o in payment["outputs"] if o["address"] == merchant)
        c.eq(f"{name}: what the merchant received", received, tx["merchant_received_minor"])
        inputs = [(hex32(i["txid"]), i["index"]) for i in tx["inputs"]]
        c.ok(f"{name}: spends the merchant's unspent takings",
             all(i in unspent and unspent[i][0] == hex32(merchant) for i in inputs))
        spent_total = sum(unspent[i][1] for i in inputs if i in unspent)
        refunded = sum(o["amount_minor"] for o in tx["outputs"] if o["address"] == tx["payer"])
        c.ok(f"{name}: refunds at most what was paid", 0 < refunded <= received)
        c.eq(f"{name}: pays out what it spends", sum(o["amount_minor"] for o in tx["outputs"]), spent_total)
        c.ok(f"{name}: only to the payer and back to the merchant",
             all(o["address"] in (tx["payer"], merchant) for o in tx["outputs"]))
        c.eq(f"{name}: signed by the merchant", [w["public_key"] for w in tx["witnesses"]], [merchant])
        check_witnesses_of_txid(c, tx, chain, txid)


def check_redemptions(c, vectors, unspent):
    """Redemptions: the merchant's takings leave the ledger, change back to
    the merchant, the rest burned (PROTOCOL.md §4.9)."""
    chain = chain_of(vectors)
    txs = vectors.get("redeem_transactions", [])
    c.ok("redeem transactions: present", len(txs) > 0)
    for tx in txs:
        name = tx["name"]
        txid = check_unblocked_encoding(c, tx, "redeem", 3)
        inputs = [(hex32(i["txid"]), i["index"]) for i in tx["inputs"]]
        c.ok(f"{name}: spends unspent outputs", all(i in unspent for i in inputs))
        owners = {unspent[i][0] for i in inputs if i in unspent}
        c.eq(f"{name}: one owner's outputs, the signer's", sorted(owners),
             sorted(hex32(w["public_key"]) for w in tx["witnesses"]))
        c.ok(f"{name}: change only back to that owner", all(hex32(o["address"]) in owners for o in tx["outputs"]))
        spent_total = sum(unspent[i][1] for i in inputs if i in unspent)
        paid_out = sum(o["amount_minor"] for o in tx["outputs"])
        c.eq(f"{name}: burns what it spends beyond its change", spent_total - paid_out, tx["burned_minor"])
        c.ok(f"{name}: burns a positive amount", tx["burned_minor"] > 0)
        check_witnesses_of_txid(c, tx, chain, txid)


def check_recoveries(c, vectors):
    """Recoveries: a lost wallet's earmarked money to its replacement,
    authorised by the issuers (PROTOCOL.md §4.12)."""
    g = vectors["genesis"]
    issuers = [hex32(k) for k in g["issuer_public_keys"]]
    chain = chain_of(vectors)
    claims = {hex32(t["txid"]): t for t in vectors.get("claims", [])}
    txs = vectors.get("recovery_transactions", [])
    c.ok("recovery transactions: present", len(txs) > 0)
    for tx in txs:
        name = tx["name"]
        canonical = tx_canonical(tx)
        c.eq(f"{name}: canonical bytes", canonical, bytes.fromhex(tx["canonical_hex"]))
        txid = sha256(canonical)
        c.eq(f"{name}: txid", txid, hex32(tx["txid"]))
        c.eq(f"{name}: stored record", tx_record(tx), bytes.fromhex(tx["record_hex"]))
        c.eq(f"{name}: a recovery", (tx["kind"], tx["kind_code"]), ("recovery", 6))
        lost, replacement = hex32(tx["lost_wallet"]), hex32(tx["replacement_wallet"])
        c.eq(f"{name}: reference is the lost wallet then the replacement", bytes.fromhex(tx["reference_hex"]),
             lost + replacement)
        message = b"STLV" + bytes([PROTOCOL_VERSION]) + chain + lost + replacement
        c.eq(f"{name}: authorisation bytes (101)", (message, len(message)),
             (bytes.fromhex(tx["signed_message_hex"]), 101))
        digest = sha256(message)
        c.eq(f"{name}: authorisation hash", digest, hex32(tx["signed_message_hash"]))
        spent = []
        for i in tx["inputs"]:
            claim = claims.get(hex32(i["txid"]))
            spent.append(claim["outputs"][i["index"]] if claim else None)
        c.ok(f"{name}: spends earmarked outputs of the lost wallet",
             all(o is not None and hex32(o["address"]) == lost and o["programme_id"] != 0 for o in spent))
        c.ok(f"{name}: pays the replacement only", all(hex32(o["address"]) == replacement for o in tx["outputs"]))
        per = {}
        for o in spent:
            if o is not None:
                per[o["programme_id"]] = per.get(o["programme_id"], 0) + o["amount_minor"]
        for o in tx["outputs"]:
            per[o["programme_id"]] = per.get(o["programme_id"], 0) - o["amount_minor"]
        c.ok(f"{name}: each programme conserved", all(v == 0 for v in per.values()))
        keys = [hex32(w["public_key"]) for w in tx["witnesses"]]
        c.ok(f"{name}: distinct issuers, at least the threshold",
             len(set(keys)) == len(keys) and all(k in issuers for k in keys) and len(keys) >= g["issuer_threshold"])
        for w in tx["witnesses"]:
            signature = bytes.fromhex(w["signature"])
            key = hex32(w["public_key"])
            c.ok(f"{name}: witness {w['signer']} signs the authorisation", schnorr_verify(digest, key, signature))
            c.ok(f"{name}: witness {w['signer']} does not sign the txid",
                 not schnorr_verify(sha256(signed_message(WITNESS_MAGIC, chain, txid)), key, signature))
            c.eq(f"{name}: witness {w['signer']} re-created", schnorr_sign(digest, SECRETS[key], hex32(w["aux_hex"])),
                 signature)


def check_claims(c, vectors):
    """Claim mints: the person reference, the month, the tag, the reference
    and the mint itself, from PROTOCOL.md §4.10."""
    g = vectors["genesis"]
    issuers = [hex32(k) for k in g["issuer_public_keys"]]
    chain = chain_of(vectors)
    txs = vectors.get("claims", [])
    c.ok("claims: present", len(txs) > 0)
    for tx in txs:
        name = tx["name"]
        claim = tx["claim"]
        # Full-width forms read as ASCII; only ASCII letters and digits kept.
        widened = "".join(chr(ord(ch) - 0xFEE0) if 0xFF01 <= ord(ch) <= 0xFF5E else ch for ch in claim["identity_number"])
        normalised = "".join(ch.upper() for ch in widened if ch.isascii() and ch.isalnum())
        c.eq(f"{name}: identity number normalised (ASCII letters and digits, upper case)", normalised,
             claim["normalised_identity_number"])
        key = bytes.fromhex(claim["administrator_key_hex"])
        person = hmac.new(key, normalised.encode(), hashlib.sha256).digest()
        c.eq(f"{name}: person reference is HMAC-SHA-256(key, number)", person, hex32(claim["person_ref"]))
        c.ok(f"{name}: the identity number is not in the transaction",
             normalised.encode().hex() not in tx["canonical_hex"] and claim["person_ref"] not in tx["canonical_hex"])

        programme, period = claim["programme_id"], claim["period"]
        year, month = divmod(period, 100)
        offset_ms = claim["day_offset_minutes"] * 60_000
        start = calendar.timegm((year, month, 1, 0, 0, 0)) * 1000 - offset_ms
        end = calendar.timegm((year + month // 12, month % 12 + 1, 1, 0, 0, 0)) * 1000 - offset_ms
        c.eq(f"{name}: the month's bounds in the ledger's time zone", (start, end),
             (claim["period_start_unix_ms"], claim["period_end_unix_ms"]))
        c.ok(f"{name}: judged within the month", start <= claim["judged_at_unix_ms"] < end)

        preimage = b"STLP" + bytes([PROTOCOL_VERSION]) + uint(programme, 4) + uint(period, 4) + person
        c.eq(f"{name}: tag preimage", preimage, bytes.fromhex(claim["tag_preimage_hex"]))
        tag = sha256(preimage)
        c.eq(f"{name}: tag", tag, hex32(claim["tag"]))
        reference = bytes.fromhex(tx["reference_hex"])
        c.eq(f"{name}: reference is STLP, programme, period, tag", reference,
             b"STLP" + uint(programme, 4) + uint(period, 4) + tag)
        c.eq(f"{name}: reference is 44 bytes", len(reference), 44)

        canonical = tx_canonical(tx)
        c.eq(f"{name}: canonical bytes", canonical, bytes.fromhex(tx["canonical_hex"]))
        txid = sha256(canonical)
        c.eq(f"{name}: txid", txid, hex32(tx["txid"]))
        c.eq(f"{name}: stored record", tx_record(tx), bytes.fromhex(tx["record_hex"]))
        c.eq(f"{name}: a mint", (tx["kind"], tx["kind_code"]), ("mint", KIND_CODES["mint"]))
        outputs = [(hex32(o["address"]), o["amount_minor"], o["programme_id"]) for o in tx["outputs"]]
        c.ok(f"{name}: no inputs, one output of the programme to the designated wallet",
             not tx["inputs"] and len(outputs) == 1 and outputs[0][2] == programme
             and outputs[0][0] == hex32(claim["designated_wallet"]))
        digest = sha256(signed_message(WITNESS_MAGIC, chain, txid))
        keys = [hex32(w["public_key"]) for w in tx["witnesses"]]
        c.ok(f"{name}: witnesses are distinct issuers, at least the threshold",
             len(set(keys)) == len(keys) and all(k in issuers for k in keys) and len(keys) >= g["issuer_threshold"])
        for w in tx["witnesses"]:
            signature = bytes.fromhex(w["signature"])
            c.ok(f"{name}: witness {w['signer']} verifies", schnorr_verify(digest, hex32(w["public_key"]), signature))
            c.eq(f"{name}: witness {w['signer']} re-created",
                 schnorr_sign(digest, SECRETS[hex32(w["public_key"])], hex32(w["aux_hex"])), signature)


def check_other_chain(c, vectors):
    """A second ledger with the same keys: another chain id, on which the
    first ledger's signatures do not verify."""
    other = vectors["other_chain"]
    g = dict(vectors["genesis"], currency="HKD")
    canonical = genesis_canonical(g)
    c.eq("other chain: genesis canonical bytes", canonical, bytes.fromhex(other["genesis_canonical_hex"]))
    block0 = dict(vectors["genesis_block"], merkle_root=sha256(canonical).hex())
    header = header_canonical(block0)
    c.eq("other chain: block 0 canonical bytes", header, bytes.fromhex(other["genesis_block_canonical_hex"]))
    other_chain = sha256(header)
    c.eq("other chain: chain id", other_chain, hex32(other["chain_id"]))
    c.ok("other chain: another chain id", other_chain != chain_of(vectors))
    refused = [tx for tx in vectors["transactions"] if tx["name"] == other["refused_transaction"]]
    c.eq("other chain: the refused transaction is published", len(refused), 1)
    for tx in refused:
        txid = hex32(tx["txid"])
        digest = sha256(signed_message(WITNESS_MAGIC, other_chain, txid))
        c.eq("other chain: witness message hash there", digest, hex32(other["witness_message_hash_there"]))
        here = sha256(signed_message(WITNESS_MAGIC, chain_of(vectors), txid))
        for w in tx["witnesses"]:
            key, signature = hex32(w["public_key"]), bytes.fromhex(w["signature"])
            c.ok(f"other chain: {tx['name']} witness {w['signer']} verifies here", schnorr_verify(here, key, signature))
            c.ok(f"other chain: {tx['name']} witness {w['signer']} does not verify there",
                 not schnorr_verify(digest, key, signature))
    c.eq("other chain: refused with", other["refused_with"], "REASON_BAD_SIGNATURE")
    # Block 0 of the other ledger differs from this one's only in the genesis
    # it commits to; the engine signatures of this ledger do not verify there.
    c.eq("other chain: block 0 differs only in its Merkle root",
         header[:45] + header[77:], header_canonical(vectors["genesis_block"])[:45]
         + header_canonical(vectors["genesis_block"])[77:])
    engine_key = hex32(vectors["genesis"]["engine_public_key"])
    for name, h in (("block 0", vectors["genesis_block"]), ("block 1", vectors["block"]["header"])):
        header_hash = sha256(header_canonical(h))
        signature = bytes.fromhex(h["engine_signature"])
        c.ok(f"other chain: the engine signature of {name} verifies here",
             schnorr_verify(sha256(signed_message(HEADER_SIGNATURE_MAGIC, chain_of(vectors), header_hash)),
                            engine_key, signature))
        c.ok(f"other chain: the engine signature of {name} does not verify there",
             not schnorr_verify(sha256(signed_message(HEADER_SIGNATURE_MAGIC, other_chain, header_hash)),
                                engine_key, signature))


def check_amounts(c, vectors):
    for case in vectors["amounts"]:
        want = (case.get("amount_minor"), case.get("error"))
        c.eq(f"amount {case['text']!r} with exponent {case['exponent']}",
             parse_amount(case["text"], case["exponent"]), want)


def main(argv):
    if sys.version_info < (3, 8):
        print("check_vectors.py needs Python 3.8 or later")
        return 2
    path = argv[1] if len(argv) > 1 else "docs/test-vectors.json"
    with open(path, encoding="utf-8") as f:
        vectors = json.load(f)
    c = Checker()
    c.section("BIP340 self-test", check_bip340)
    for key in vectors["keys"]:
        SECRETS[hex32(key["public_key"])] = hex32(key["secret_hex"])
    c.section("keys", check_keys, vectors)
    c.section("genesis", check_genesis, vectors)
    history = {"minted": 0, "unspent": {}}

    def transactions(c):
        history["minted"], history["unspent"] = check_transactions(c, vectors)

    c.section("transactions", transactions)
    c.section("block", check_block, vectors, history["minted"])
    c.section("Merkle trees", check_merkle_trees, vectors)
    c.section("amounts", check_amounts, vectors)
    c.section("clawback authorisations", check_clawback_authorizations, vectors)
    c.section("clawback transactions", check_clawback_transactions, vectors, history["unspent"])
    c.section("refund transactions", check_refunds, vectors, history["unspent"])
    c.section("redeem transactions", check_redemptions, vectors, history["unspent"])
    c.section("claims", check_claims, vectors)
    c.section("recovery transactions", check_recoveries, vectors)
    c.section("other chain", check_other_chain, vectors)
    print(f"{path}: {c.passed} passed, {c.failed} failed")
    return 0 if c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
