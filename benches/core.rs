//! Per-stage costs of the payment path: canonical encoding and txid,
//! stateless verification (one BIP340 signature), sequencer apply per
//! payment, Merkle root and path, receipt verification.
//! `cargo bench --bench core`

use std::collections::HashMap;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use settled::client;
use settled::{Genesis, Keypair, Ledger, OutPoint, Output, Receipt, SignedHeader, TxId, VerifiedTx};

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

/// `n` wallets each holding one output, and the ledger holding them.
fn funded(n: usize) -> (Vec<Funded>, Ledger) {
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
    (wallets, Ledger::new(genesis(&issuers), unspent, total, 0, 1).expect("consistent"))
}

fn benches(c: &mut Criterion) {
    let (wallets, _) = funded(1);
    let shop = Keypair::generate().address();
    let payment = client::pay(&wallets[0].0, wallets[0].1, shop, 1_000, b"inv-1");

    c.bench_function("txid (encode + sha256), 1 in / 2 out", |b| b.iter(|| settled::txid(&payment)));
    c.bench_function("verify stage, 1 in / 2 out / 1 signature", |b| {
        b.iter_batched(|| payment.clone(), settled::verify, BatchSize::SmallInput);
    });

    const APPLY_BATCH: usize = 10_000;
    c.bench_function("sequencer apply, per payment (batch of 10k)", |b| {
        b.iter_batched(
            || {
                let (wallets, ledger) = funded(APPLY_BATCH);
                let txs: Vec<VerifiedTx> = wallets
                    .iter()
                    .map(|(key, coin)| settled::verify(client::pay(key, *coin, shop, 1_000, b"inv")).expect("valid"))
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
        block: SignedHeader { header, signature: engine.sign(&header.hash()) },
        index_in_block: 4321,
        merkle_path: settled::merkle_path(&levels, 4321),
    };
    let engine_key = engine.address();
    c.bench_function("receipt verify (block of 8192)", |b| b.iter(|| receipt.verify(&engine_key)));
}

criterion_group!(core, benches);
criterion_main!(core);
