"""Errors raised by `contract`: what every process may have to catch from the shared formats.

Tree::

    ContractError
    ├── PlateFormatError            text that is not a Vietnamese plate (also ValueError)
    └── TokenError                  a join token is refused (reason in .code)
        ├── TokenMissing
        ├── TokenExpired
        ├── TokenSignatureInvalid
        ├── TokenWrongRoom
        └── TokenClaimsInvalid

Packages re-export the ones they raise in their own trees (``analytics.plates.exceptions``,
``conferencing.exceptions``), so a caller catches them where it expects them.
"""

from __future__ import annotations


class ContractError(Exception):
    """Base of every error raised by `contract`; `code` is the stable machine-readable reason."""

    code = "contract"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class PlateFormatError(ContractError, ValueError):
    """A string that does not follow any Vietnamese plate format, or names an unknown province code."""

    code = "plate_format"


class TokenError(ContractError):
    """A join token was refused."""

    code = "token_invalid"


class TokenMissing(TokenError):
    """No join token was presented."""

    code = "token_missing"


class TokenExpired(TokenError):
    """The token's `exp` is in the past."""

    code = "token_expired"


class TokenSignatureInvalid(TokenError):
    """The signature does not verify with the relay secret."""

    code = "token_signature"


class TokenWrongRoom(TokenError):
    """The token grants another meeting."""

    code = "token_wrong_room"


class TokenWrongRelay(TokenError):
    """The token was issued for a meeting served by another relay (another unit's)."""

    code = "token_wrong_relay"


class TokenClaimsInvalid(TokenError):
    """The token is not a well-formed IOC join token."""

    code = "token_claims"
