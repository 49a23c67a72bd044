//! BIP340 batch verification (BIP340, "Batch Verification"): many
//! signatures checked with one multi-scalar multiplication instead of one
//! per signature.
//!
//! For signatures `(r_i, s_i)` by keys `P_i` on messages `m_i`, with
//! `R_i = lift_x(r_i)` and `e_i = H_challenge(r_i || P_i || m_i)`, the batch
//! is valid when
//!
//! ```text
//! (a_1 s_1 + ... + a_u s_u) G = a_1 R_1 + ... + a_u R_u + (a_1 e_1) P_1 + ... + (a_u e_u) P_u
//! ```
//!
//! with `a_1 = 1` and `a_2 .. a_u` drawn at random for every batch. The
//! weights are what makes the sum sound: with fixed weights two forged
//! signatures whose errors cancel would pass (a test forges such a pair).
//! They come from the operating system's CSPRNG (`getrandom`, one call per
//! batch) and are 128 bits, as in libsecp256k1's and ed25519-dalek's batch
//! verifiers: a batch holding an invalid signature passes with probability
//! at most about 2^-128, and each `a_i R_i` term then costs half of a full
//! scalar's. BIP340 draws them from `1..n-1`; 128-bit weights are within
//! that range and the same argument bounds the error.
//!
//! A batch answers only "all valid" or "not all valid"; the caller verifies
//! singly to learn which (`verify_each`). Signatures are parsed exactly as
//! single verification parses them (k256's `Signature`: `r < p`, `r != 0`,
//! `0 < s < n`) so that the two never disagree on a malformed one.
//!
//! The sum is computed with Straus's interleaved-window method: the key
//! terms through k256's `lincomb_vartime` (GLV endomorphism, width-5 wNAF),
//! the nonce terms, whose weights are 128 bits already, through the same
//! wNAF tables without the endomorphism, and `G`'s term through k256's
//! precomputed generator table.

use k256::elliptic_curve::ops::{LinearCombination, Reduce};
use k256::elliptic_curve::point::DecompactPoint;
use k256::elliptic_curve::{Group, PrimeField};
use k256::schnorr::{Signature, VerifyingKey};
use k256::{AffinePoint, FieldBytes, ProjectivePoint, Scalar};
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use wnaf::{WnafBase, WnafScalar};

use crate::core::crypto;
use crate::core::limits::BATCH_SIGNATURES_MAX;
use crate::core::types::{Address, SignatureBytes};

type Window = wnaf::array::typenum::U5;
type NonceBase = WnafBase<ProjectivePoint, Window>;
type NonceWeight = WnafScalar<Scalar, Window>;

/// Bytes of one random weight.
pub const WEIGHT_BYTES: usize = 16;

/// The curve point of an x-only key (BIP340 `lift_x`), for a
/// `SignatureCheck`; `None` when it is not on the curve.
#[must_use]
pub fn lift(key: &Address) -> Option<VerifyingKey> {
    crypto::lift(key)
}

/// One signature to check: the signer's key already lifted to its point,
/// the 32-byte message, the 64 signature bytes.
#[derive(Clone, Copy, Debug)]
pub struct SignatureCheck<'a> {
    pub key: &'a VerifyingKey,
    pub message: &'a [u8; 32],
    pub signature: &'a SignatureBytes,
}

impl SignatureCheck<'_> {
    /// Single BIP340 verification, as k256 does it.
    #[must_use]
    pub fn verify_single(&self) -> bool {
        crypto::verify_lifted(self.key, self.message, self.signature)
    }
}

/// The weights of a batch of `count` signatures: `a_1 = 1`, the others 128
/// random bits from the operating system's CSPRNG (`getrandom`), never 0.
/// Little-endian, as the wNAF wants them. `None` when the random source
/// fails: no batch can then be verified soundly, and the caller verifies
/// singly, which needs no randomness.
#[must_use]
pub fn draw_weights(count: usize) -> Option<Vec<[u8; WEIGHT_BYTES]>> {
    let mut rng = rand::rngs::OsRng;
    let mut weights = vec![[0u8; WEIGHT_BYTES]; count];
    if let Some((first, rest)) = weights.split_first_mut() {
        first[0] = 1;
        let drawn = rng.try_fill_bytes(rest.as_flattened_mut());
        if let Err(error) = drawn {
            tracing::error!(%error, "the operating system's random source failed: verifying signatures singly");
            return None;
        }
        for weight in rest.iter_mut() {
            while weight.iter().all(|&b| b == 0) {
                rng.try_fill_bytes(weight).ok()?;
            }
        }
    }
    Some(weights)
}

fn weight_scalar(weight: &[u8; WEIGHT_BYTES]) -> Scalar {
    let mut repr = FieldBytes::default();
    for (to, from) in repr[32 - WEIGHT_BYTES..].iter_mut().zip(weight.iter().rev()) {
        *to = *from;
    }
    Scalar::from_repr(repr).expect("128 bits are below the group order")
}

fn field_bytes(half: &[u8]) -> FieldBytes {
    let mut bytes = FieldBytes::default();
    bytes.copy_from_slice(half);
    bytes
}

/// `H_challenge(r || P || m)` reduced mod n, BIP340's `e`.
fn challenge(r: &[u8], key: &VerifyingKey, message: &[u8; 32]) -> Scalar {
    static TAGGED: std::sync::LazyLock<Sha256> = std::sync::LazyLock::new(|| {
        let tag = Sha256::digest(b"BIP0340/challenge");
        Sha256::new().chain_update(tag).chain_update(tag)
    });
    let digest = TAGGED.clone().chain_update(r).chain_update(key.to_bytes()).chain_update(message).finalize();
    <Scalar as Reduce<FieldBytes>>::reduce(&field_bytes(&digest))
}

/// Whether every signature of `checks` is valid, with one multi-scalar
/// multiplication and fresh weights (`draw_weights`). One signature is
/// verified singly (the batch formula would only add a square root), and
/// so is every signature when the random source fails.
///
/// # Panics
/// When `checks` holds more than `BATCH_SIGNATURES_MAX` signatures (the
/// caller splits).
#[must_use]
pub fn verify_batch(checks: &[SignatureCheck<'_>]) -> bool {
    assert!(checks.len() <= BATCH_SIGNATURES_MAX, "a batch of {} signatures", checks.len());
    match checks {
        [] => true,
        [one] => one.verify_single(),
        _ => match draw_weights(checks.len()) {
            Some(weights) => verify_weighted(checks, &weights),
            None => checks.iter().all(SignatureCheck::verify_single),
        },
    }
}

/// The batch equation with the given weights (`draw_weights`'s form).
fn verify_weighted(checks: &[SignatureCheck<'_>], weights: &[[u8; WEIGHT_BYTES]]) -> bool {
    let mut key_terms = Vec::with_capacity(checks.len());
    let mut nonce_bases = Vec::with_capacity(checks.len());
    let mut nonce_weights = Vec::with_capacity(checks.len());
    let mut s_sum = Scalar::ZERO;
    for (check, weight) in checks.iter().zip(weights) {
        if Signature::from_slice(check.signature).is_err() {
            return false;
        }
        let (r_bytes, s_bytes) = check.signature.split_at(32);
        let Some(nonce) = AffinePoint::decompact(&field_bytes(r_bytes)).into_option() else {
            return false;
        };
        let s = Scalar::from_repr(field_bytes(s_bytes)).expect("the signature parsed: s < n");
        let a = weight_scalar(weight);
        let e = challenge(r_bytes, check.key, check.message);
        s_sum += a * s;
        key_terms.push((ProjectivePoint::from(*check.key.as_affine()), a * e));
        nonce_bases.push(NonceBase::new(&ProjectivePoint::from(nonce)));
        nonce_weights.push(NonceWeight::from_le_bytes(weight));
    }
    let keys = ProjectivePoint::lincomb_vartime(key_terms.as_slice());
    let nonces = NonceBase::multiscalar_mul(nonce_bases.iter().zip(nonce_weights.iter()));
    let generator = ProjectivePoint::mul_by_generator_vartime(&s_sum);
    (keys + nonces - generator).is_identity().into()
}

/// Each signature's validity, as single verification answers it: one
/// batch, and only when it fails, each signature singly. Batches of at
/// most `BATCH_SIGNATURES_MAX`.
#[must_use]
pub fn verify_each(checks: &[SignatureCheck<'_>]) -> Vec<bool> {
    let mut valid = Vec::with_capacity(checks.len());
    for batch in checks.chunks(BATCH_SIGNATURES_MAX) {
        if verify_batch(batch) {
            valid.extend(std::iter::repeat_n(true, batch.len()));
        } else {
            valid.extend(batch.iter().map(SignatureCheck::verify_single));
        }
    }
    valid
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::crypto::Keypair;

    struct Signed {
        key: VerifyingKey,
        message: [u8; 32],
        signature: SignatureBytes,
    }

    fn signed(count: usize) -> Vec<Signed> {
        (0..count)
            .map(|i| {
                let keypair = Keypair::generate();
                let message = crypto::sha256(&i.to_be_bytes());
                let signature = keypair.sign(&message);
                Signed { key: crypto::lift(&keypair.address()).expect("on the curve"), message, signature }
            })
            .collect()
    }

    fn checks(signed: &[Signed]) -> Vec<SignatureCheck<'_>> {
        signed.iter().map(|s| SignatureCheck { key: &s.key, message: &s.message, signature: &s.signature }).collect()
    }

    #[test]
    fn a_batch_of_valid_signatures_verifies_at_every_size() {
        let all = signed(BATCH_SIGNATURES_MAX);
        for size in [0, 1, 2, 3, 8, 64, BATCH_SIGNATURES_MAX] {
            assert!(verify_batch(&checks(&all[..size])), "batch of {size}");
        }
    }

    #[test]
    fn one_bad_signature_fails_its_batch_wherever_it_stands() {
        let mut all = signed(16);
        for bad in [0, 7, 15] {
            all[bad].signature[40] ^= 1;
            assert!(!verify_batch(&checks(&all)), "bad at {bad}");
            all[bad].signature[40] ^= 1;
        }
        assert!(verify_batch(&checks(&all)));
    }

    /// Two forged signatures whose errors cancel: `s_1 + d` and `s_2 - d`.
    /// With every weight 1 the sum is unchanged and the batch would pass;
    /// with random weights it fails (and each fails singly).
    #[test]
    fn forgeries_whose_errors_cancel_are_caught_by_the_random_weights() {
        let mut pair = signed(2);
        let d = Scalar::from(12_345u64);
        let shift = |signature: &mut SignatureBytes, by: Scalar| {
            let s = Scalar::from_repr(field_bytes(&signature[32..])).expect("s < n");
            signature[32..].copy_from_slice(&(s + by).to_repr());
        };
        shift(&mut pair[0].signature, d);
        shift(&mut pair[1].signature, -d);
        let forged = checks(&pair);
        assert!(!forged[0].verify_single() && !forged[1].verify_single());
        let unit_weights = vec![
            {
                let mut one = [0u8; WEIGHT_BYTES];
                one[0] = 1;
                one
            };
            2
        ];
        assert!(verify_weighted(&forged, &unit_weights), "the forgery is real: fixed weights let it through");
        for _ in 0..32 {
            assert!(!verify_batch(&forged));
        }
    }

    /// The weights' source, checked apart from the verifier: what
    /// `draw_weights` returns is what `verify_batch` (and so the engine)
    /// weighs with. No repeats across 20,000 draws and two batches, and
    /// every bit set about half of the time (a stuck, short or low-entropy
    /// source fails this).
    #[test]
    fn the_weights_are_nonzero_distinct_and_every_bit_is_unbiased() {
        const DRAWS: usize = 20_000;
        let weights = draw_weights(DRAWS).expect("the random source answers");
        assert_eq!(weights[0][0], 1);
        assert!(weights[0][1..].iter().all(|&b| b == 0));
        let rest = &weights[1..];
        assert!(rest.iter().all(|w| w.iter().any(|&b| b != 0)));
        let distinct: std::collections::HashSet<_> = rest.iter().collect();
        assert_eq!(distinct.len(), rest.len(), "a repeated 128-bit weight");
        // Each bit is a fair coin: over 19,999 draws its count is within
        // six standard deviations (about 424) of half.
        for bit in 0..WEIGHT_BYTES * 8 {
            let ones = rest.iter().filter(|w| w[bit / 8] >> (bit % 8) & 1 == 1).count();
            let half = rest.len() / 2;
            assert!(ones.abs_diff(half) < 424, "bit {bit} set {ones} times of {}", rest.len());
        }
        let again = draw_weights(2).expect("the random source answers");
        assert_ne!(again[1], weights[1], "two batches drew the same weight");
    }

    #[test]
    fn verify_each_names_exactly_the_bad_signatures() {
        let mut all = signed(40);
        for bad in [3, 4, 20, 39] {
            all[bad].signature[5] ^= 0x80;
        }
        let valid = verify_each(&checks(&all));
        let expected: Vec<bool> = checks(&all).iter().map(SignatureCheck::verify_single).collect();
        assert_eq!(valid, expected);
        assert_eq!(valid.iter().filter(|v| !**v).count(), 4);
    }

    #[test]
    #[should_panic(expected = "a batch of 257 signatures")]
    fn a_batch_over_the_limit_is_a_bug_of_the_caller() {
        let all = signed(1);
        let many = vec![checks(&all)[0]; BATCH_SIGNATURES_MAX + 1];
        let _ = verify_batch(&many);
    }
}
