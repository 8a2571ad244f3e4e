r"""Curvature measures beyond λ_max for the curvature-effect check: trace, top-k spectrum, spectral density.

"R lowers sharpness" depends on what sharpness means. At the two models compared at equal training loss the
check measures, on the loss L's Hessian (matrix-free, :mod:`verify.numeric.estimators`):

* ``lambda_max`` — the largest eigenvalue (Lanczos; the check's own measure);
* ``trace`` — Hutch++ with ``trace_matvecs`` products, ± one standard error from its own samples;
* ``top_k_mean`` — the mean of the k largest eigenvalues (Lanczos, each with its residual ‖Hv − λv‖);
* the spectral density by stochastic Lanczos quadrature (a figure, not a verdict).

:func:`agreement` says, measure by measure, whether R lowers or raises it (a trace change within twice the
two estimates' errors is ``unchanged``) and whether the measures agree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from verify.claims import Figure, Series
from verify.numeric import Density, hutch_plus_plus, spectral_density, top_eigenpairs

__all__ = ["MEASURES", "SpectraBudget", "agreement", "density_figure", "measure", "spectra_budget"]

#: the measures compared, in the card's order
MEASURES = ("lambda_max", "trace", "top_k_mean")


@dataclass(frozen=True)
class SpectraBudget:
    """How many Hessian-vector products each measure may use (listed in the card)."""

    trace_matvecs: int
    top_k: int
    density_probes: int
    density_steps: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def spectra_budget(budget_name: str) -> SpectraBudget:
    """The full budget's measures, or the large-model budget's fewer products."""
    if budget_name == "full":
        return SpectraBudget(trace_matvecs=30, top_k=5, density_probes=2, density_steps=24)
    return SpectraBudget(trace_matvecs=12, top_k=3, density_probes=1, density_steps=12)


def measure(task: Any, theta: torch.Tensor, lambda_max: float, budget: SpectraBudget, seed: int) -> dict[str, Any]:
    """Every measure of ∇²L(θ), the density's nodes and weights, and what each cost in products."""
    op, n = task.hvp_operator(theta.detach()), task.n
    on = {"dtype": task.dtype, "device": task.device, "seed": seed}  # the task's own dtype and device
    trace = hutch_plus_plus(op, n, budget.trace_matvecs, **on)
    top = top_eigenpairs(op, n, min(budget.top_k, n), tol=1e-6, **on)
    density = spectral_density(op, n, probes=budget.density_probes, steps=min(budget.density_steps, n), **on)
    return {"lambda_max": lambda_max,
            "trace": {"value": trace.value, "error": trace.error, "matvecs": trace.matvecs, "method": trace.method},
            "top_k": {"values": [float(v) for v in top.values], "residuals": [float(r) for r in top.residuals],
                      "matvecs": top.matvecs, "method": top.method, "rest": top.rest},
            "top_k_mean": float(np.mean(top.values)),
            "density": {"nodes": density.nodes.tolist(), "weights": density.weights.tolist(),
                        "matvecs": density.matvecs}}


#: relative change within which a measure is "unchanged" (the curvature-effect check's own band)
BAND = 0.05


def _direction(before: float, after: float, margin: float = 0.0) -> str:
    if abs(after - before) <= max(margin, BAND * abs(before)):
        return "unchanged"
    return "lowers" if after < before else "raises"


def agreement(without: dict[str, Any], with_r: dict[str, Any]) -> dict[str, Any]:
    """Per measure, whether R lowers or raises it (without → with R; within ±5 %, and for the trace within twice
    the two estimates' errors, ``unchanged``), and one sentence on whether the measures agree."""
    trace_margin = 2 * (without["trace"]["error"] + with_r["trace"]["error"])
    says = {"lambda_max": _direction(without["lambda_max"], with_r["lambda_max"]),
            "trace": _direction(without["trace"]["value"], with_r["trace"]["value"], trace_margin),
            "top_k_mean": _direction(without["top_k_mean"], with_r["top_k_mean"])}
    verdicts = set(says.values())
    top = f"the top-{len(without['top_k']['values'])} mean"
    names = {"lambda_max": "λ_max", "trace": "the trace", "top_k_mean": top}
    if len(verdicts) == 1:
        effect = {"unchanged": f"about as sharp (within ±{BAND:.0%}, the trace within its error)",
                  "lowers": "flatter", "raises": "SHARPER"}[says["lambda_max"]]
        sentence = (f"At equal training loss λ_max, the trace and {top} agree: the model trained with R is "
                    f"{effect}.")
    else:
        parts = ", ".join(f"{names[k]} {v}" for k, v in says.items())
        sentence = (f"At equal training loss the sharpness measures disagree on R's effect ({parts}): 'R lowers "
                    "sharpness' depends on the measure.")
    return {"per_measure": says, "agree": len(verdicts) == 1, "sentence": sentence}


def density_figure(without: dict[str, Any], with_r: dict[str, Any], lam: float) -> dict[str, Any]:
    """The two spectral densities (stochastic Lanczos quadrature) on one grid, Gaussian-smoothed."""
    nodes = [np.asarray(m["density"]["nodes"]) for m in (without, with_r)]
    lo, hi = min(float(x.min()) for x in nodes), max(float(x.max()) for x in nodes)
    width = max(hi - lo, 1e-12)
    sigma = width / 40
    grid = np.linspace(lo - 3 * sigma, hi + 3 * sigma, 200)
    series = []
    for label, m in (("without R", without), (f"with λR (λ = {lam:g})", with_r)):
        d = m["density"]
        density = Density(np.asarray(d["nodes"]), np.asarray(d["weights"]), d["matvecs"])
        series.append(Series(label, grid.tolist(), density.on_grid(grid, sigma).tolist()))
    return Figure("Hessian spectral density at equal training loss", series, x_label="eigenvalue of ∇²L",
                  y_label="density (SLQ, Gaussian width σ)",
                  caption=(f"Stochastic Lanczos quadrature, smoothed with σ = {sigma:.3g}; the two models are those "
                           "compared at equal training loss.")).to_json()
