//! Properties of the encodings and of the stateless checks, on generated
//! transactions within and beyond the limits (proptest, 256 cases each):
//! the stored record and the protobuf form round-trip; the txid covers
//! exactly the signed fields; protobuf decoding and `check_shape` refuse
//! exactly what docs/PROTOCOL.md §4.6 and §12 forbid, each time with one of
//! the reasons the document gives for what is wrong; `verify` returns the
//! txid or a stateless refusal and never panics; a transaction verifies as
//! its witnesses signed it and not after any signed bit changes; amount
//! text obeys §2.
//!
//! The rules are checked as a set, not in the document's order (§4.6 says
//! a client acts on the reason, not the order).
//!
//! A failure prints the smallest input proptest shrank it to and saves its
//! seed in `tests/properties.proptest-regressions`, which is replayed first
//! on every later run. docs/FUZZING.md has the fuzz targets that go with
//! these.

use std::sync::OnceLock;

use proptest::collection::{hash_set, vec};
use proptest::prelude::*;
use proptest::sample::{Index, subsequence};
use settled::client::{self, transaction_from_proto, transaction_to_proto};
use settled::limits::{CURRENCY_EXPONENT_MAX, TX_INPUTS_MAX, TX_OUTPUTS_MAX, TX_REFERENCE_BYTES_MAX, TX_WITNESSES_MAX};
use settled::{
    Address, AmountError, ChainId, Class, DecodeError, Keypair, KnownKeys, OutPoint, Output, Reason, TX_VERSION,
    Transaction, TxId, TxKind, Witness, check_shape, decode_tx_record, format_amount, is_valid_key, parse_amount,
    proto, sha256, tx_canonical_bytes, tx_record_bytes, txid, verify, verify_with,
};

// ---- generators -------------------------------------------------------------

const KINDS: [TxKind; 6] =
    [TxKind::Transfer, TxKind::Mint, TxKind::Redeem, TxKind::Clawback, TxKind::Refund, TxKind::Recovery];

/// Keys whose secrets the tests know, so that they can sign; few enough
/// that generated transactions reuse them (duplicate witnesses, change to a
/// payer).
const KEYS: usize = 8;

/// The ledger the transactions are signed for (any chain id will do).
const CHAIN: ChainId = ChainId([0xc4; 32]);

fn keys() -> &'static [Keypair] {
    static POOL: OnceLock<Vec<Keypair>> = OnceLock::new();
    POOL.get_or_init(|| (1..=KEYS as u8).map(|b| Keypair::from_secret(&[b; 32]).expect("a valid secret")).collect())
}

fn keypair_of(address: &Address) -> &'static Keypair {
    keys().iter().find(|k| k.address() == *address).expect("a pool key")
}

/// About half of all 32-byte strings are x coordinates of curve points;
/// the pool keys always are.
fn address() -> impl Strategy<Value = Address> {
    prop_oneof![any::<[u8; 32]>().prop_map(Address), (0..KEYS).prop_map(|i| keys()[i].address())]
}

fn amount_minor() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0), Just(1), Just(u64::MAX), any::<u64>()]
}

fn random_outpoint() -> impl Strategy<Value = OutPoint> {
    (any::<[u8; 32]>(), any::<u32>()).prop_map(|(txid, index)| OutPoint { txid: TxId(txid), index })
}

/// Random outpoints, and outpoints of one txid that collide within a list.
fn outpoint() -> impl Strategy<Value = OutPoint> {
    prop_oneof![random_outpoint(), (0..3u32).prop_map(|index| OutPoint { txid: TxId([0; 32]), index })]
}

fn output() -> impl Strategy<Value = Output> {
    (address(), amount_minor(), prop_oneof![Just(0), any::<u32>()])
        .prop_map(|(owner, amount_minor, programme)| Output { owner, amount_minor, programme })
}

fn witness() -> impl Strategy<Value = Witness> {
    (address(), any::<[u8; 64]>()).prop_map(|(public_key, signature)| Witness { public_key, signature })
}

/// Any bytes, and programme ids with a `valid_until` (what a clawback's
/// reference must be).
fn reference(bytes_max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![vec(any::<u8>(), 0..=bytes_max), clawback_reference(any::<u32>())]
}

/// A clawback's reference: a programme id (u32 BE) then the programme's
/// `valid_until` (u64 BE).
fn clawback_reference(programme: impl Strategy<Value = u32>) -> impl Strategy<Value = Vec<u8>> {
    (programme, prop_oneof![Just(u64::MAX), any::<u64>()])
        .prop_map(|(p, until)| [p.to_be_bytes().as_slice(), until.to_be_bytes().as_slice()].concat())
}

/// Transactions with up to `count_max` inputs, outputs and witnesses and a
/// reference of up to `reference_bytes_max` bytes, mostly of the current
/// version.
fn transaction(count_max: usize, reference_bytes_max: usize) -> impl Strategy<Value = Transaction> {
    (
        prop_oneof![9 => Just(TX_VERSION), 1 => any::<u8>()],
        proptest::sample::select(KINDS.to_vec()),
        vec(outpoint(), 0..=count_max),
        vec(output(), 0..=count_max),
        reference(reference_bytes_max),
        vec(witness(), 0..=count_max),
    )
        .prop_map(|(version, kind, inputs, outputs, reference, witnesses)| Transaction {
            version,
            kind,
            inputs,
            outputs,
            reference,
            witnesses,
        })
}

fn within_limits() -> impl Strategy<Value = Transaction> {
    transaction(TX_INPUTS_MAX.max(TX_OUTPUTS_MAX).max(TX_WITNESSES_MAX), TX_REFERENCE_BYTES_MAX)
}

/// Up to 8 over every count limit and up to 100 bytes of reference.
fn beyond_limits() -> impl Strategy<Value = Transaction> {
    transaction(TX_INPUTS_MAX.max(TX_OUTPUTS_MAX).max(TX_WITNESSES_MAX) + 8, 100)
}

/// Transactions that keep every structural rule of §4.6, paying pool keys,
/// with up to `witnesses_max` distinct pool keys as witnesses (signatures
/// random: see `signed`).
fn well_formed(witnesses_max: usize) -> impl Strategy<Value = Transaction> {
    proptest::sample::select(KINDS.to_vec()).prop_flat_map(move |kind| {
        let inputs = match kind {
            TxKind::Mint => 0..=0,
            _ => 1..=TX_INPUTS_MAX,
        };
        let outputs = match kind {
            TxKind::Clawback => 1..=1,
            TxKind::Redeem => 0..=TX_OUTPUTS_MAX,
            _ => 1..=TX_OUTPUTS_MAX,
        };
        let reference = match kind {
            TxKind::Mint => vec(any::<u8>(), 1..=TX_REFERENCE_BYTES_MAX).boxed(),
            TxKind::Clawback => clawback_reference(1..=u32::MAX).boxed(),
            TxKind::Refund => vec(any::<u8>(), 32..=32).boxed(),
            TxKind::Recovery => vec(any::<u8>(), 64..=64).boxed(),
            _ => vec(any::<u8>(), 0..=TX_REFERENCE_BYTES_MAX).boxed(),
        };
        // Sixteen outputs of at most u64::MAX / 16 cannot overflow.
        let output = (0..KEYS, 1..=u64::MAX / 16, any::<u32>()).prop_map(|(key, amount_minor, programme)| Output {
            owner: keys()[key].address(),
            amount_minor,
            programme,
        });
        (
            Just(kind),
            hash_set(random_outpoint(), inputs),
            vec(output, outputs),
            reference,
            subsequence((0..KEYS).collect::<Vec<_>>(), 1..=witnesses_max.min(KEYS)),
            any::<[u8; 64]>(),
        )
            .prop_map(|(kind, inputs, outputs, reference, signers, signature)| Transaction {
                version: TX_VERSION,
                kind,
                inputs: inputs.into_iter().collect(),
                outputs,
                reference,
                witnesses: signers.iter().map(|i| Witness { public_key: keys()[*i].address(), signature }).collect(),
            })
    })
}

/// One way of breaking a well-formed transaction.
#[derive(Clone, Debug)]
enum Break {
    Version(u8),
    Kind(usize),
    Inputs(usize),
    DuplicateInput,
    ClearInputs,
    Outputs(usize),
    ClearOutputs,
    ZeroAmount(Index),
    OverflowAmounts,
    Owner(Index, Address),
    Reference(Vec<u8>),
    ClearReference,
    ClearWitnesses,
    Witnesses(usize),
    DuplicateWitness,
}

fn breakage() -> impl Strategy<Value = Break> {
    prop_oneof![
        (0..=u8::MAX).prop_filter("not the current version", |v| *v != TX_VERSION).prop_map(Break::Version),
        (1..4usize).prop_map(Break::Kind),
        (TX_INPUTS_MAX - 1..=TX_INPUTS_MAX + 2).prop_map(Break::Inputs),
        Just(Break::DuplicateInput),
        Just(Break::ClearInputs),
        (TX_OUTPUTS_MAX - 1..=TX_OUTPUTS_MAX + 2).prop_map(Break::Outputs),
        Just(Break::ClearOutputs),
        any::<Index>().prop_map(Break::ZeroAmount),
        Just(Break::OverflowAmounts),
        (any::<Index>(), any::<[u8; 32]>().prop_map(Address)).prop_map(|(at, owner)| Break::Owner(at, owner)),
        vec(any::<u8>(), 0..=TX_REFERENCE_BYTES_MAX + 4).prop_map(Break::Reference),
        Just(Break::ClearReference),
        Just(Break::ClearWitnesses),
        (TX_WITNESSES_MAX - 1..=TX_WITNESSES_MAX + 2).prop_map(Break::Witnesses),
        Just(Break::DuplicateWitness),
    ]
}

fn apply_break(tx: &mut Transaction, breakage: &Break) {
    match breakage {
        Break::Version(version) => tx.version = *version,
        Break::Kind(by) => {
            let at = KINDS.iter().position(|k| *k == tx.kind).expect("a kind");
            tx.kind = KINDS[(at + by) % KINDS.len()];
        }
        Break::Inputs(count) => {
            tx.inputs = (0..*count).map(|i| OutPoint { txid: TxId([9; 32]), index: i as u32 }).collect();
        }
        Break::DuplicateInput => {
            let input = tx.inputs.first().copied().unwrap_or(OutPoint { txid: TxId([9; 32]), index: 0 });
            tx.inputs.extend([input, input]);
        }
        Break::ClearInputs => tx.inputs.clear(),
        Break::Outputs(count) => {
            let owner = keys()[0].address();
            tx.outputs = vec![Output { owner, amount_minor: 1, programme: 0 }; *count];
        }
        Break::ClearOutputs => tx.outputs.clear(),
        Break::ZeroAmount(at) => {
            if let Some(output) = nth(&mut tx.outputs, at) {
                output.amount_minor = 0;
            }
        }
        Break::OverflowAmounts => {
            let owner = keys()[0].address();
            tx.outputs.push(Output { owner, amount_minor: u64::MAX, programme: 0 });
            tx.outputs.push(Output { owner, amount_minor: u64::MAX, programme: 0 });
        }
        Break::Owner(at, owner) => {
            if let Some(output) = nth(&mut tx.outputs, at) {
                output.owner = *owner;
            }
        }
        Break::Reference(reference) => tx.reference.clone_from(reference),
        Break::ClearReference => tx.reference.clear(),
        Break::ClearWitnesses => tx.witnesses.clear(),
        Break::Witnesses(count) => {
            tx.witnesses =
                (0..*count).map(|i| Witness { public_key: Address([i as u8; 32]), signature: [0; 64] }).collect();
        }
        Break::DuplicateWitness => {
            let key = tx.witnesses.first().map_or(keys()[0].address(), |w| w.public_key);
            tx.witnesses.extend([Witness { public_key: key, signature: [1; 64] }; 2]);
        }
    }
}

fn nth<'a, T>(items: &'a mut [T], at: &Index) -> Option<&'a mut T> {
    (!items.is_empty()).then(|| at.index(items.len())).map(|at| &mut items[at])
}

/// Well-formed transactions with one to three things broken.
fn broken() -> impl Strategy<Value = Transaction> {
    (well_formed(4), vec(breakage(), 1..=3)).prop_map(|(mut tx, breaks)| {
        for b in &breaks {
            apply_break(&mut tx, b);
        }
        tx
    })
}

/// Everything the stateless checks may be given.
fn any_transaction() -> impl Strategy<Value = Transaction> {
    prop_oneof![beyond_limits(), well_formed(KEYS), broken()]
}

/// What a witness of `tx` signs on the ledger `chain` (§4.4):
/// sha256("STLW" || 2 || chain || txid), or for a clawback whose reference
/// names a programme and a `valid_until` and whose one output is the
/// treasury, sha256("STLC" || 2 || chain || programme || treasury ||
/// valid_until); for a recovery whose reference names two wallets,
/// sha256("STLV" || 2 || chain || lost || replacement) (§4.12).
fn signed_message(tx: &Transaction, chain: &ChainId) -> [u8; 32] {
    if tx.kind == TxKind::Recovery && tx.reference.len() == 64 {
        let mut bytes = b"STLV".to_vec();
        bytes.push(2);
        bytes.extend_from_slice(&chain.0);
        bytes.extend_from_slice(&tx.reference);
        return sha256(&bytes);
    }
    match (<[u8; 12]>::try_from(tx.reference.as_slice()), tx.outputs.as_slice()) {
        (Ok(reference), [treasury]) if tx.kind == TxKind::Clawback && reference[..4] != [0; 4] => {
            let mut bytes = b"STLC".to_vec();
            bytes.push(2);
            bytes.extend_from_slice(&chain.0);
            bytes.extend_from_slice(&reference[..4]);
            bytes.extend_from_slice(&treasury.owner.0);
            bytes.extend_from_slice(&reference[4..]);
            sha256(&bytes)
        }
        _ => {
            let mut bytes = b"STLW".to_vec();
            bytes.push(2);
            bytes.extend_from_slice(&chain.0);
            bytes.extend_from_slice(&txid(tx).0);
            sha256(&bytes)
        }
    }
}

/// A well-formed transaction of any kind, each witness a real signature by
/// its key (deterministic: fixed auxiliary randomness).
fn signed() -> impl Strategy<Value = Transaction> {
    (well_formed(3), any::<[u8; 32]>()).prop_map(|(mut tx, aux)| {
        let message = signed_message(&tx, &CHAIN);
        for witness in &mut tx.witnesses {
            witness.signature = keypair_of(&witness.public_key).sign_with_aux(&message, &aux);
        }
        tx
    })
}

/// The transaction without its witnesses: what the txid commits to.
fn signed_fields(tx: &Transaction) -> Transaction {
    Transaction { witnesses: Vec::new(), ..tx.clone() }
}

// ---- the documented rules ---------------------------------------------------

/// Every rule of docs/PROTOCOL.md §4.6 (stateless steps 3 to 7: all but the
/// signatures) that `tx` breaks, named by the reason the document gives it.
/// Written from the document, not from src/verify.rs.
fn documented_violations(tx: &Transaction) -> Vec<Reason> {
    let mut broken = Vec::new();
    let mut rule = |broke: bool, reason: Reason| {
        if broke {
            broken.push(reason);
        }
    };
    rule(tx.version != 2, Reason::UnsupportedVersion);
    rule(tx.inputs.len() > 16, Reason::TooManyInputs);
    rule(tx.outputs.len() > 16, Reason::TooManyOutputs);
    rule(tx.witnesses.len() > 16, Reason::TooManyWitnesses);
    rule(tx.reference.len() > 64, Reason::ReferenceTooLong);
    match tx.kind {
        TxKind::Mint => {
            rule(!tx.inputs.is_empty(), Reason::MintHasInputs);
            rule(tx.reference.is_empty(), Reason::MintNeedsReference);
        }
        TxKind::Clawback => {
            rule(tx.inputs.is_empty(), Reason::NoInputs);
            rule(tx.outputs.len() != 1, Reason::Malformed);
            rule(tx.reference.len() != 12 || tx.reference[..4] == [0; 4], Reason::Malformed);
        }
        TxKind::Refund => {
            rule(tx.inputs.is_empty(), Reason::NoInputs);
            rule(tx.reference.len() != 32, Reason::Malformed);
        }
        TxKind::Recovery => {
            rule(tx.inputs.is_empty(), Reason::NoInputs);
            rule(tx.reference.len() != 64, Reason::Malformed);
        }
        TxKind::Transfer | TxKind::Redeem => rule(tx.inputs.is_empty(), Reason::NoInputs),
    }
    rule(tx.outputs.is_empty() && !matches!(tx.kind, TxKind::Redeem | TxKind::Clawback), Reason::NoOutputs);
    rule(tx.witnesses.is_empty(), Reason::NoWitnesses);
    rule((1..tx.inputs.len()).any(|i| tx.inputs[..i].contains(&tx.inputs[i])), Reason::DuplicateInput);
    rule(tx.outputs.iter().any(|o| o.amount_minor == 0), Reason::ZeroAmount);
    let total: u128 = tx.outputs.iter().map(|o| u128::from(o.amount_minor)).sum();
    rule(total > u128::from(u64::MAX), Reason::AmountOverflow);
    rule(tx.outputs.iter().any(|o| !is_valid_key(&o.owner)), Reason::BadAddress);
    let keys: Vec<Address> = tx.witnesses.iter().map(|w| w.public_key).collect();
    rule((1..keys.len()).any(|i| keys[..i].contains(&keys[i])), Reason::DuplicateWitness);
    broken
}

// ---- encoding ---------------------------------------------------------------

proptest! {
    #[test]
    fn a_stored_record_decodes_to_the_transaction_it_encodes(tx in beyond_limits()) {
        let record = tx_record_bytes(&tx);
        prop_assert!(record.starts_with(&tx_canonical_bytes(&tx)));
        prop_assert_eq!(decode_tx_record(&record), Ok(tx));
    }

    /// The canonical bytes followed by a zero witness count are the record
    /// of the transaction without witnesses: distinct signed fields never
    /// share canonical bytes, so never a txid (short of a SHA-256 collision).
    #[test]
    fn the_canonical_bytes_determine_every_signed_field(tx in beyond_limits()) {
        let mut bytes = tx_canonical_bytes(&tx);
        bytes.push(0);
        prop_assert_eq!(decode_tx_record(&bytes), Ok(signed_fields(&tx)));
    }

    #[test]
    fn a_cut_record_is_truncated_and_a_longer_one_has_trailing_bytes(
        tx in within_limits(),
        cut in any::<Index>(),
        extra in vec(any::<u8>(), 1..=8),
    ) {
        let record = tx_record_bytes(&tx);
        let cut = cut.index(record.len());
        prop_assert!(matches!(decode_tx_record(&record[..cut]), Err(DecodeError::Truncated(_))));
        let longer = [record.as_slice(), extra.as_slice()].concat();
        prop_assert_eq!(decode_tx_record(&longer), Err(DecodeError::Trailing(extra.len())));
    }
}

// ---- txid -------------------------------------------------------------------

/// One change to a transaction: to a signed field (masks are non-zero, so
/// it is a change whenever the list it indexes is not empty), or to the
/// witnesses.
#[derive(Clone, Debug)]
enum Change {
    Version(u8),
    Kind(usize),
    InputTxid(Index, Index, u8),
    InputIndex(Index, u32),
    AddInput(Index, OutPoint),
    RemoveInput(Index),
    OutputOwner(Index, Index, u8),
    OutputAmount(Index, u64),
    OutputProgramme(Index, u32),
    AddOutput(Index, Output),
    RemoveOutput(Index),
    SwapOutputs(Index, Index),
    ReferenceByte(Index, u8),
    AddReferenceByte(Index, u8),
    RemoveReferenceByte(Index),
    Witnesses(Vec<Witness>),
}

fn change() -> impl Strategy<Value = Change> {
    let index = any::<Index>;
    prop_oneof![
        (1..=u8::MAX).prop_map(Change::Version),
        (1..4usize).prop_map(Change::Kind),
        (index(), index(), 1..=u8::MAX).prop_map(|(at, byte, mask)| Change::InputTxid(at, byte, mask)),
        (index(), 1..=u32::MAX).prop_map(|(at, mask)| Change::InputIndex(at, mask)),
        (index(), outpoint()).prop_map(|(at, input)| Change::AddInput(at, input)),
        index().prop_map(Change::RemoveInput),
        (index(), index(), 1..=u8::MAX).prop_map(|(at, byte, mask)| Change::OutputOwner(at, byte, mask)),
        (index(), 1..=u64::MAX).prop_map(|(at, mask)| Change::OutputAmount(at, mask)),
        (index(), 1..=u32::MAX).prop_map(|(at, mask)| Change::OutputProgramme(at, mask)),
        (index(), output()).prop_map(|(at, output)| Change::AddOutput(at, output)),
        index().prop_map(Change::RemoveOutput),
        (index(), index()).prop_map(|(a, b)| Change::SwapOutputs(a, b)),
        (index(), 1..=u8::MAX).prop_map(|(at, mask)| Change::ReferenceByte(at, mask)),
        (index(), any::<u8>()).prop_map(|(at, byte)| Change::AddReferenceByte(at, byte)),
        index().prop_map(Change::RemoveReferenceByte),
        vec(witness(), 0..=TX_WITNESSES_MAX).prop_map(Change::Witnesses),
    ]
}

fn apply_change(tx: &mut Transaction, change: &Change) {
    let (inputs, outputs, reference) = (tx.inputs.len(), tx.outputs.len(), tx.reference.len());
    match change {
        Change::Version(mask) => tx.version ^= mask,
        Change::Kind(by) => {
            let at = KINDS.iter().position(|k| *k == tx.kind).expect("a kind");
            tx.kind = KINDS[(at + by) % KINDS.len()];
        }
        Change::InputTxid(at, byte, mask) if inputs > 0 => tx.inputs[at.index(inputs)].txid.0[byte.index(32)] ^= mask,
        Change::InputIndex(at, mask) if inputs > 0 => tx.inputs[at.index(inputs)].index ^= mask,
        Change::AddInput(at, input) => tx.inputs.insert(at.index(inputs + 1), *input),
        Change::RemoveInput(at) if inputs > 0 => {
            tx.inputs.remove(at.index(inputs));
        }
        Change::OutputOwner(at, byte, mask) if outputs > 0 => {
            tx.outputs[at.index(outputs)].owner.0[byte.index(32)] ^= mask;
        }
        Change::OutputAmount(at, mask) if outputs > 0 => tx.outputs[at.index(outputs)].amount_minor ^= mask,
        Change::OutputProgramme(at, mask) if outputs > 0 => tx.outputs[at.index(outputs)].programme ^= mask,
        Change::AddOutput(at, output) => tx.outputs.insert(at.index(outputs + 1), *output),
        Change::RemoveOutput(at) if outputs > 0 => {
            tx.outputs.remove(at.index(outputs));
        }
        Change::SwapOutputs(a, b) if outputs > 0 => tx.outputs.swap(a.index(outputs), b.index(outputs)),
        Change::ReferenceByte(at, mask) if reference > 0 => tx.reference[at.index(reference)] ^= mask,
        Change::AddReferenceByte(at, byte) => tx.reference.insert(at.index(reference + 1), *byte),
        Change::RemoveReferenceByte(at) if reference > 0 => {
            tx.reference.remove(at.index(reference));
        }
        Change::Witnesses(witnesses) => tx.witnesses.clone_from(witnesses),
        _ => {}
    }
}

proptest! {
    /// Equal txids exactly when the signed fields are equal: every change
    /// to a version, kind, input, output, their order or the reference
    /// moves the txid; witnesses never do.
    #[test]
    fn the_txid_changes_with_every_signed_field_and_with_nothing_else(
        tx in beyond_limits(),
        change in change(),
    ) {
        let mut changed = tx.clone();
        apply_change(&mut changed, &change);
        let same_fields = signed_fields(&tx) == signed_fields(&changed);
        prop_assert_eq!(txid(&tx) == txid(&changed), same_fields, "{:?}", change);
        if let Change::Witnesses(_) = change {
            prop_assert!(same_fields);
        }
    }
}

// ---- protobuf ---------------------------------------------------------------

proptest! {
    /// Within the count limits a transaction survives the trip through
    /// protobuf unchanged (version, kind, every field, any reference);
    /// beyond them decoding refuses with the first count over its limit.
    #[test]
    fn protobuf_round_trips_within_the_count_limits_and_refuses_beyond(tx in beyond_limits()) {
        let decoded = transaction_from_proto(&transaction_to_proto(&tx));
        let over = if tx.inputs.len() > TX_INPUTS_MAX {
            Some(Reason::TooManyInputs)
        } else if tx.outputs.len() > TX_OUTPUTS_MAX {
            Some(Reason::TooManyOutputs)
        } else if tx.witnesses.len() > TX_WITNESSES_MAX {
            Some(Reason::TooManyWitnesses)
        } else {
            None
        };
        match over {
            None => prop_assert_eq!(decoded, Ok(tx)),
            Some(reason) => prop_assert_eq!(decoded.map_err(|r| r.reason), Err(reason)),
        }
    }
}

/// Mostly the right size, sometimes any size from 0 to `size + 8`.
fn sized_bytes(size: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![4 => vec(any::<u8>(), size), 1 => vec(any::<u8>(), 0..=size + 8)]
}

/// Protobuf transactions as a client may send them: any version and kind
/// number, any count, fields of any size.
fn proto_transaction() -> impl Strategy<Value = proto::Transaction> {
    let input = (sized_bytes(32), any::<u32>()).prop_map(|(txid, index)| proto::OutPoint { txid, index });
    let output = (sized_bytes(32), any::<u64>(), any::<u32>())
        .prop_map(|(address, amount_minor, programme_id)| proto::Output { address, amount_minor, programme_id });
    let witness =
        (sized_bytes(32), sized_bytes(64)).prop_map(|(public_key, signature)| proto::Witness { public_key, signature });
    (
        prop_oneof![Just(u32::from(TX_VERSION)), 0..=u32::from(u8::MAX), any::<u32>()],
        prop_oneof![0..=5i32, any::<i32>()],
        vec(input, 0..=TX_INPUTS_MAX + 4),
        vec(output, 0..=TX_OUTPUTS_MAX + 4),
        vec(any::<u8>(), 0..=100),
        vec(witness, 0..=TX_WITNESSES_MAX + 4),
    )
        .prop_map(|(version, kind, inputs, outputs, reference, witnesses)| proto::Transaction {
            version,
            kind,
            inputs,
            outputs,
            reference,
            witnesses,
        })
}

/// Every rule of §4.6 step 1 (decoding the protobuf) that `tx` breaks.
fn documented_decoding_violations(tx: &proto::Transaction) -> Vec<Reason> {
    let mut broken = Vec::new();
    let mut rule = |broke: bool, reason: Reason| {
        if broke {
            broken.push(reason);
        }
    };
    rule(tx.version > 255, Reason::UnsupportedVersion);
    rule(!(1..=6).contains(&tx.kind), Reason::UnsupportedKind);
    rule(tx.inputs.len() > 16, Reason::TooManyInputs);
    rule(tx.outputs.len() > 16, Reason::TooManyOutputs);
    rule(tx.witnesses.len() > 16, Reason::TooManyWitnesses);
    rule(tx.inputs.iter().any(|i| i.txid.len() != 32), Reason::Malformed);
    rule(tx.outputs.iter().any(|o| o.address.len() != 32), Reason::BadAddress);
    rule(tx.witnesses.iter().any(|w| w.public_key.len() != 32 || w.signature.len() != 64), Reason::Malformed);
    broken
}

proptest! {
    /// Decoding accepts exactly the messages that break no rule of step 1,
    /// keeping every field, and refuses the others with a reason of a rule
    /// they break.
    #[test]
    fn protobuf_decoding_refuses_exactly_the_malformed_fields(message in proto_transaction()) {
        let violations = documented_decoding_violations(&message);
        match transaction_from_proto(&message) {
            Ok(tx) => {
                prop_assert!(violations.is_empty(), "decoded, but breaks {:?}", violations);
                prop_assert_eq!(transaction_to_proto(&tx), message);
            }
            Err(refusal) => prop_assert!(
                violations.contains(&refusal.reason),
                "refused with {:?}, but breaks only {:?}",
                refusal.reason,
                violations
            ),
        }
    }
}

// ---- verify and check_shape -------------------------------------------------

proptest! {
    /// `verify` accepts with the transaction's own txid or refuses with a
    /// stateless (INVALID_ARGUMENT) reason, never panics (references up to
    /// 255 bytes, counts over the limits), and agrees with `check_shape`.
    #[test]
    fn verify_returns_the_txid_or_a_stateless_refusal(
        tx in prop_oneof![any_transaction(), signed(), transaction(TX_INPUTS_MAX + 8, 255)],
    ) {
        let shape = check_shape(&tx);
        match verify(tx.clone(), &CHAIN) {
            Ok(verified) => {
                prop_assert_eq!(verified.txid, txid(&tx));
                prop_assert_eq!(&verified.tx, &tx);
                prop_assert_eq!(shape, Ok(()));
            }
            Err(refusal) => {
                prop_assert_eq!(refusal.reason.class(), Class::InvalidArgument, "{}", refusal);
                match shape {
                    // Right shape: only a signature can be wrong.
                    Ok(()) => prop_assert_eq!(refusal.reason, Reason::BadSignature, "{}", refusal),
                    // Signatures are checked before addresses.
                    Err(shape) if shape.reason == Reason::BadAddress => prop_assert!(
                        matches!(refusal.reason, Reason::BadSignature | Reason::BadAddress),
                        "{}",
                        refusal
                    ),
                    Err(shape) => prop_assert_eq!(shape.reason, refusal.reason),
                }
            }
        }
    }

    /// §12: a count over its limit is refused with that count's reason
    /// (inputs, then outputs, then witnesses, then the reference).
    #[test]
    fn over_limit_counts_are_refused_with_their_reason(mut tx in beyond_limits()) {
        tx.version = TX_VERSION;
        let expected = if tx.inputs.len() > TX_INPUTS_MAX {
            Some(Reason::TooManyInputs)
        } else if tx.outputs.len() > TX_OUTPUTS_MAX {
            Some(Reason::TooManyOutputs)
        } else if tx.witnesses.len() > TX_WITNESSES_MAX {
            Some(Reason::TooManyWitnesses)
        } else if tx.reference.len() > TX_REFERENCE_BYTES_MAX {
            Some(Reason::ReferenceTooLong)
        } else {
            None
        };
        let reason = check_shape(&tx).err().map(|r| r.reason);
        match expected {
            Some(expected) => prop_assert_eq!(reason, Some(expected)),
            None => prop_assert!(!matches!(
                reason,
                Some(Reason::TooManyInputs | Reason::TooManyOutputs | Reason::TooManyWitnesses | Reason::ReferenceTooLong)
            )),
        }
    }

    /// `check_shape` accepts exactly the transactions that break none of the
    /// documented rules, and refuses the others with the reason of a rule
    /// they break.
    #[test]
    fn check_shape_refuses_exactly_what_the_protocol_forbids(tx in any_transaction()) {
        let violations = documented_violations(&tx);
        match check_shape(&tx) {
            Ok(()) => prop_assert!(violations.is_empty(), "accepted, but breaks {:?}", violations),
            Err(refusal) => prop_assert!(
                violations.contains(&refusal.reason),
                "refused with {:?}, but breaks only {:?}",
                refusal.reason,
                violations
            ),
        }
    }
}

// ---- signatures -------------------------------------------------------------

fn flip(bytes: &mut [u8], at: Index, mask: u8) {
    let at = at.index(bytes.len());
    bytes[at] ^= mask;
}

proptest! {
    /// `client::pay` builds a payment that verifies, with change back to the
    /// payer and the outputs adding up to the coin.
    #[test]
    fn a_payment_signed_by_its_owner_verifies(
        (payer, payee) in (0..KEYS, 0..KEYS),
        coin in random_outpoint(),
        (held_minor, amount_minor) in (1..=u64::MAX).prop_flat_map(|held| (Just(held), 1..=held)),
        programme in any::<u32>(),
        reference in vec(any::<u8>(), 0..=TX_REFERENCE_BYTES_MAX),
    ) {
        let (payer, payee) = (&keys()[payer], keys()[payee].address());
        let held = Output { owner: payer.address(), amount_minor: held_minor, programme };
        let tx = client::pay(&CHAIN, payer, (coin, held), payee, amount_minor, &reference);
        let total: u128 = tx.outputs.iter().map(|o| u128::from(o.amount_minor)).sum();
        prop_assert_eq!(total, u128::from(held_minor));
        let verified = verify(tx.clone(), &CHAIN);
        prop_assert!(verified.is_ok(), "{:?}", verified.err());
        prop_assert_eq!(verified.map(|v| v.txid).ok(), Some(txid(&tx)));
    }

    /// Any kind, signed by every witness over what §4.4 says it signs,
    /// verifies.
    #[test]
    fn a_transaction_signed_by_its_witnesses_verifies(tx in signed()) {
        let verified = verify(tx.clone(), &CHAIN);
        prop_assert!(verified.is_ok(), "{:?}", verified.err());
    }

    /// Signatures bind a transaction to one ledger: signed for one chain,
    /// any kind is a bad signature on any other.
    #[test]
    fn a_transaction_signed_for_one_chain_is_a_bad_signature_on_another(
        tx in signed(),
        other in any::<[u8; 32]>().prop_filter("another chain", |c| *c != CHAIN.0),
    ) {
        prop_assert_eq!(verify(tx, &ChainId(other)).map(|_| ()).map_err(|r| r.reason), Err(Reason::BadSignature));
    }

    #[test]
    fn flipping_any_bit_of_a_signature_is_a_bad_signature(
        mut tx in signed(),
        witness in any::<Index>(),
        at in any::<Index>(),
        mask in 1..=u8::MAX,
    ) {
        let witness = witness.index(tx.witnesses.len());
        flip(&mut tx.witnesses[witness].signature, at, mask);
        prop_assert_eq!(verify(tx, &CHAIN).map(|_| ()).map_err(|r| r.reason), Err(Reason::BadSignature));
    }

    /// The same with the witnesses' keys lifted and remembered from the
    /// valid transaction first, as the engine's verify stage keeps them.
    #[test]
    fn flipping_any_bit_of_a_signature_is_a_bad_signature_with_the_keys_known(
        mut tx in signed(),
        witness in any::<Index>(),
        at in any::<Index>(),
        mask in 1..=u8::MAX,
    ) {
        let known = KnownKeys::default();
        prop_assert!(verify_with(tx.clone(), &known, &CHAIN).is_ok());
        let witness = witness.index(tx.witnesses.len());
        flip(&mut tx.witnesses[witness].signature, at, mask);
        prop_assert_eq!(
            verify_with(tx, &known, &CHAIN).map(|_| ()).map_err(|r| r.reason),
            Err(Reason::BadSignature)
        );
    }

    /// Changing any bits of any signed byte (the canonical part of the
    /// record) leaves either bytes that are no transaction or a transaction
    /// that `verify` refuses. Not for a clawback, whose witnesses sign the
    /// programme's authorisation, not the txid: see the next property.
    #[test]
    fn flipping_any_bit_of_a_signed_field_makes_verify_refuse(
        tx in signed().prop_filter("witnesses sign the txid", |tx| !matches!(tx.kind, TxKind::Clawback | TxKind::Recovery)),
        at in any::<Index>(),
        mask in 1..=u8::MAX,
    ) {
        let mut record = tx_record_bytes(&tx);
        let signed_len = tx_canonical_bytes(&tx).len();
        flip(&mut record[..signed_len], at, mask);
        if let Ok(changed) = decode_tx_record(&record) {
            prop_assert!(verify(changed, &CHAIN).is_err());
        }
    }
}

proptest! {
    /// A recovery's authorisation covers the lost wallet and the
    /// replacement its reference names: changing any bit of the reference
    /// makes `verify` refuse.
    #[test]
    fn flipping_any_bit_of_a_recoverys_wallets_makes_verify_refuse(
        tx in signed().prop_filter("a recovery", |tx| tx.kind == TxKind::Recovery),
        at in any::<Index>(),
        mask in 1..=u8::MAX,
    ) {
        let mut changed = tx.clone();
        flip(&mut changed.reference, at, mask);
        let reason = verify(changed, &CHAIN).map(|_| ()).map_err(|r| r.reason);
        prop_assert_eq!(reason, Err(Reason::BadSignature));
    }
}

proptest! {
    /// A clawback's authorisation covers its programme and the programme's
    /// `valid_until`, which its reference names: changing any bit of the
    /// reference makes `verify` refuse. (Its inputs and amount are not
    /// signed by the issuers: one authorisation covers every batch the
    /// engine builds; the ledger checks them.)
    #[test]
    fn flipping_any_bit_of_a_clawbacks_programme_makes_verify_refuse(
        tx in signed().prop_filter("a clawback", |tx| tx.kind == TxKind::Clawback),
        at in any::<Index>(),
        mask in 1..=u8::MAX,
    ) {
        let mut changed = tx.clone();
        flip(&mut changed.reference, at, mask);
        // The signature no longer covers it, or it names programme 0.
        let reason = verify(changed, &CHAIN).map(|_| ()).map_err(|r| r.reason);
        prop_assert!(matches!(reason, Err(Reason::BadSignature | Reason::Malformed)), "{:?}", reason);
    }

    /// It covers the treasury too, the owner of its one output: changing
    /// any bit of it makes `verify` refuse.
    #[test]
    fn flipping_any_bit_of_a_clawbacks_treasury_makes_verify_refuse(
        tx in signed().prop_filter("a clawback", |tx| tx.kind == TxKind::Clawback),
        at in any::<Index>(),
        mask in 1..=u8::MAX,
    ) {
        let mut changed = tx.clone();
        flip(&mut changed.outputs[0].owner.0, at, mask);
        // The signature no longer covers it, or it is no key at all.
        let reason = verify(changed, &CHAIN).map(|_| ()).map_err(|r| r.reason);
        prop_assert!(matches!(reason, Err(Reason::BadSignature | Reason::BadAddress)), "{:?}", reason);
    }
}

// ---- amounts ----------------------------------------------------------------

/// Whole digits (with leading zeros) and fraction digits as text.
fn amount_text(zeros: usize, whole: &str, fraction: &str) -> String {
    let mut text = "0".repeat(zeros);
    text.push_str(whole);
    if !fraction.is_empty() {
        text.push('.');
        text.push_str(fraction);
    }
    text
}

/// §2 rule 5 in exact integers: whole * 10^exponent + the fraction padded
/// to `exponent` digits, if it fits a u64.
fn exact_minor(whole: &str, fraction: &str, exponent: u32) -> Option<u64> {
    let digits = |s: &str| s.bytes().fold(0u128, |n, b| n * 10 + u128::from(b - b'0'));
    let scale = 10u128.pow(exponent);
    let fraction_scale = 10u128.pow(exponent - fraction.len() as u32);
    u64::try_from(digits(whole) * scale + digits(fraction) * fraction_scale).ok()
}

/// §2 rule 3: digits, optionally a '.' and more digits.
fn is_plain_decimal(text: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match text.split_once('.') {
        Some((whole, fraction)) => digits(whole) && digits(fraction),
        None => digits(text),
    }
}

proptest! {
    #[test]
    fn formatting_then_parsing_gives_back_the_amount(minor in amount_minor(), exponent in 0..=CURRENCY_EXPONENT_MAX) {
        prop_assert_eq!(parse_amount(&format_amount(minor, exponent), exponent), Ok(minor));
    }

    /// Up to 30 leading zeros and 22 significant digits: the value in minor
    /// units exactly when it fits a u64, `overflow` otherwise.
    #[test]
    fn parsing_agrees_with_exact_integer_arithmetic(
        zeros in 0..=30usize,
        whole in "[0-9]{1,22}",
        exponent in 0..=CURRENCY_EXPONENT_MAX,
        fraction in "[0-9]{0,8}",
    ) {
        let fraction = &fraction[..fraction.len().min(exponent as usize)];
        let text = amount_text(zeros, &whole, fraction);
        match exact_minor(&whole, fraction, exponent) {
            Some(minor) => prop_assert_eq!(parse_amount(&text, exponent), Ok(minor), "{}", text),
            None => prop_assert_eq!(parse_amount(&text, exponent), Err(AmountError::Overflow(text.clone()))),
        }
    }

    /// Digits are counted, not value: more than the exponent is
    /// `too_precise` even when they are zeros, and whatever the size.
    #[test]
    fn more_decimals_than_the_exponent_are_too_precise(
        whole in "[0-9]{1,25}",
        exponent in 0..=CURRENCY_EXPONENT_MAX,
        extra in "[0-9]{1,6}",
        decimals in "[0-9]{8}",
    ) {
        let fraction = format!("{}{extra}", &decimals[..exponent as usize]);
        let text = amount_text(0, &whole, &fraction);
        prop_assert_eq!(
            parse_amount(&text, exponent),
            Err(AmountError::TooPrecise { text: text.clone(), exponent })
        );
    }

    /// Whatever the text: an exponent over 8 is refused first, and only
    /// plain decimal text parses, to an amount that formats and parses back.
    #[test]
    fn only_plain_decimal_text_parses(
        text in prop_oneof!["[0-9.+\\-e ,]{0,24}", "\\PC{0,24}"],
        exponent in 0..=CURRENCY_EXPONENT_MAX + 2,
    ) {
        match parse_amount(&text, exponent) {
            _ if exponent > CURRENCY_EXPONENT_MAX => {
                prop_assert_eq!(parse_amount(&text, exponent), Err(AmountError::BadExponent(exponent)));
            }
            Ok(minor) => {
                prop_assert!(is_plain_decimal(&text), "{:?} parsed", text);
                prop_assert_eq!(parse_amount(&format_amount(minor, exponent), exponent), Ok(minor));
            }
            Err(AmountError::NotDecimal(_)) => prop_assert!(!is_plain_decimal(&text), "{:?} refused", text),
            Err(AmountError::Empty) => prop_assert!(text.is_empty()),
            Err(_) => prop_assert!(is_plain_decimal(&text)),
        }
    }
}
