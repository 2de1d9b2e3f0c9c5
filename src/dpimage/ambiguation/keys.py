"""Key files (the true support) and ambiguated files (the shareable code).

Ambiguated file ``*.dpamb`` — shareable; holds only the published code, a
random identifier and the model's fingerprint (nothing derived from the
original image beyond the ambiguated code itself, no hash of the image)::

    magic  b"DPIMGAMB"           8 bytes
    version                      uint16 LE (1)
    maps C, code length n, k'    3 x uint16 LE
    image side S                 uint16 LE
    payload id                   16 random bytes (os.urandom), not derived from the image
    model fingerprint            16 bytes (SHA-256 of the model file, truncated)
    positions                    C*n bits, numpy.packbits (big-endian bit order)
    values                       C*k' float16 LE, map by map in position order
    CRC-32                       uint32 LE over everything above (corruption check)

Key file ``*.dpkey`` — confidential; given only to those granted access::

    magic  b"DPIMGKEY"           8 bytes
    version                      uint16 LE (1)
    maps C, k, k'                3 x uint16 LE
    payload id                   16 bytes: the ambiguated file this key opens
    model fingerprint            16 bytes
    key bits                     C*k' bits: for each map, one bit per published
                                 non-zero (in position order), 1 = true
    SHA-256                      32 bytes over everything above

The key's information content is ``C * k'`` bits (512 bytes for C = 16,
k' = 256). The SHA-256 detects corruption and tampering by anyone who
does not rewrite the digest; it is not a signature (whoever can write the key
file can recompute it), so key files must reach their holder over an
authenticated channel, as any key must. Decoding checks that the payload id,
model fingerprint, C and k' match and that every map has exactly k true bits,
so a key for another file is refused instead of decoding garbage.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "AMBIGUATED_SUFFIX",
    "KEY_SUFFIX",
    "AmbiguatedCode",
    "AmbiguationFileError",
    "Key",
    "KeyMismatchError",
    "apply_key",
    "make_key",
    "new_payload_id",
    "read_ambiguated",
    "read_key",
    "write_ambiguated",
    "write_key",
]

AMBIGUATED_SUFFIX = ".dpamb"
KEY_SUFFIX = ".dpkey"
_AMB_MAGIC = b"DPIMGAMB"
_KEY_MAGIC = b"DPIMGKEY"
_VERSION = 1
_AMB_HEAD = struct.Struct("<8sHHHHH16s16s")
_KEY_HEAD = struct.Struct("<8sHHHH16s16s")


class AmbiguationFileError(ValueError):
    """An ambiguated or key file is malformed, corrupt or of an unknown version."""


class KeyMismatchError(AmbiguationFileError):
    """A valid key that does not belong to this ambiguated file or model."""


def new_payload_id() -> bytes:
    """16 random bytes from the OS CSPRNG identifying one ambiguated file."""
    return os.urandom(16)


def _fp_bytes(fingerprint: str) -> bytes:
    raw = bytes.fromhex(fingerprint)
    if len(raw) != 16:
        raise ValueError("model fingerprint must be 32 hex digits")
    return raw


@dataclass(frozen=True)
class AmbiguatedCode:
    """The shareable part: published code ``(C, n)`` with k' non-zeros per map."""

    published: np.ndarray
    k_prime: int
    image_size: int
    payload_id: bytes
    model_fingerprint: str

    def __post_init__(self) -> None:
        counts = np.count_nonzero(self.published, axis=1)
        if self.published.ndim != 2 or not np.all(counts == self.k_prime):
            raise AmbiguationFileError("published code must have exactly k' non-zeros per map")


@dataclass(frozen=True)
class Key:
    """The true support, as one bit per published non-zero of each map."""

    bits: np.ndarray  # (C, k') bool
    k: int
    payload_id: bytes
    model_fingerprint: str

    @property
    def payload_bits(self) -> int:
        """Information size of the key in bits (``C * k'``)."""
        return int(self.bits.size)


def make_key(
    published: np.ndarray, true_mask: np.ndarray, payload_id: bytes, model_fingerprint: str
) -> Key:
    """Key for ``published`` whose true support is ``true_mask`` (both ``(C, n)``)."""
    nz = np.asarray(published) != 0
    true_mask = np.asarray(true_mask, dtype=bool)
    if nz.shape != true_mask.shape or np.any(true_mask & ~nz):
        raise ValueError("the true support must lie inside the published non-zeros")
    k_prime = int(nz[0].sum())
    bits = np.stack([true_mask[c][nz[c]] for c in range(nz.shape[0])])
    if bits.shape[1] != k_prime:
        raise ValueError("every map must have the same number k' of published non-zeros")
    k = int(bits[0].sum())
    if not np.all(bits.sum(axis=1) == k):
        raise ValueError("every map must have the same number k of true non-zeros")
    return Key(bits=bits, k=k, payload_id=payload_id, model_fingerprint=model_fingerprint)


def apply_key(code: AmbiguatedCode, key: Key) -> np.ndarray:
    """Keep only the true non-zeros of ``code``; refuse a key made for another file.

    Raises
    ------
    KeyMismatchError
        If the key's payload id, model fingerprint, number of maps or k'
        differ from the ambiguated file's.
    """
    if key.payload_id != code.payload_id:
        raise KeyMismatchError("this key belongs to another ambiguated file (payload id differs)")
    if key.model_fingerprint != code.model_fingerprint:
        raise KeyMismatchError("this key was made with another model (fingerprint differs)")
    c = code.published.shape[0]
    if key.bits.shape != (c, code.k_prime):
        raise KeyMismatchError(
            f"key shape {key.bits.shape} does not fit the file's {c} maps x k'={code.k_prime}"
        )
    out = np.zeros_like(code.published)
    for ci in range(c):
        idx = np.flatnonzero(code.published[ci])[key.bits[ci]]
        out[ci, idx] = code.published[ci, idx]
    return out


# ---------------------------------------------------------------------------
# serialisation
# ---------------------------------------------------------------------------


def ambiguated_to_bytes(code: AmbiguatedCode) -> bytes:
    """Serialise an :class:`AmbiguatedCode` (format in the module docstring)."""
    c, n = code.published.shape
    head = _AMB_HEAD.pack(
        _AMB_MAGIC,
        _VERSION,
        c,
        n,
        code.k_prime,
        code.image_size,
        code.payload_id,
        _fp_bytes(code.model_fingerprint),
    )
    nz = code.published != 0
    values = code.published[nz].astype("<f2")
    if np.any(values == 0) or not np.all(np.isfinite(values)):
        raise ValueError("published values must be finite and non-zero in float16")
    body = head + np.packbits(nz.reshape(-1)).tobytes() + values.tobytes()
    return body + struct.pack("<I", zlib.crc32(body))


def ambiguated_from_bytes(data: bytes) -> AmbiguatedCode:
    """Parse an ambiguated file, checking magic, version, sizes and CRC-32."""
    if len(data) < _AMB_HEAD.size + 4 or data[:8] != _AMB_MAGIC:
        raise AmbiguationFileError("not a dpimage ambiguated file (bad magic)")
    _, version, c, n, k_prime, size, pid, fp = _AMB_HEAD.unpack_from(data)
    if version != _VERSION:
        raise AmbiguationFileError(f"ambiguated file version {version} is not supported")
    if c < 1 or not 1 <= k_prime <= n:
        raise AmbiguationFileError("ambiguated file has impossible sizes")
    pos_len = (c * n + 7) // 8
    expected = _AMB_HEAD.size + pos_len + 2 * c * k_prime + 4
    if len(data) != expected:
        raise AmbiguationFileError(f"ambiguated file is {len(data)} bytes, expected {expected}")
    (crc,) = struct.unpack_from("<I", data, expected - 4)
    if zlib.crc32(data[: expected - 4]) != crc:
        raise AmbiguationFileError("ambiguated file is corrupt (CRC-32 mismatch)")
    bits = np.frombuffer(data, np.uint8, pos_len, _AMB_HEAD.size)
    nz = np.unpackbits(bits)[: c * n].astype(bool).reshape(c, n)
    if not np.all(nz.sum(axis=1) == k_prime):
        raise AmbiguationFileError("ambiguated file is corrupt (wrong number of non-zeros)")
    values = np.frombuffer(data, "<f2", c * k_prime, _AMB_HEAD.size + pos_len)
    published = np.zeros((c, n), np.float32)
    published[nz] = values.astype(np.float32)
    return AmbiguatedCode(published, int(k_prime), int(size), pid, fp.hex())


def key_to_bytes(key: Key) -> bytes:
    """Serialise a :class:`Key` (format in the module docstring)."""
    c, k_prime = key.bits.shape
    head = _KEY_HEAD.pack(
        _KEY_MAGIC, _VERSION, c, key.k, k_prime, key.payload_id, _fp_bytes(key.model_fingerprint)
    )
    body = head + np.packbits(key.bits.reshape(-1)).tobytes()
    return body + hashlib.sha256(body).digest()


def key_from_bytes(data: bytes) -> Key:
    """Parse a key file, checking magic, version, sizes, SHA-256 and k per map."""
    if len(data) < _KEY_HEAD.size + 32 or data[:8] != _KEY_MAGIC:
        raise AmbiguationFileError("not a dpimage key file (bad magic)")
    _, version, c, k, k_prime, pid, fp = _KEY_HEAD.unpack_from(data)
    if version != _VERSION:
        raise AmbiguationFileError(f"key file version {version} is not supported")
    if c < 1 or not 1 <= k < k_prime:
        raise AmbiguationFileError("key file has impossible sizes")
    n_bytes = (c * k_prime + 7) // 8
    expected = _KEY_HEAD.size + n_bytes + 32
    if len(data) != expected:
        raise AmbiguationFileError(f"key file is {len(data)} bytes, expected {expected}")
    if hashlib.sha256(data[: expected - 32]).digest() != data[expected - 32 :]:
        raise AmbiguationFileError("key file is corrupt or was modified (SHA-256 mismatch)")
    raw = np.frombuffer(data, np.uint8, n_bytes, _KEY_HEAD.size)
    bits = np.unpackbits(raw)[: c * k_prime].astype(bool).reshape(c, k_prime)
    if not np.all(bits.sum(axis=1) == k):
        raise AmbiguationFileError("key file is inconsistent (a map does not have k true bits)")
    return Key(bits=bits, k=int(k), payload_id=pid, model_fingerprint=fp.hex())


def _read(path: str | os.PathLike[str], what: str) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise AmbiguationFileError(f"{path}: no such {what} file")
    size = path.stat().st_size
    if size > 64 << 20:
        raise AmbiguationFileError(f"{path}: {size} bytes is too large for a {what} file")
    return path.read_bytes()


def _write(data: bytes, path: str | os.PathLike[str], overwrite: bool, private: bool) -> int:
    from ..io import atomic_writer

    # owner-only permissions from creation, before any byte is written
    with atomic_writer(path, overwrite=overwrite, mode=0o600 if private else None) as fh:
        fh.write(data)
    return len(data)


def _parse(path: str | os.PathLike[str], what: str, parse):
    """``parse`` the file's bytes; errors name the path."""
    try:
        return parse(_read(path, what))
    except AmbiguationFileError as exc:
        raise type(exc)(f"{path}: {exc}") from None


def write_ambiguated(
    code: AmbiguatedCode, path: str | os.PathLike[str], *, overwrite: bool = False
) -> int:
    """Write atomically; returns the number of bytes written."""
    return _write(ambiguated_to_bytes(code), path, overwrite, private=False)


def read_ambiguated(path: str | os.PathLike[str]) -> AmbiguatedCode:
    """Read and validate an ambiguated file."""
    return _parse(path, "ambiguated", ambiguated_from_bytes)


def write_key(key: Key, path: str | os.PathLike[str], *, overwrite: bool = False) -> int:
    """Write atomically with owner-only permissions; returns the number of bytes."""
    return _write(key_to_bytes(key), path, overwrite, private=True)


def read_key(path: str | os.PathLike[str]) -> Key:
    """Read and validate a key file."""
    return _parse(path, "key", key_from_bytes)
