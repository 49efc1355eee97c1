"""The primitives: authenticated encryption, key wrapping for a public key, password-derived keys.

- Content is sealed with an AEAD: AES-256-GCM by default, SM4-GCM (GB/T 32907, national
  algorithm) where CONTENT_CIPHER says so. Every sealed value names its algorithm in its first
  bytes, so changing the setting applies to what is sealed next and everything sealed before
  still opens. The field a value belongs to is bound in as associated data: a ciphertext copied
  into another field or row in the database does not open there.
- A key is wrapped for a person or the agency with their X25519 public key (ECIES: an ephemeral
  key pair, X25519 agreement, HKDF-SHA256, then the AEAD), the construction of libsodium's sealed
  boxes, as GlobaLeaks wraps each submission's key for every recipient.
- A private key is wrapped with a key derived from its holder's password by Argon2id (its own
  random salt; the parameters are stored beside it so that they can change).
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = 1
AES_256_GCM, SM4_GCM = 1, 2
CIPHERS = {"aes-256-gcm": AES_256_GCM, "sm4-gcm": SM4_GCM}
NONCE, TAG, KEY = 12, 16, 32
# Text columns hold sealed values as this prefix and unpadded URL-safe base64: "sealed text"
# can never be mistaken for what a registrant wrote (which the portal never lets start so).
TEXT_PREFIX = "§1:"


class Undecryptable(Exception):
    """Wrong key, or the ciphertext was changed: AEAD refuses both alike."""


def random_key() -> bytes:
    return os.urandom(KEY)


def _sm4(key: bytes, nonce: bytes) -> Cipher:
    return Cipher(algorithms.SM4(key[:16]), modes.GCM(nonce))


def seal(key: bytes, plaintext: bytes, aad: bytes = b"", cipher: int = AES_256_GCM) -> bytes:
    """version | cipher | nonce | ciphertext and tag."""
    nonce = os.urandom(NONCE)
    if cipher == SM4_GCM:
        encryptor = _sm4(key, nonce).encryptor()
        encryptor.authenticate_additional_data(aad)
        body = encryptor.update(plaintext) + encryptor.finalize() + encryptor.tag
    else:
        body = AESGCM(key).encrypt(nonce, plaintext, aad)
    return bytes((VERSION, cipher)) + nonce + body


def unseal(key: bytes, sealed: bytes, aad: bytes = b"") -> bytes:
    if len(sealed) < 2 + NONCE + TAG or sealed[0] != VERSION:
        raise Undecryptable("not a sealed value")
    cipher, nonce, body = sealed[1], sealed[2:2 + NONCE], sealed[2 + NONCE:]
    try:
        if cipher == SM4_GCM:
            decryptor = _sm4(key, nonce).decryptor()
            decryptor.authenticate_additional_data(aad)
            return decryptor.update(body[:-TAG]) + decryptor.finalize_with_tag(body[-TAG:])
        if cipher == AES_256_GCM:
            return AESGCM(key).decrypt(nonce, body, aad)
    except InvalidTag:
        raise Undecryptable("wrong key or changed ciphertext") from None
    raise Undecryptable(f"unknown cipher {cipher}")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def is_sealed_text(value: object) -> bool:
    return isinstance(value, str) and value.startswith(TEXT_PREFIX)


def seal_text(key: bytes, text: str, aad: bytes, cipher: int = AES_256_GCM) -> str:
    return TEXT_PREFIX + b64(seal(key, text.encode("utf-8"), aad, cipher))


def unseal_text(key: bytes, token: str, aad: bytes) -> str:
    return unseal(key, unb64(token[len(TEXT_PREFIX):]), aad).decode("utf-8")


# Key pairs and wrapping ---------------------------------------------------------------------

@dataclass(frozen=True)
class KeyPair:
    private: bytes  # 32 raw bytes
    public: bytes


def new_key_pair() -> KeyPair:
    private = X25519PrivateKey.generate()
    return KeyPair(private.private_bytes_raw(), private.public_key().public_bytes_raw())


def _wrapping_key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(hashes.SHA256(), KEY, salt=None,
                info=b"audit-portal wrap" + ephemeral + recipient).derive(shared)


def wrap(public: bytes, secret: bytes, aad: bytes = b"") -> str:
    """`secret` sealed so that only the holder of `public`'s private key opens it."""
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = ephemeral.public_key().public_bytes_raw()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(public))
    key = _wrapping_key(shared, ephemeral_public, public)
    return b64(ephemeral_public + seal(key, secret, aad))


def unwrap(private: bytes, wrapped: str, aad: bytes = b"") -> bytes:
    data = unb64(wrapped)
    ephemeral_public, sealed = data[:32], data[32:]
    owner = X25519PrivateKey.from_private_bytes(private)
    shared = owner.exchange(X25519PublicKey.from_public_bytes(ephemeral_public))
    key = _wrapping_key(shared, ephemeral_public, owner.public_key().public_bytes_raw())
    return unseal(key, sealed, aad)


# Password-derived keys ----------------------------------------------------------------------

@dataclass(frozen=True)
class KdfParams:
    """Argon2id's cost, stored as "t=2,m=19456,p=1" beside what it wraps."""

    time_cost: int
    memory_kib: int
    lanes: int

    def __str__(self) -> str:
        return f"t={self.time_cost},m={self.memory_kib},p={self.lanes}"

    @classmethod
    def parse(cls, text: str) -> KdfParams:
        values = dict(part.split("=", 1) for part in text.split(","))
        return cls(int(values["t"]), int(values["m"]), int(values["p"]))


def derive(password: str, salt: bytes, params: KdfParams) -> bytes:
    return hash_secret_raw(password.encode("utf-8"), salt, params.time_cost, params.memory_kib,
                           params.lanes, KEY, Type.ID)


def derive_from_code(code: bytes, purpose: bytes) -> bytes:
    """A key from a random code of full strength (a recovery key, a session's key): no
    stretching needed, only separation by purpose."""
    return HKDF(hashes.SHA256(), KEY, salt=None, info=b"audit-portal " + purpose).derive(code)
