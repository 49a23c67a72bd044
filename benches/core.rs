//! Per-stage costs of the payment path: canonical encoding and txid,
//! stateless verification (one BIP340 signature), sequencer apply per
//! payment, durable block commit (redb, fsync) with N payments, Merkle root
//! and path, receipt verification.
//! `cargo bench --bench core`

use std::collections::HashMap;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use settled::client;
use settled::{
    BlockHeader, BlockRecord, ChainId, Genesis, Keypair, Ledger, OutPoint, Output, Receipt, SignedHeader, Store, TxId,
    VerifiedTx,
};

fn genesis(issuers: &[Keypair]) -> Genesis {
    Genesis {
        currency: "CNY".to_owned(),
        exponent: 2,
        issuer_keys: issuers.iter().map(Keypair::address).collect(),
        issuer_threshold: 2,
        engine_key: Keypair::generate().address(),
    }
}

/// A wallet's key and the one output it holds.
type Funded = (Keypair, (OutPoint, Output));

/// `n` wallets each holding one output, the ledger holding them, and its
/// chain id (of its block 0).
fn funded(n: usize) -> (Vec<Funded>, Ledger, ChainId) {
    let issuers: Vec<Keypair> = (0..3).map(|_| Keypair::generate()).collect();
    let mut unspent = HashMap::new();
    let mut wallets = Vec::with_capacity(n);
    for i in 0..n {
        let key = Keypair::generate();
        let outpoint = OutPoint { txid: TxId(settled::sha256(&i.to_be_bytes())), index: 0 };
        let output = client::output(key.address(), 1_000_000, 0);
        unspent.insert(outpoint, output);
        wallets.push((key, (outpoint, output)));
    }
    let total = 1_000_000 * n as u64;
    let genesis = genesis(&issuers);
    let chain = BlockHeader::genesis(&genesis, 0).chain_id();
    (wallets, Ledger::new(genesis, unspent, total, 0, 1).expect("consistent"), chain)
}

fn benches(c: &mut Criterion) {
    let (wallets, _, chain) = funded(1);
    let shop = Keypair::generate().address();
    let payment = client::pay(&chain, &wallets[0].0, wallets[0].1, shop, 1_000, b"inv-1");

    c.bench_function("txid (encode + sha256), 1 in / 2 out", |b| b.iter(|| settled::txid(&payment)));
    let txid = settled::txid(&payment);
    let witness = payment.witnesses[0];
    let message = settled::witness_message(&chain, &txid);
    assert!(settled::verify_signature(&witness.public_key, &message, &witness.signature));
    c.bench_function("BIP340 verify, one signature", |b| {
        b.iter(|| settled::verify_signature(&witness.public_key, &message, &witness.signature))
    });
    c.bench_function("address check (x-only key on the curve)", |b| b.iter(|| settled::is_valid_key(&shop)));
    c.bench_function("verify stage, 1 in / 2 out / 1 signature", |b| {
        b.iter_batched(|| payment.clone(), |tx| settled::verify(tx, &chain), BatchSize::SmallInput);
    });
    let known = settled::KnownKeys::default();
    c.bench_function("verify stage, payee address already known", |b| {
        b.iter_batched(|| payment.clone(), |tx| settled::verify_with(tx, &known, &chain), BatchSize::SmallInput);
    });

    const APPLY_BATCH: usize = 10_000;
    c.bench_function("sequencer apply, per payment (batch of 10k)", |b| {
        b.iter_batched(
            || {
                let (wallets, ledger, chain) = funded(APPLY_BATCH);
                let txs: Vec<VerifiedTx> = wallets
                    .iter()
                    .map(|(key, coin)| {
                        settled::verify(client::pay(&chain, key, *coin, shop, 1_000, b"inv"), &chain).expect("valid")
                    })
                    .collect();
                (ledger, txs)
            },
            |(mut ledger, txs)| {
                for tx in &txs {
                    ledger.apply(tx, 0).expect("applies");
                }
                ledger
            },
            BatchSize::PerIteration,
        );
    });

    let txids: Vec<TxId> = (0..8192u32).map(|i| TxId(settled::sha256(&i.to_be_bytes()))).collect();
    c.bench_function("merkle root of 8192 txids", |b| b.iter(|| settled::merkle_root(&txids)));
    let levels = settled::merkle_levels(&txids);
    c.bench_function("merkle path in a block of 8192", |b| b.iter(|| settled::merkle_path(&levels, 4321)));

    let engine = Keypair::generate();
    let header = settled::BlockHeader {
        height: 7,
        previous_hash: [1; 32],
        merkle_root: settled::merkle_root(&txids),
        first_sequence: 100,
        tx_count: 8192,
        time_unix_ms: 0,
        minted_total_minor: 10,
        burned_total_minor: 0,
    };
    let receipt = Receipt {
        txid: txids[4321],
        sequence: 100 + 4321,
        block: SignedHeader::sign(header, &chain, &engine),
        index_in_block: 4321,
        merkle_path: settled::merkle_path(&levels, 4321),
    };
    let engine_key = engine.address();
    receipt.verify(&engine_key, &chain).expect("the receipt verifies");
    c.bench_function("receipt verify (block of 8192)", |b| b.iter(|| receipt.verify(&engine_key, &chain)));
}

/// Applies `txs` to `ledger` and commits them as block `height` of `chain`.
fn block(ledger: &mut Ledger, txs: Vec<VerifiedTx>, height: u64, engine: &Keypair, chain: &ChainId) -> BlockRecord {
    let applied: Vec<(VerifiedTx, settled::Applied)> = txs
        .into_iter()
        .map(|vtx| {
            let applied = ledger.apply(&vtx, 0).expect("applies");
            (vtx, applied)
        })
        .collect();
    let txids: Vec<TxId> = applied.iter().map(|(vtx, _)| vtx.txid).collect();
    let header = settled::BlockHeader {
        height,
        previous_hash: [0; 32],
        merkle_root: settled::merkle_root(&txids),
        first_sequence: applied[0].1.sequence,
        tx_count: u32::try_from(applied.len()).expect("bounded"),
        time_unix_ms: 0,
        minted_total_minor: ledger.totals().minted_minor,
        burned_total_minor: 0,
    };
    let signed = SignedHeader::sign(header, chain, engine);
    BlockRecord {
        signed,
        txs: applied,
        ops: Vec::new(),
        stats: Vec::new(),
        merchants: Vec::new(),
        bank_totals: Vec::new(),
        refunded: Vec::new(),
    }
}

/// One durable block of `n` payments (each spends one output and creates
/// two), against a store that holds the outputs they spend.
fn block_commit(c: &mut Criterion) {
    let mut group = c.benchmark_group("block commit (redb, fsync)");
    group.sample_size(10);
    for n in [1_000usize, 8_192] {
        let dir = tempfile::tempdir().expect("temp dir");
        let issuers: Vec<Keypair> = (0..3).map(|_| Keypair::generate()).collect();
        let engine = Keypair::generate();
        let genesis = Genesis { engine_key: engine.address(), ..genesis(&issuers) };
        let file = settled::HookedFileBackend::open(&dir.path().join("ledger.redb"), Default::default(), None)
            .expect("the file opens");
        let (store, recovered) = Store::open(file, &genesis, None, |message| engine.sign(message)).expect("opens");
        let chain = store.chain_id();
        let mut ledger = Ledger::new(genesis, recovered.unspent, 0, 0, 1).expect("consistent");
        let wallets: Vec<Keypair> = (0..n).map(|_| Keypair::generate()).collect();
        let mints: Vec<VerifiedTx> = wallets
            .chunks(16)
            .enumerate()
            .map(|(i, chunk)| {
                let outputs = chunk.iter().map(|w| client::output(w.address(), 1_000_000, 0)).collect();
                let mint = client::mint(&chain, outputs, format!("fund-{i}").as_bytes(), &[&issuers[0], &issuers[1]]);
                settled::verify(mint, &chain).expect("valid")
            })
            .collect();
        let funding = block(&mut ledger, mints.clone(), 1, &engine, &chain);
        store.commit_block(&funding).expect("committed");
        let mut coins: Vec<(OutPoint, Output)> = mints
            .iter()
            .flat_map(|m| (0..m.tx.outputs.len()).map(|i| client::output_of(&m.tx, u32::try_from(i).expect("small"))))
            .collect();
        let shop = Keypair::generate().address();
        let mut height = 1;
        group.bench_function(format!("{n} payments"), |b| {
            b.iter_batched(
                || {
                    height += 1;
                    let txs: Vec<VerifiedTx> = wallets
                        .iter()
                        .zip(&coins)
                        .map(|(key, coin)| {
                            settled::verify(client::pay(&chain, key, *coin, shop, 1, b"inv"), &chain).expect("valid")
                        })
                        .collect();
                    coins = txs.iter().map(|vtx| client::output_of(&vtx.tx, 1)).collect();
                    block(&mut ledger, txs, height, &engine, &chain)
                },
                |record| store.commit_block(&record).expect("committed"),
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

criterion_group!(core, benches, block_commit);
criterion_main!(core);
