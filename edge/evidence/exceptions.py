"""Errors of evidence packaging on the edge.

    EvidenceError
    ├── KeyFileError        the signing key file is unreadable, malformed or too open
    ├── ChainError          the local manifest chain is damaged (a gap, a bad file)
    └── PackagingError      an evidence file could not be rendered or written
        └── ClipUnavailable the ring buffer no longer (or not yet) holds the asked span
"""


class EvidenceError(Exception):
    """Base of every evidence packaging error."""


class KeyFileError(EvidenceError):
    """The edge signing key file cannot be used."""


class ChainError(EvidenceError):
    """The local manifest chain on disk is inconsistent."""


class PackagingError(EvidenceError):
    """An evidence file could not be produced."""


class ClipUnavailable(PackagingError):
    """The video ring buffer cannot provide the clip asked for."""
