"""What C5 needs of each kind of network case, and the routes for networks of :func:`verify.modules`.

An MLP regression (the family's own cases) has an mpmath backpropagation (:mod:`.oracles`): its Hv, w₃, w₄ and
FD errors are recomputed at 60 digits, free of torch. A network of :func:`verify.modules` (conv, LayerNorm,
attention) has none: its reference Hv, w₃, w₄ at θ come from Richardson-extrapolated central differences of
torch's float64 *gradients* (the first derivatives, the best-tested part of autograd) — a different route from
the higher-order autograd products they are compared with — and torch's sampled sups are used only where the two
agree; its FD re-check stops at the dense-Hessian stage.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from proofs.gradient_norm_penalty import oracles as orc
from verify import ModuleCase, functional, gradient, roundoff_spread

__all__ = ["NETWORKS", "GradientTable", "Network", "module_functional", "network", "sweep_gradients"]


@dataclass(frozen=True)
class Network:
    """What C5 needs of a network case.

    Attributes:
        loss: (case, dtype, device) ↦ (L_S, θ).
        measure_hvp_roundoff: whether Hĝ's round-off is measured beside g's (attention's saturated softmax
            amplifies it).
        directional: (case, θ, v) ↦ (Hv, w₃, w₄) at θ, each (1, n), by a route independent of torch's higher
            derivatives.
        segment_bounds: (L_S, case, θ, v, r_top, points, (w₃, w₄) reference) ↦ (M3, M4, route); NaN where
            torch's higher derivatives cannot be trusted.
        fd_error: (case, θ, v, r, scheme) ↦ the FD error free of round-off, or None (no such route).
        gradient_noise: (∇L, θ, v) ↦ the measured round-off of the gradient near θ along v (∞-norm), or None
            where the round-off-free route makes it unnecessary.
    """

    loss: Callable[..., tuple[Any, torch.Tensor]]
    measure_hvp_roundoff: bool
    directional: Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
    segment_bounds: Callable[..., tuple[float, float, str]]
    fd_error: Callable[..., float] | None
    gradient_noise: Callable[..., float] | None = None


@functools.lru_cache(maxsize=32)
def module_functional(net: ModuleCase, dtype: str, device: str) -> Any:
    return functional(net, dtype=getattr(torch, dtype), device=device)


def _module_loss(net: ModuleCase, dtype: str, device: str) -> tuple[Any, torch.Tensor]:
    """A network of :func:`verify.modules` brings its own loss, the mean cross-entropy on its labels."""
    fm = module_functional(net, dtype, device)
    return fm.loss, fm.theta0.clone()


def _richardson(stencil: Callable[[float], torch.Tensor], h: float) -> tuple[torch.Tensor, float]:
    """(the order-2 stencil extrapolated from steps h and h/2, the size of their disagreement)."""
    coarse, fine = stencil(h), stencil(h / 2)
    return (4 * fine - coarse) / 3, float((coarse - fine).abs().max())


#: the steps of the stencils, in units of max(1, ‖θ‖_∞): Hv's, w₃'s and w₄'s (each also at half of it)
_STEPS = (1e-4, 1e-3, 1e-2)


def _gradients_along(f: Any, theta: torch.Tensor, v: torch.Tensor, offsets: list[float]) -> dict[float, torch.Tensor]:
    """∇L(θ + k·v) at every offset k, in one batched call (:meth:`GradientTable.batched`)."""
    ks = torch.tensor(offsets, dtype=theta.dtype, device=theta.device)
    rows = GradientTable(f).batched(theta[None] + ks[:, None] * v[None])
    return dict(zip(offsets, rows, strict=True))


def _fd_directional_with_error(net: ModuleCase, theta: torch.Tensor, v: torch.Tensor
                               ) -> tuple[tuple[torch.Tensor, ...], tuple[float, ...]]:
    key = (net, theta.double().cpu().numpy().tobytes(), v.double().cpu().numpy().tobytes(), str(theta.device))
    return _fd_directional_cached(*key)


@functools.lru_cache(maxsize=8)
def _fd_directional_cached(net: ModuleCase, theta_bytes: bytes, v_bytes: bytes, device: str
                           ) -> tuple[tuple[torch.Tensor, ...], tuple[float, ...]]:
    """(Hv, w₃, w₄) at θ and their Richardson disagreements, from the gradients at every stencil point (the
    check asks twice per case: once for the reference, once to decide whether torch's sups can be trusted)."""
    f, _ = _module_loss(net, "float64", device)
    theta = torch.tensor(np.frombuffer(theta_bytes, dtype=np.float64).copy(), device=device)
    v = torch.tensor(np.frombuffer(v_bytes, dtype=np.float64).copy(), device=device)
    scale = max(1.0, float(theta.abs().max()))
    h1, h3, h4 = (step * scale for step in _STEPS)
    offsets = sorted({0.0, *(k * h for h in (h1, h1 / 2, h3, h3 / 2) for k in (1, -1)),
                      *(k * h for h in (h4, h4 / 2) for k in (1, -1, 2, -2))})
    at = _gradients_along(f, theta, v, offsets).__getitem__
    hv, e1 = _richardson(lambda h: (at(h) - at(-h)) / (2 * h), h1)
    w3, e3 = _richardson(lambda h: (at(h) - 2 * at(0.0) + at(-h)) / h ** 2, h3)
    w4, e4 = _richardson(lambda h: (at(2 * h) - 2 * at(h) + 2 * at(-h) - at(-2 * h)) / (2 * h ** 3), h4)
    return (hv[None], w3[None], w4[None]), (e1, e3, e4)


def _module_directional(net: ModuleCase, theta: torch.Tensor, v: torch.Tensor
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(Hv, w₃, w₄) at θ from central differences of float64 gradients, Richardson-extrapolated."""
    return _fd_directional_with_error(net, theta, v)[0]


#: torch's w₃, w₄ at θ must agree with the differences of gradients to this fraction (plus their own spread)
MODULE_TRUST_REL = 1e-3


def _module_segment_bounds(f: Any, net: ModuleCase, theta: torch.Tensor, v: torch.Tensor, r_top: float,
                           points: int, reference: tuple[torch.Tensor, torch.Tensor]) -> tuple[float, float, str]:
    """torch's sampled sups where its w₃, w₄ at θ agree with the differences of gradients, else NaN (no bound)."""
    (_, w3_fd, w4_fd), (_, e3, e4) = _fd_directional_with_error(net, theta, v)
    w3, w4 = orc.segment_samples(f, theta, v, r_top, points)
    w3_t, w4_t = w3[points // 2], w4[points // 2]  # at θ: judged against the differences of gradients
    off3, off4 = float((w3_t - w3_fd[0]).abs().max()), float((w4_t - w4_fd[0]).abs().max())
    ok3 = off3 <= MODULE_TRUST_REL * float(w3_fd.abs().max()) + 10 * e3
    ok4 = off4 <= MODULE_TRUST_REL * float(w4_fd.abs().max()) + 10 * e4
    if not (ok3 and ok4):
        return math.nan, math.nan, (f"none: torch's w3, w4 at θ off by {off3:.2g}, {off4:.2g} from differences of "
                                    "gradients (no mpmath route for this architecture)")
    m3, m4 = orc.sampled_sup(w3[points // 2:]), orc.sampled_sup(w4)  # as orc.segment_bounds, from the same samples
    return m3 + 2 * off3, m4 + 2 * off4, ("torch.func reverse over reverse (checked at θ against differences of "
                                          "gradients)")


def _gradient_noise(grad_fn: Any, theta: torch.Tensor, v: torch.Tensor) -> float:
    """The round-off σ of the gradient near θ along v, entry by entry (:func:`verify.roundoff_spread`), evaluated
    as the FD sweep evaluates it (one batched call when ``grad_fn`` is a :class:`GradientTable`).
    Seen: a saturated softplus MLP whose forward quotient at r = 1e-8 had twice the round-off κ predicted."""
    return roundoff_spread(grad_fn, theta, direction=v, batched=getattr(grad_fn, "batched", None))


class GradientTable:
    """θ ↦ ∇L(θ), memoized by the point's bytes, with :meth:`prefetch` evaluating many points in one vmap call.

    The FD sweep of a case asks for ∇L at 2·(11 + 7) + 1 points; one vmap call over all of them is 5–7× faster
    than one call each, on the MLP regressions and the networks of :func:`verify.modules` alike (96 % of the rows
    bitwise equal, the rest within round-off, which the sweep's allowance models and, over architectures,
    measures on the batched route).
    The quotients still compute their points themselves: a prefetched point is a hit only where the quotient
    forms the very same tensor, and any other point is evaluated alone (a mutated quotient stays a quotient).
    """

    def __init__(self, f: Any) -> None:
        self._f, self._grad = f, torch.func.grad(f)
        self._values: dict[bytes, torch.Tensor] = {}

    def __call__(self, point: torch.Tensor) -> torch.Tensor:
        key = _point_key(point)
        if key not in self._values:
            self._values[key] = gradient(self._f, point)
        return self._values[key]

    def batched(self, points: torch.Tensor) -> torch.Tensor:
        """∇L at every row of ``points`` (one at a time where vmap cannot run the module)."""
        try:
            return torch.func.vmap(self._grad)(points)
        except (RuntimeError, NotImplementedError, ValueError):
            return torch.stack([gradient(self._f, p) for p in points])

    def prefetch(self, points: list[torch.Tensor]) -> None:
        keyed = {_point_key(p): p for p in points}
        missing = {key: p for key, p in keyed.items() if key not in self._values}
        if missing:
            self._values.update(zip(missing, self.batched(torch.stack(list(missing.values()))), strict=True))


def _point_key(point: torch.Tensor) -> bytes:
    return point.detach().cpu().numpy().tobytes()


def sweep_gradients(f: Any, theta: torch.Tensor, v: torch.Tensor, grids: dict[str, tuple[float, ...]]
                    ) -> GradientTable:
    """∇L_S for the FD sweep over ``grids`` along v: a :class:`GradientTable` holding θ and θ ± r·v, formed as the
    quotients form them."""
    table = GradientTable(f)
    rs = [r for grid in grids.values() for r in grid]
    table.prefetch([theta, *(theta + r * v for r in rs), *(theta - r * v for r in rs)])
    return table


#: case type name -> what C5 knows of it
NETWORKS: dict[str, Network] = {
    "MLPCase": Network(orc._mlp_regression_loss, False, orc.mp_directional, orc.checked_segment_bounds,
                       orc.mp_fd_error),
    "ModuleCase": Network(_module_loss, True, _module_directional, _module_segment_bounds, None, _gradient_noise),
}


def network(net: Any) -> Network:
    return NETWORKS[type(net).__name__]
