"""Keys and BIP340 Schnorr signatures over secp256k1 (PROTOCOL.md §3).

A secret key is 32 bytes; its public key, which is also an address, is the
32-byte x-only key. Every message signed is exactly 32 bytes, passed to BIP340
as is (the SHA-256 of a domain-separated signed message, never a bare txid).
The curve arithmetic is libsecp256k1's, through ``coincurve``.
"""

from __future__ import annotations

import os
from pathlib import Path

from coincurve import PrivateKey, PublicKeyXOnly


class SecretKey:
    """A BIP340 secret key: signs, and knows its x-only public key (address).

    The secret is never shown by ``repr``. Either of the two secrets with the
    same x-only key (``d`` and ``n - d``) works: BIP340 signing normalises it.
    """

    __slots__ = ("_key", "_address")

    def __init__(self, secret: bytes) -> None:
        """Wraps 32 secret bytes (a big-endian integer in 1 to n - 1).

        Raises:
            ValueError: when the bytes are not a valid secp256k1 secret key.
        """
        if len(secret) != 32:
            raise ValueError(f"a secret key is 32 bytes, not {len(secret)}")
        self._key = PrivateKey(secret)
        self._address = self._key.public_key_xonly.format()

    @classmethod
    def generate(cls) -> SecretKey:
        """A fresh random key."""
        return cls(PrivateKey().secret)

    @classmethod
    def from_hex(cls, text: str) -> SecretKey:
        """A key from 64 hex digits; surrounding whitespace is ignored."""
        return cls(bytes.fromhex(text.strip()))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SecretKey:
        """Reads a key file as ``settled keygen --out`` writes it.

        Such a file (also the ``issuer-N.key`` and ``engine.key`` files of a
        data directory) holds 64 lowercase hex digits and a newline
        (PROTOCOL.md §13.1).
        """
        return cls.from_hex(Path(path).read_text(encoding="ascii"))

    @property
    def address(self) -> bytes:
        """The 32-byte x-only public key: the address this key spends from."""
        return self._address

    @property
    def public_key(self) -> bytes:
        """The same as :attr:`address`: the key a witness names."""
        return self._address

    def sign(self, message: bytes, aux_randomness: bytes | None = None) -> bytes:
        """The 64-byte BIP340 signature of a 32-byte message.

        ``aux_randomness`` is BIP340's auxiliary randomness: fresh random bytes
        by default (as it should be); pass 32 fixed bytes only to reproduce a
        published signature, such as the test vectors' ``aux_hex``.
        """
        if len(message) != 32:
            raise ValueError(f"BIP340 signs 32-byte messages, not {len(message)} bytes")
        aux = os.urandom(32) if aux_randomness is None else aux_randomness
        if len(aux) != 32:
            raise ValueError("the auxiliary randomness is 32 bytes")
        return self._key.sign_schnorr(message, aux)

    def __repr__(self) -> str:
        return f"SecretKey(address={self._address.hex()})"


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is a valid BIP340 signature of ``message``.

    False (never an exception) for a key that is not on the curve, or a key,
    message or signature of the wrong size.
    """
    if len(public_key) != 32 or len(message) != 32 or len(signature) != 64:
        return False
    try:
        return bool(PublicKeyXOnly(public_key).verify(signature, message))
    except ValueError:
        return False


def is_valid_address(address: bytes) -> bool:
    """Whether ``address`` is 32 bytes and the x coordinate of a curve point.

    The engine refuses an output paying any other address
    (``REASON_BAD_ADDRESS``): money sent there could never be spent.
    """
    if len(address) != 32:
        return False
    try:
        PublicKeyXOnly(address)
    except ValueError:
        return False
    return True
