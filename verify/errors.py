"""The exceptions :mod:`verify` raises.

There is one root, :class:`VerifyError`. Each subclass also inherits the builtin
exception a user would naturally catch (``ValueError``, ``TypeError``,
``LookupError`` …), so ``except ValueError`` keeps working. Every message says
what was given, what was expected, and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "BridgeError",
    "ClaimDefinitionError",
    "ClusterError",
    "InvalidInputError",
    "NumericError",
    "UnknownClaimError",
    "UserCodeError",
    "VerifyError",
]


class VerifyError(Exception):
    """Root of every exception raised on purpose by :mod:`verify`."""


class InvalidInputError(VerifyError, ValueError):
    """An argument has a value outside what the function accepts."""


class ClaimDefinitionError(VerifyError, TypeError):
    """A :class:`~verify.Claim` is malformed (missing parts, wrong types)."""


class UnknownClaimError(VerifyError, LookupError):
    """A claim name was not found in the registry or in the named module."""

    def __str__(self) -> str:  # LookupError/KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class BridgeError(VerifyError, ValueError):
    """A SymPy expression cannot be turned into torch code faithfully."""


class NumericError(VerifyError, ArithmeticError):
    """A numeric routine could not produce a trustworthy number."""


class ClusterError(VerifyError, ConnectionError):
    """A cluster cannot run the claims: its scheduler is unreachable, its workers run other versions, or they
    cannot import what the claims need."""


class UserCodeError(VerifyError, RuntimeError):
    """Code supplied by the user raised, returned NaN, or returned a wrong shape."""
