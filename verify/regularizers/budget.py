r"""How much work each check does, by model size: the full budget, or the large-model one.

The built-in tasks and small models (:math:`n \le` ``LARGE``) get the full budget. Past it a
Hessian-vector product costs about as much as a few gradients of a real network (0.24 s in float32
for the 1M-parameter CNN of ``bench/own_model.py`` on 2 CPU threads), and the full budget would
take an hour; the large-model budget keeps every check but spends fewer products, and the card
says which budget ran (``settings["budget"]``):

* smoothness: Lanczos at 2 points instead of 3, on R and L + λR (L's own spectrum is measured by
  the curvature-effect check), relative tolerance 1e-5 instead of 1e-8;
* (the gradient and descent checks run in float64 on every budget: they need only gradients);
* curvature-effect: 40 training steps instead of 200 with checkpoints every 20 (sharpness at equal
  training loss then has 3 checkpoints a run), no λ_min at the measured points, and the local rates
  by a central difference of λ_max with ε = 1e-2 at tolerance 1e-7 (instead of 1e-3 at 1e-10: the
  difference quotient's error is about tol·ρ/ε, 1e-5 of the spectrum's size either way).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["FULL", "LARGE", "LARGE_MODEL", "Budget", "budget_for"]

#: parameters above which the large-model budget applies
LARGE = 50_000


@dataclass(frozen=True)
class Budget:
    name: str
    spectra_points: int
    spectrum_of_L: bool
    lanczos_tol: float
    train_steps: int
    checkpoint: int
    lambda_min: bool
    rate_tol: float
    rate_eps: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


FULL = Budget("full", spectra_points=3, spectrum_of_L=True, lanczos_tol=1e-8, train_steps=200, checkpoint=20,
              lambda_min=True, rate_tol=1e-10, rate_eps=1e-3)
LARGE_MODEL = Budget("large-model", spectra_points=2, spectrum_of_L=False, lanczos_tol=1e-5, train_steps=40,
                     checkpoint=20, lambda_min=False, rate_tol=1e-7, rate_eps=1e-2)


def budget_for(n: int) -> Budget:
    """:data:`FULL` up to ``LARGE`` parameters, :data:`LARGE_MODEL` past it."""
    return FULL if n <= LARGE else LARGE_MODEL
