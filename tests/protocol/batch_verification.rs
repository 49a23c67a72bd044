//! BIP340 batch verification answers exactly as single verification does:
//! the BIP340 test vectors alone and among valid signatures (checked
//! against libsecp256k1 too), and, on generated batches of payments with
//! any subset of their signatures, keys or messages spoiled,
//! `verify_batched` gives every transaction the answer `verify_with` gives
//! it (proptest).

use std::sync::OnceLock;

use proptest::prelude::*;
use settled::batch::{self, SignatureCheck};
use settled::limits::BATCH_SIGNATURES_MAX;
use settled::{
    Address, ChainId, Keypair, KnownKeys, OutPoint, Output, Refusal, Transaction, TxId, VerifiedTx, client, verify_with,
};

/// BIP340's test vectors 0-14 (bitcoin/bips `bip-0340/test-vectors.csv`,
/// the 32-byte messages): index, key, message, signature, valid.
const BIP340_VECTORS: &[(u8, &str, &str, &str, bool)] = &[
    (
        0,
        "f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "e907831f80848d1069a5371b402410364bdf1c5f8307b0084c55f1ce2dca821525f66a4a85ea8b71e482a74f382d2ce5ebeee8fdb2172f477df4900d310536c0",
        true,
    ),
    (
        1,
        "dff1d77f2a671c5f36183726db2341be58feae1da2deced843240f7b502ba659",
        "243f6a8885a308d313198a2e03707344a4093822299f31d0082efa98ec4e6c89",
        "6896bd60eeae296db48a229ff71dfe071bde413e6d43f917dc8dcf8c78de33418906d11ac976abccb20b091292bff4ea897efcb639ea871cfa95f6de339e4b0a",
        true,
    ),
    (
        2,
        "dd308afec5777e13121fa72b9cc1b7cc0139715309b086c960e18fd969774eb8",
        "7e2d58d8b3bcdf1abadec7829054f90dda9805aab56c77333024b9d0a508b75c",
        "5831aaeed7b44bb74e5eab94ba9d4294c49bcf2a60728d8b4c200f50dd313c1bab745879a5ad954a72c45a91c3a51d3c7adea98d82f8481e0e1e03674a6f3fb7",
        true,
    ),
    (
        3,
        "25d1dff95105f5253c4022f628a996ad3a0d95fbf21d468a1b33f8c160d8f517",
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "7eb0509757e246f19449885651611cb965ecc1a187dd51b64fda1edc9637d5ec97582b9cb13db3933705b32ba982af5af25fd78881ebb32771fc5922efc66ea3",
        true,
    ),
    (
        4,
        "d69c3509bb99e412e68b0fe8544e72837dfa30746d8be2aa65975f29d22dc7b9",
        "4df3c3f68fcc83b27e9d42c90431a72499f17875c81a599b566c9889b9696703",
        "00000000000000000000003b78ce563f89a0ed9414f5aa28ad0d96d6795f9c6376afb1548af603b3eb45c9f8207dee1060cb71c04e80f593060b07d28308d7f4",
        true,
    ),
    (
        5,
        "eefdea4cdb677750a420fee807eacf21eb9898ae79b9768766e4faa04a2d4a34",
        "243f6a8885a308d313198a2e03707344a4093822299f31d0082efa98ec4e6c89",
        "6cff5c3ba86c69ea4b7376f31a9bcb4f74c1976089b2d9963da2e5543e17776969e89b4c5564d00349106b8497785dd7d1d713a8ae82b32fa79d5f7fc407d39b",
        false,
    ),
    (
        6,
        "dff1d77f2a671c5f36183726db2341be58feae1da2deced843240f7b502ba659",
        "243f6a8885a308d313198a2e03707344a4093822299f31d0082efa98ec4e6c89",
        "fff97bd5755eeea420453a14355235d382f6472f8568a18b2f057a14602975563cc27944640ac607cd107ae10923d9ef7a73c643e166be5ebeafa34b1ac553e2",
        false,
    ),
    (
        7,
        "dff1d77f2a671c5f36183726db2341be58feae1da2deced843240f7b502ba659",
        "243f6a8885a308d313198a2e03707344a4093822299f31d0082efa98ec4e6c89",
        "1fa62e331edbc21c394792d2ab1100a7b432b013df3f6ff4f99fcb33e0e1515f28890b3edb6e7189b630448b515ce4f8622a954cfe545735aaea5134fccdb2bd",
        false,
    ),
    (
        8,
        "dff1d77f2a671c5f36183726db2341be58feae1da2deced843240f7b502ba659",
        "243f6a8885a308d313198a2e03707344a4093822299f31d0082efa98ec4e6c89",
        "6cff5c3ba86c69ea4b7376f31a9bcb4f74c1976089b2d9963da2e5543e177769961764b3aa9b2ffcb6ef947b6887a226e8d7c93e00c5ed0c1834ff0d0c2e6da6",
        false,
    ),
    (
        9,
        "dff1d77f2a671c5f36183726db2341be58feae1da2deced843240f7b502ba659",
        "243f6a8885a308d313198a2e03707344a4093822299f31d0082efa98ec4e6c89",
        "0000000000000000000000000000000000000000000000000000000000000000123dda8328af9c23a94c1feecfd123ba4fb73476f0d594dcb65c6425bd186051",
        false,
    ),
    (
        10,
        "dff1d77f2a671c5f36183726db2341be58feae1da2deced843240f7b502ba659",
        "243f6a8885a308d313198a2e03707344a4093822299f31d0082efa98ec4e6c89",
        "00000000000000000000000000000000000000000000000000000000000000017615fbaf5ae28864013c099742deadb4dba87f11ac6754f93780d5a1837cf197",
        false,
    ),
    (
        11,
        "dff1d77f2a671c5f36183726db2341be58feae1da2deced843240f7b502ba659",
        "243f6a8885a308d313198a2e03707344a4093822299f31d0082efa98ec4e6c89",
        "4a298dacae57395a15d0795ddbfd1dcb564da82b0f269bc70a74f8220429ba1d69e89b4c5564d00349106b8497785dd7d1d713a8ae82b32fa79d5f7fc407d39b",
        false,
    ),
    (
        12,
        "dff1d77f2a671c5f36183726db2341be58feae1da2deced843240f7b502ba659",
        "243f6a8885a308d313198a2e03707344a4093822299f31d0082efa98ec4e6c89",
        "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f69e89b4c5564d00349106b8497785dd7d1d713a8ae82b32fa79d5f7fc407d39b",
        false,
    ),
    (
        13,
        "dff1d77f2a671c5f36183726db2341be58feae1da2deced843240f7b502ba659",
        "243f6a8885a308d313198a2e03707344a4093822299f31d0082efa98ec4e6c89",
        "6cff5c3ba86c69ea4b7376f31a9bcb4f74c1976089b2d9963da2e5543e177769fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
        false,
    ),
    (
        14,
        "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc30",
        "243f6a8885a308d313198a2e03707344a4093822299f31d0082efa98ec4e6c89",
        "6cff5c3ba86c69ea4b7376f31a9bcb4f74c1976089b2d9963da2e5543e17776969e89b4c5564d00349106b8497785dd7d1d713a8ae82b32fa79d5f7fc407d39b",
        false,
    ),
];

fn unhex<const N: usize>(text: &str) -> [u8; N] {
    let mut bytes = [0u8; N];
    hex::decode_to_slice(text, &mut bytes).expect("vector hex");
    bytes
}

/// A vector's key, message and signature.
type Vector = ([u8; 32], [u8; 32], [u8; 64]);

fn vector(index: usize) -> Vector {
    let (_, key, message, signature, _) = BIP340_VECTORS[index];
    (unhex(key), unhex(message), unhex(signature))
}

/// Seven valid signatures to stand beside a vector in a batch.
fn honest() -> Vec<(k256::schnorr::VerifyingKey, [u8; 32], [u8; 64])> {
    (0..7u8)
        .map(|i| {
            let keypair = Keypair::from_secret(&[i + 1; 32]).expect("a valid secret");
            let message = settled::sha256(&[i]);
            (batch::lift(&keypair.address()).expect("on the curve"), message, keypair.sign(&message))
        })
        .collect()
}

#[test]
fn bip340_vectors_answer_as_published_alone_in_a_batch_and_in_libsecp256k1() {
    let honest = honest();
    for (at, &(index, _, _, _, valid)) in BIP340_VECTORS.iter().enumerate() {
        let (key, message, signature) = vector(at);
        let reference = secp256k1::XOnlyPublicKey::from_byte_array(key).is_ok_and(|key| {
            secp256k1::schnorr::verify(&secp256k1::schnorr::Signature::from_byte_array(signature), &message, &key)
                .is_ok()
        });
        assert_eq!(reference, valid, "libsecp256k1 on vector {index}");
        assert_eq!(settled::verify_signature(&Address(key), &message, &signature), valid, "single, vector {index}");
        // A key that is not on the curve never reaches a batch: the
        // verify stage refuses its witness as it lifts it.
        let Some(lifted) = batch::lift(&Address(key)) else {
            assert!(!valid, "vector {index}: a valid signature by a key off the curve");
            continue;
        };
        let alone = SignatureCheck { key: &lifted, message: &message, signature: &signature };
        assert_eq!(batch::verify_batch(&[alone]), valid, "batch of one, vector {index}");
        let mut among: Vec<SignatureCheck<'_>> =
            honest.iter().map(|(key, message, signature)| SignatureCheck { key, message, signature }).collect();
        among.insert(3, alone);
        assert_eq!(batch::verify_batch(&among), valid, "among 7 valid, vector {index}");
        let each = batch::verify_each(&among);
        assert_eq!(each, (0..8).map(|i| i != 3 || valid).collect::<Vec<_>>(), "each named, vector {index}");
    }
}

#[test]
fn a_batch_of_every_valid_vector_verifies_and_adding_any_invalid_one_fails_it() {
    let vectors: Vec<Vector> = (0..BIP340_VECTORS.len()).map(vector).collect();
    let lifted: Vec<Option<k256::schnorr::VerifyingKey>> =
        vectors.iter().map(|(key, _, _)| batch::lift(&Address(*key))).collect();
    let check = |at: usize| {
        let (_, message, signature) = &vectors[at];
        SignatureCheck { key: lifted[at].as_ref().expect("lifted"), message, signature }
    };
    let valid: Vec<usize> = (0..vectors.len()).filter(|&at| BIP340_VECTORS[at].4).collect();
    let good: Vec<SignatureCheck<'_>> = valid.iter().map(|&at| check(at)).collect();
    assert!(batch::verify_batch(&good));
    for at in (0..vectors.len()).filter(|&at| !BIP340_VECTORS[at].4 && lifted[at].is_some()) {
        let mut spoiled = good.clone();
        spoiled.push(check(at));
        assert!(!batch::verify_batch(&spoiled), "vector {}", BIP340_VECTORS[at].0);
    }
}

// ---- batches of payments -----------------------------------------------------

const CHAIN: ChainId = ChainId([0x5e; 32]);
const KEYS: usize = 12;

fn keys() -> &'static [Keypair] {
    static POOL: OnceLock<Vec<Keypair>> = OnceLock::new();
    POOL.get_or_init(|| (1..=KEYS as u8).map(|b| Keypair::from_secret(&[b; 32]).expect("a valid secret")).collect())
}

/// How a generated payment is spoiled, if at all.
#[derive(Clone, Copy, Debug)]
enum Spoil {
    None,
    /// A bit of a signature flipped (`r` or `s`).
    SignatureBit(usize),
    /// The witness names another key of the pool.
    OtherKey,
    /// The witness names 32 bytes that are not on the curve.
    KeyOffCurve,
    /// The amount changed after signing: the message is not the one signed.
    Message,
    /// `r` at or past the field size, or `s` at or past the group order.
    SignatureOutOfRange,
    /// `s` = 0 (k256 refuses it to parse).
    ZeroS,
    /// The signature of the payment before it (a valid signature of
    /// another message by another key).
    Borrowed,
    /// A second input and witness whose signature is bad (two signers).
    SecondSignerBad,
    /// Two signers, both good.
    TwoSigners,
    /// A clawback, its two issuers signing the programme's clawback
    /// authorisation (another message than the txid), both good.
    Clawback,
    /// Good signatures, but the payment's output pays 32 bytes off the curve
    /// (`BAD_ADDRESS`, found after the signatures hold).
    PaysOffCurve,
    /// A structural refusal before any signature: an output of 0.
    ZeroAmount,
}

/// Payments almost all good, so that their batches hold and the answers
/// come from the batch's verdict, not from the single verifications of a
/// failed batch.
fn mostly_good() -> impl Strategy<Value = Spoil> {
    prop_oneof![
        24 => Just(Spoil::None),
        4 => Just(Spoil::TwoSigners),
        2 => Just(Spoil::Clawback),
        1 => Just(Spoil::PaysOffCurve),
        1 => Just(Spoil::ZeroAmount),
        1 => Just(Spoil::KeyOffCurve),
    ]
}

fn spoil() -> impl Strategy<Value = Spoil> {
    prop_oneof![
        1 => Just(Spoil::Clawback),
        1 => Just(Spoil::PaysOffCurve),
        1 => Just(Spoil::ZeroAmount),
        6 => Just(Spoil::None),
        1 => (0..512usize).prop_map(Spoil::SignatureBit),
        1 => Just(Spoil::OtherKey),
        1 => Just(Spoil::KeyOffCurve),
        1 => Just(Spoil::Message),
        1 => Just(Spoil::SignatureOutOfRange),
        1 => Just(Spoil::ZeroS),
        1 => Just(Spoil::Borrowed),
        1 => Just(Spoil::SecondSignerBad),
        2 => Just(Spoil::TwoSigners),
    ]
}

fn coin(n: usize) -> (OutPoint, Output) {
    let owner = keys()[n % KEYS].address();
    (OutPoint { txid: TxId(settled::sha256(&n.to_be_bytes())), index: 0 }, client::output(owner, 10_000, 0))
}

/// Off the curve: x = 5 has no y on secp256k1 (5^3 + 7 = 132 is not a
/// square mod p).
const OFF_CURVE: Address = {
    let mut x = [0u8; 32];
    x[31] = 5;
    Address(x)
};

fn payment(n: usize, spoil: Spoil, previous: Option<&Transaction>) -> Transaction {
    let payer = &keys()[n % KEYS];
    let shop = keys()[(n + 1) % KEYS].address();
    let reference = n.to_be_bytes();
    let mut tx = match spoil {
        Spoil::Clawback => {
            let issuers = [&keys()[0], &keys()[1]];
            let terms = client::ClawbackTerms {
                chain: CHAIN,
                programme: 7,
                treasury: keys()[2].address(),
                valid_until_ms: 1_700_000_000_000,
            };
            let mut tx = Transaction {
                version: settled::TX_VERSION,
                kind: settled::TxKind::Clawback,
                inputs: vec![coin(n).0],
                outputs: vec![client::output(terms.treasury, 10_000, 7)],
                reference: settled::clawback_reference(terms.programme, terms.valid_until_ms),
                witnesses: Vec::new(),
            };
            tx.witnesses = client::clawback_authorization(&terms, &issuers)
                .into_iter()
                .map(|w| settled::Witness {
                    public_key: Address(w.public_key.try_into().expect("32 bytes")),
                    signature: w.signature.try_into().expect("64 bytes"),
                })
                .collect();
            tx
        }
        Spoil::PaysOffCurve => client::pay(&CHAIN, payer, coin(n), OFF_CURVE, 1_000 + n as u64, &reference),
        Spoil::TwoSigners | Spoil::SecondSignerBad => {
            let second = &keys()[(n + 5) % KEYS];
            let inputs = [coin(n).0, OutPoint { txid: TxId(settled::sha256(&reference)), index: 1 }];
            let mut tx = Transaction {
                version: settled::TX_VERSION,
                kind: settled::TxKind::Transfer,
                inputs: inputs.to_vec(),
                outputs: vec![client::output(shop, 15_000, 0)],
                reference: reference.to_vec(),
                witnesses: Vec::new(),
            };
            let signers: Vec<&Keypair> =
                if payer.address() == second.address() { vec![payer] } else { vec![payer, second] };
            client::sign(&mut tx, &CHAIN, &signers);
            tx
        }
        _ => client::pay(&CHAIN, payer, coin(n), shop, 1_000 + n as u64, &reference),
    };
    let last = tx.witnesses.len() - 1;
    match spoil {
        Spoil::None | Spoil::TwoSigners | Spoil::Clawback | Spoil::PaysOffCurve => {}
        Spoil::ZeroAmount => tx.outputs[0].amount_minor = 0,
        Spoil::SignatureBit(bit) => tx.witnesses[0].signature[bit / 8] ^= 1 << (bit % 8),
        Spoil::OtherKey => tx.witnesses[0].public_key = keys()[(n + 3) % KEYS].address(),
        Spoil::KeyOffCurve => tx.witnesses[0].public_key = OFF_CURVE,
        Spoil::Message => tx.outputs[0].amount_minor += 1,
        Spoil::SignatureOutOfRange => {
            if n.is_multiple_of(2) {
                tx.witnesses[0].signature[..32].fill(0xff);
            } else {
                tx.witnesses[0].signature[32..].fill(0xff);
            }
        }
        Spoil::ZeroS => tx.witnesses[0].signature[32..].fill(0),
        Spoil::Borrowed => {
            if let Some(previous) = previous {
                tx.witnesses[0].signature = previous.witnesses[0].signature;
            }
        }
        Spoil::SecondSignerBad => tx.witnesses[last].signature[63] ^= 0x40,
    }
    tx
}

/// What a caller sees of an answer: the txid, or the refusal's reason and
/// its text (which names the witness).
fn seen(answer: &Result<VerifiedTx, Refusal>) -> Result<TxId, (settled::Reason, String)> {
    match answer {
        Ok(vtx) => Ok(vtx.txid),
        Err(refusal) => Err((refusal.reason, refusal.detail.clone())),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn a_batch_answers_every_payment_as_single_verification_does(
        spoils in prop_oneof![prop::collection::vec(spoil(), 1..90), prop::collection::vec(mostly_good(), 1..90)]
    ) {
        let mut txs: Vec<Transaction> = Vec::with_capacity(spoils.len());
        for (n, spoil) in spoils.iter().enumerate() {
            let tx = payment(n, *spoil, txs.last());
            txs.push(tx);
        }
        let single: Vec<_> = txs.iter().map(|tx| seen(&verify_with(tx.clone(), &KnownKeys::default(), &CHAIN))).collect();
        let batched: Vec<_> = settled::verify_batched(txs, &KnownKeys::default(), &CHAIN)
            .iter()
            .map(seen)
            .collect();
        prop_assert_eq!(batched, single);
    }
}

/// A batch that holds answers each transaction from its verdict: good
/// payments and clawbacks confirm, a payment to a key off the curve is
/// still `BAD_ADDRESS`, a structurally broken one is refused before its
/// signatures, a key off the curve is a bad signature, exactly as alone.
#[test]
fn a_batch_that_holds_answers_each_transaction_as_alone() {
    let plan = [
        Spoil::None,
        Spoil::Clawback,
        Spoil::PaysOffCurve,
        Spoil::TwoSigners,
        Spoil::ZeroAmount,
        Spoil::KeyOffCurve,
        Spoil::None,
    ];
    let txs: Vec<Transaction> = plan.iter().enumerate().map(|(n, spoil)| payment(n, *spoil, None)).collect();
    let known = KnownKeys::default();
    let batched = settled::verify_batched(txs.clone(), &known, &CHAIN);
    let reasons: Vec<Option<settled::Reason>> = batched.iter().map(|a| a.as_ref().err().map(|r| r.reason)).collect();
    use settled::Reason::{BadAddress, BadSignature, ZeroAmount};
    assert_eq!(reasons, [None, None, Some(BadAddress), None, Some(ZeroAmount), Some(BadSignature), None]);
    for (n, (tx, answer)) in txs.into_iter().zip(&batched).enumerate() {
        assert_eq!(seen(answer), seen(&verify_with(tx, &known, &CHAIN)), "transaction {n}");
    }
}

/// Batches are cut at `BATCH_SIGNATURES_MAX` signatures, a transaction
/// never split: one bad signature past the cut spoils only its own batch's
/// verdict, and every answer is still single verification's.
#[test]
fn a_run_longer_than_one_batch_is_cut_and_answered_as_singly() {
    let count = BATCH_SIGNATURES_MAX / 2 + 10;
    let mut txs: Vec<Transaction> = Vec::with_capacity(count);
    for n in 0..count {
        let spoil = if n == count - 3 { Spoil::SignatureBit(7) } else { Spoil::TwoSigners };
        let tx = payment(n, spoil, txs.last());
        txs.push(tx);
    }
    assert!(txs.iter().map(|tx| tx.witnesses.len()).sum::<usize>() > BATCH_SIGNATURES_MAX);
    let known = KnownKeys::default();
    let batched = settled::verify_batched(txs.clone(), &known, &CHAIN);
    for (n, (tx, answer)) in txs.into_iter().zip(&batched).enumerate() {
        assert_eq!(seen(answer), seen(&verify_with(tx, &known, &CHAIN)), "payment {n}");
    }
    assert_eq!(batched.iter().filter(|a| a.is_err()).count(), 1);
}
