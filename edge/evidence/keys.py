"""The edge's Ed25519 signing key: created once, kept in a 0600 file under the edge data dir."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edge.evidence.exceptions import KeyFileError
from contract.evidence_verify import key_fingerprint, public_key_b64

KEY_FILE_NAME = "edge_ed25519.pem"


class EdgeSigningKey:
    """One edge's signing key.

    The private key never leaves the file it was created in (mode 0600, created with
    O_EXCL so two processes racing cannot both write one); the public key goes to the
    hub with `PUT /api/v1/edges/self/key` as `public_key_b64`.

    Example::

        key = EdgeSigningKey.load_or_create(Path("/var/lib/ioc-edge"))
        sig = key.sign(manifest_bytes)
        httpx.put(hub + "/api/v1/edges/self/key", json={"public_key": key.public_key_b64})
    """

    def __init__(self, private_key: Ed25519PrivateKey, path: Path | None = None) -> None:
        self._private = private_key
        self.path = path

    @classmethod
    def load_or_create(cls, data_dir: Path) -> EdgeSigningKey:
        """Load `data_dir/keys/edge_ed25519.pem`, creating it (0600) on first use."""
        key_dir = Path(data_dir) / "keys"
        key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = key_dir / KEY_FILE_NAME
        if not path.exists():
            private = Ed25519PrivateKey.generate()
            pem = private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return cls.load(path)  # another process won the race: use its key
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
                fh.flush()
                os.fsync(fh.fileno())
            return cls(private, path)
        return cls.load(path)

    @classmethod
    def load(cls, path: Path) -> EdgeSigningKey:
        """Load an existing key file; refuses one that group or others can read."""
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                raise KeyFileError(f"{path} has mode {oct(mode)}; the signing key must be 0600")
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except OSError as exc:
            raise KeyFileError(f"cannot read signing key {path}: {exc}") from exc
        except (ValueError, TypeError) as exc:
            raise KeyFileError(f"{path} is not a PEM private key: {exc}") from exc
        if not isinstance(private, Ed25519PrivateKey):
            raise KeyFileError(f"{path} holds a {type(private).__name__}, not an Ed25519 key")
        return cls(private, path)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._private.public_key()

    @property
    def public_key_b64(self) -> str:
        """Base64 of the 32 raw public key bytes (the hub's registration format)."""
        return public_key_b64(self.public_key)

    @property
    def key_id(self) -> str:
        """`sha256:<hex>` fingerprint written into every manifest."""
        return key_fingerprint(self.public_key)

    def sign(self, data: bytes) -> bytes:
        """64-byte Ed25519 signature of `data`."""
        return self._private.sign(data)
