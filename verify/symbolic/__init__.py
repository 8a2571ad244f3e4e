"""SymPy derivations (never imports torch): proving steps with exact spot checks."""

from verify.symbolic.identity import find_unevaluated, in_range, prove_identity, random_rational, spot_values

__all__ = ["find_unevaluated", "in_range", "prove_identity", "random_rational", "spot_values"]
