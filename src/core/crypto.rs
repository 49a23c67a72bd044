//! BIP340 Schnorr keys and signatures (k256) and SHA-256.

use k256::schnorr::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::core::types::{Address, Hash32, SignatureBytes};

#[must_use]
pub fn sha256(bytes: &[u8]) -> Hash32 {
    Sha256::digest(bytes).into()
}

/// A secret key and its x-only public key.
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
    address: Address,
}

impl Keypair {
    /// A fresh key from the operating system's random source.
    #[must_use]
    pub fn generate() -> Self {
        loop {
            let secret: [u8; 32] = rand::random();
            if let Some(keypair) = Self::from_secret(&secret) {
                return keypair;
            }
        }
    }

    /// The key for a 32-byte secret, or `None` when the secret is zero or not
    /// below the curve order.
    #[must_use]
    pub fn from_secret(secret: &[u8; 32]) -> Option<Self> {
        let signing = SigningKey::from_slice(secret).ok()?;
        let address = Address(signing.verifying_key().to_bytes().into());
        Some(Self { signing, address })
    }

    /// # Errors
    /// When the text is not 64 hex digits of a valid secret key.
    pub fn from_secret_hex(text: &str) -> Result<Self, String> {
        let mut secret = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut secret).map_err(|e| format!("secret key: {e}"))?;
        Self::from_secret(&secret).ok_or_else(|| "secret key: not a valid scalar".to_owned())
    }

    /// The secret as k256 holds it. BIP340 keys are normalised to an even-y
    /// public point, so this may be `n - d` for the `d` that was loaded; both
    /// give the same key pair and the same signatures.
    #[must_use]
    pub fn secret_hex(&self) -> String {
        hex::encode(self.signing.to_bytes())
    }

    #[must_use]
    pub fn address(&self) -> Address {
        self.address
    }

    /// Signs a 32-byte message with fresh auxiliary randomness.
    #[must_use]
    pub fn sign(&self, message: &[u8; 32]) -> SignatureBytes {
        self.sign_with_aux(message, &rand::random())
    }

    /// Signs with the given auxiliary randomness: deterministic, for test
    /// vectors.
    #[must_use]
    pub fn sign_with_aux(&self, message: &[u8; 32], aux: &[u8; 32]) -> SignatureBytes {
        let signature = self
            .signing
            .sign_raw(message, aux)
            .expect("BIP340 signing of a 32-byte message with a valid key cannot fail");
        signature.to_bytes()
    }
}

/// Whether `signature` is a valid BIP340 signature of `message` by `key`.
/// A key that is not on the curve simply does not verify.
#[must_use]
pub fn verify(key: &Address, message: &[u8; 32], signature: &SignatureBytes) -> bool {
    let Ok(verifying) = VerifyingKey::from_slice(&key.0) else {
        return false;
    };
    let Ok(signature) = Signature::from_slice(signature) else {
        return false;
    };
    verifying.verify_raw(message, &signature).is_ok()
}

/// The curve point of an x-only key (BIP340 `lift_x`: a field square root,
/// about a tenth of a verification), or `None` when it is not on the curve.
#[must_use]
pub(crate) fn lift(key: &Address) -> Option<VerifyingKey> {
    VerifyingKey::from_slice(&key.0).ok()
}

/// [`verify`] with the key already lifted.
#[must_use]
pub(crate) fn verify_lifted(key: &VerifyingKey, message: &[u8; 32], signature: &SignatureBytes) -> bool {
    let Ok(signature) = Signature::from_slice(signature) else {
        return false;
    };
    key.verify_raw(message, &signature).is_ok()
}

/// Whether 32 bytes are the x coordinate of a point on the curve.
#[must_use]
pub fn is_valid_key(key: &Address) -> bool {
    VerifyingKey::from_slice(&key.0).is_ok()
}
