//! BIP340 verification per signature: k256 one at a time, k256 in batches
//! of 1, 8, 64 and 256 (`settled::batch`), and libsecp256k1 one at a time
//! (the `secp256k1` crate) as the reference.
//! `cargo bench --bench signatures`
//!
//! Every batch's throughput is set in signatures, so criterion's
//! "thrpt" reads directly as signatures per second on one core.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use settled::Keypair;
use settled::batch::{self, SignatureCheck};

struct Signed {
    address: [u8; 32],
    key: k256::schnorr::VerifyingKey,
    message: [u8; 32],
    signature: [u8; 64],
}

fn signed(count: usize) -> Vec<Signed> {
    (0..count)
        .map(|i| {
            let keypair = Keypair::generate();
            let message = settled::sha256(&i.to_be_bytes());
            let signature = keypair.sign(&message);
            let key = batch::lift(&keypair.address()).expect("on the curve");
            Signed { address: keypair.address().0, key, message, signature }
        })
        .collect()
}

fn checks(signed: &[Signed]) -> Vec<SignatureCheck<'_>> {
    signed.iter().map(|s| SignatureCheck { key: &s.key, message: &s.message, signature: &s.signature }).collect()
}

fn signatures(c: &mut Criterion) {
    let all = signed(256);
    let mut group = c.benchmark_group("BIP340 verify");
    group.throughput(Throughput::Elements(1));
    let one = &all[0];
    group.bench_function("k256, single, key lifted", |b| {
        b.iter(|| checks(std::slice::from_ref(one))[0].verify_single());
    });
    let reference_key = secp256k1::XOnlyPublicKey::from_byte_array(one.address).expect("the same key");
    let reference_signature = secp256k1::schnorr::Signature::from_byte_array(one.signature);
    assert!(
        secp256k1::schnorr::verify(&reference_signature, &one.message, &reference_key).is_ok(),
        "libsecp256k1 accepts what k256 signed"
    );
    group.bench_function("libsecp256k1, single, key parsed", |b| {
        b.iter(|| secp256k1::schnorr::verify(&reference_signature, &one.message, &reference_key).is_ok());
    });
    group.bench_function("libsecp256k1, single, key parsed each time", |b| {
        b.iter(|| {
            let key = secp256k1::XOnlyPublicKey::from_byte_array(one.address).expect("on the curve");
            secp256k1::schnorr::verify(&reference_signature, &one.message, &key).is_ok()
        });
    });
    for size in [1, 8, 64, 256] {
        let batch = checks(&all[..size]);
        assert!(batch::verify_batch(&batch));
        group.throughput(Throughput::Elements(size as u64));
        group.bench_with_input(BenchmarkId::new("k256, batch", size), &batch, |b, batch| {
            b.iter(|| batch::verify_batch(batch));
        });
    }
    // A batch of 64 with one bad signature: the batch, then 64 singly.
    let mut spoiled = signed(64);
    spoiled[17].signature[50] ^= 1;
    let spoiled_checks = checks(&spoiled);
    group.throughput(Throughput::Elements(64));
    group.bench_function("k256, batch of 64 with one bad, each named", |b| {
        b.iter(|| batch::verify_each(&spoiled_checks));
    });
    group.finish();
}

criterion_group!(benches, signatures);
criterion_main!(benches);
