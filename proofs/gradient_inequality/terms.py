r"""C3's per-example quantities by torch, behind :mod:`proofs.gradient_inequality`.

:func:`gradient_terms` computes, for every example of a case (``vmap`` over the batch, or a
per-example loop for the benchmark's baseline), :math:`\|\nabla_x f\|`, :math:`\|\nabla_\theta f\|`,
the per-layer :math:`\|\nabla_{W^{(t)},b^{(t)}} f\|`, :math:`\|h^{(t)}\|^2` and the singular values of
:math:`W^{(t)}` and :math:`J^{(t)}`, together with the same quantities computed with absolute values
(the round-off bound of the judgement). Numbers that may under- or overflow are kept as
mantissa × 2^exponent (:class:`Pow2`), and the head is rescaled by an exact power of two that keeps
backprop out of the subnormal range.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.func import grad, jacrev, vmap

from verify import (
    ACTIVATIONS,
    MLPHeadCase,
    MLPSpec,
    as_tensor,
    mlp_layers,
    per_sample_grads,
    per_sample_grads_loop,
    unflatten,
)

#: a matrix norm from singular values along the last axis (homogeneous of degree 1)
Norm = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Pow2:
    """Non-negative numbers as ``mant · 2**exp``, exactly.

    Saturated activations make gradients and Jacobians as small as 1e-300 (their squares
    underflow) and large weights make them large, so C3's quantities are kept as a float
    mantissa and an integer exponent. ``exp`` has the shape of ``mant``, or of its leading
    axes (one exponent for the last axis: the singular values of one matrix).
    """

    mant: np.ndarray
    exp: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray, exp: np.ndarray | int = 0) -> Pow2:
        """``values · 2**exp`` re-split so that the mantissas lie in [1/2, 1) (or are 0)."""
        mant, e = np.frexp(values)
        return cls(mant, e + exp)

    def value(self) -> np.ndarray:
        """As plain floats (may under- or overflow: for tests and reports)."""
        return np.ldexp(self.mant, self.exp if self.exp.shape == self.mant.shape else self.exp[..., None])


@dataclass(frozen=True)
class GradientTerms:
    """The quantities of C3 for every example of a case (``m`` examples, ``l`` layers, ``t`` 0-based).

    The ``*_abs`` fields are the same quantities computed with ``|W|``, ``|g'|`` and ``|∇_h F|``
    (the size of the terms that cancel inside each sum): the torch route's round-off in a
    quantity is at most about ``n·eps`` times its ``*_abs`` counterpart.

    Attributes:
        grad_x, grad_x_abs: (m,) ‖∇_x f‖.
        grad_theta, grad_theta_abs: (m,) ‖∇_θ f‖.
        grad_layer, grad_layer_abs: (m, l) ‖∇_{W⁽ᵗ⁾,b⁽ᵗ⁾} f‖.
        h_sq: (m, l) ‖h⁽ᵗ⁾‖² (floats).
        w_sv: per layer, (r_t,) singular values of W⁽ᵗ⁾ (floats).
        j_sv: per layer, (m, r_t) singular values of J⁽ᵗ⁾ with one exponent per example (J⁽¹⁾ = I).
        j_abs: (m, l) ‖|J⁽ᵗ⁾|‖_F computed with absolute values.
        resolved: (m, l) false where some entry of ∇_x f, ∇_{W⁽ᵗ⁾,b⁽ᵗ⁾} f or J⁽ᵗ⁾ is not finite, or
            non-zero but so small that a subnormal intermediate may have fed it, even after
            rescaling the head (:func:`resolution_floor`): the numbers cannot decide that layer.
    """

    grad_x: Pow2
    grad_x_abs: Pow2
    grad_theta: Pow2
    grad_theta_abs: Pow2
    grad_layer: Pow2
    grad_layer_abs: Pow2
    h_sq: np.ndarray
    w_sv: tuple[np.ndarray, ...]
    j_sv: tuple[Pow2, ...]
    j_abs: Pow2
    resolved: np.ndarray


def spectral(sv: np.ndarray) -> np.ndarray:
    """‖A‖₂ from singular values along the last axis."""
    return sv.max(axis=-1)


def frobenius(sv: np.ndarray) -> np.ndarray:
    """‖A‖_F = (Σσ²)^{1/2} from singular values along the last axis."""
    return _norms(sv)


def _norms(rows: np.ndarray) -> np.ndarray:
    """Euclidean norms along the last axis, scaled by the largest entry (no square underflows)."""
    top = np.abs(rows).max(axis=-1, keepdims=True, initial=0.0)
    safe = np.where(top > 0, top, 1.0)
    return (top * np.sqrt(((rows / safe) ** 2).sum(axis=-1, keepdims=True)))[..., 0]


def _split_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a`` (m, ...) as (mantissas with the largest |entry| of each row in [1/2, 1), exponents (m,))."""
    top = np.abs(a.reshape(a.shape[0], -1)).max(axis=1, initial=0.0)
    exp = np.frexp(top)[1]
    return np.ldexp(a, -exp.reshape((-1,) + (1,) * (a.ndim - 1))), exp


_TORCH_HEADS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "linear": lambda h, u: (h * u).sum(-1),
    "quadratic": lambda h, u: 0.5 * ((h - u) ** 2).sum(-1),
    "logsumexp": lambda h, u: torch.logsumexp(h + u, dim=-1),
}


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(device="cpu", dtype=torch.float64).numpy()


def case_functions(case: MLPHeadCase, dtype: str = "float64", device: str = "cpu") -> dict[str, Any]:
    """The tensors and per-example functions of a case.

    Returns:
        ``spec``, ``theta`` (n,), ``X`` (m, d_in), ``Y`` (m, d_out + 1) = rows ``[u, s]``, ``head``,
        ``f(theta, x, y)`` = ``s·F(h⁽ˡ⁺¹⁾; u)`` for one example (``s`` a power of two that keeps
        backprop out of the subnormal range; 1 unless needed) and ``hidden(theta, x)``, the
        tuple h⁽²⁾..h⁽ˡ⁾ of one example.
    """
    spec = MLPSpec(case.mlp.widths, case.mlp.activation, case.mlp.bias)
    head = _TORCH_HEADS[case.head]
    X = as_tensor(case.mlp.x, dtype, device)
    u = as_tensor(case.u, dtype, device)
    return {
        "spec": spec,
        "theta": as_tensor(case.mlp.flat_params(), dtype, device),
        "X": X,
        "Y": torch.cat([u.expand(X.shape[0], -1), torch.ones_like(X[:, :1])], dim=1),
        "head": head,
        "f": lambda th, x, y: y[-1] * head(mlp_layers(spec, th, x)[0][-1], y[:-1]),
        "hidden": lambda th, x: tuple(mlp_layers(spec, th, x)[0][1:spec.depth]),
    }


def _grads_vmap(fns: dict[str, Any], Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    theta, X, f = fns["theta"], fns["X"], fns["f"]
    gx = vmap(grad(f, argnums=1), in_dims=(None, 0, 0))(theta, X, Y)
    return per_sample_grads(f, theta, X, Y), gx


def _jacobians_vmap(fns: dict[str, Any]) -> tuple[torch.Tensor, ...]:
    if fns["spec"].depth == 1:
        return ()
    return tuple(vmap(jacrev(fns["hidden"], argnums=1), in_dims=(None, 0))(fns["theta"], fns["X"]))


def _grads_loop(fns: dict[str, Any], Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    theta, X, f = fns["theta"], fns["X"], fns["f"]
    rows = []
    for x, y in zip(X, Y):
        leaf = x.detach().requires_grad_(True)
        with torch.enable_grad():
            (g,) = torch.autograd.grad(f(theta, leaf, y), leaf)
        rows.append(g)
    return per_sample_grads_loop(f, theta, X, Y), torch.stack(rows)


def _jacobians_loop(fns: dict[str, Any]) -> tuple[torch.Tensor, ...]:
    if fns["spec"].depth == 1:
        return ()
    per_example = [jacrev(fns["hidden"], argnums=1)(fns["theta"], x) for x in fns["X"]]
    return tuple(torch.stack(js) for js in zip(*per_example))


def _finfo(dtype: torch.dtype) -> np.finfo:
    return np.finfo(np.dtype(str(dtype).removeprefix("torch.")))


def resolution_floor(case: MLPHeadCase, h_max: float, dtype: torch.dtype) -> float:
    r"""Smallest magnitude of a backprop or Jacobian entry still known to relative precision.

    A subnormal intermediate carries an absolute error up to ``tiny·eps`` per rounding; later
    products multiply it by at most :math:`A = \max(1, h_{\max}) \prod_t \max(1, \|W^{(t)}\|_\infty,
    \|W^{(t)}\|_1)` (every :math:`|g'| \le 1.13`) over at most ``n = depth·max width`` roundings, so an
    entry of size at least :math:`2nA \cdot \text{tiny}` is within ``eps`` (relative) of its exact value.

    Args:
        case: the network. h_max: the largest |entry| of x and of every h⁽ᵗ⁾. dtype: the torch dtype.
    """
    net = case.mlp
    amplify = max(1.0, h_max)
    for W in net.weights:
        amplify *= max(1.0, float(np.abs(W).sum(axis=1).max()), float(np.abs(W).sum(axis=0).max()))
    return 2.0 * net.depth * max(net.widths) * amplify * float(_finfo(dtype).tiny)


def _head_shift(gx_abs: Pow2, layer_abs: Pow2, head_grad: np.ndarray, floor: float, dtype: torch.dtype) -> np.ndarray:
    """log2 of the head scale s per example: 0 unless some backprop quantity is near under/overflow.

    The bound is homogeneous of degree 2 in f, and multiplying f by a power of two scales every
    backprop quantity exactly (absent under/overflow), so s only moves the gradients to where the
    dtype resolves them. The absolute-value chains bound every backprop quantity from above, so
    they say where the gradients are before computing them: the largest goes to about
    2^(maxexp - 128) when the smallest would fall within 2^64 of the resolution floor.
    """
    info = _finfo(dtype)
    head = np.abs(head_grad).max(axis=1, initial=0.0)
    exps = np.concatenate([gx_abs.exp[:, None], layer_abs.exp], axis=1).astype(float)
    live = np.concatenate([gx_abs.mant[:, None], layer_abs.mant], axis=1) > 0
    top = np.maximum(np.where(live, exps, -np.inf).max(axis=1), np.where(head > 0, np.frexp(head)[1], -np.inf))
    low = np.where(live, exps - 1, np.inf).min(axis=1)
    target = info.maxexp - 128
    risky = np.isfinite(top) & np.isfinite(head).all() & ((low < np.log2(floor) + 64) | (top > target))
    limit = info.maxexp - 2
    return np.where(risky, np.clip(target - np.where(np.isfinite(top), top, 0), -limit, limit), 0).astype(int)


def _resolved(a: np.ndarray) -> np.ndarray:
    """Per leading index: every entry is finite."""
    return np.isfinite(a.reshape(a.shape[0], -1)).all(axis=1)


def _above(p: Pow2, shift: np.ndarray | int, floor: float) -> np.ndarray:
    """Whether p·2^shift is 0 or at least ``floor`` (away from the subnormal range)."""
    with np.errstate(divide="ignore"):
        return (p.mant == 0) | (np.log2(np.where(p.mant > 0, p.mant, 1.0)) + p.exp + shift >= np.log2(floor))


def _slopes(spec: MLPSpec, zs: list[torch.Tensor]) -> list[np.ndarray]:
    """g'(z⁽ᵗ⁺¹⁾) per layer, (m, d_t), by autograd of the elementwise activation (relu'(0) = 0)."""
    act = ACTIVATIONS[spec.activation]
    out = []
    for z in zs:
        leaf = z.detach().requires_grad_(True)
        with torch.enable_grad():
            (slope,) = torch.autograd.grad(act(leaf).sum(), leaf)
        out.append(_numpy(slope))
    return out


def _abs_chains(weights: tuple[np.ndarray, ...], slopes: list[np.ndarray], head_grad: np.ndarray,
                h_sq: np.ndarray, bias: bool) -> tuple[Pow2, Pow2, Pow2, Pow2]:
    """‖∇_x f‖, ‖∇_θ f‖, ‖∇_{W⁽ᵗ⁾,b⁽ᵗ⁾} f‖ and ‖J⁽ᵗ⁾‖_F computed with |W|, |g'|, |∇_h F| (float64).

    Each step is renormalized per example by a power of two, so nothing under- or overflows.
    """
    absW = [np.abs(W) for W in weights]
    depth = len(absW)
    v, e = _split_rows(np.abs(slopes[-1]) * np.abs(head_grad))
    deltas = [(v, e)]
    for t in range(depth - 1, 0, -1):
        v, k = _split_rows(np.abs(slopes[t - 1]) * (v @ absW[t]))
        e = e + k
        deltas.insert(0, (v, e))
    gx_abs = Pow2.of(_norms(deltas[0][0] @ absW[0]), deltas[0][1])
    extra = 1.0 if bias else 0.0
    layer = [Pow2.of(_norms(d) * np.sqrt(h_sq[:, t] + extra), k) for t, (d, k) in enumerate(deltas)]
    top = np.max([p.exp for p in layer], axis=0)
    theta = Pow2.of(np.sqrt(sum(np.ldexp(p.mant, p.exp - top) ** 2 for p in layer)), top)
    m, d_in = head_grad.shape[0], weights[0].shape[1]
    J, e = np.broadcast_to(np.eye(d_in), (m, d_in, d_in)), np.zeros(m, dtype=int)
    j_abs = []
    for t in range(depth):
        j_abs.append(Pow2.of(_norms(J.reshape(m, -1)), e))
        if t < depth - 1:
            J, k = _split_rows(np.abs(slopes[t])[:, :, None] * (absW[t] @ J))
            e = e + k
    stack = lambda ps: Pow2(np.stack([p.mant for p in ps], axis=1), np.stack([p.exp for p in ps], axis=1))
    return gx_abs, theta, stack(layer), stack(j_abs)


def gradient_terms(case: MLPHeadCase, dtype: str = "float64", device: str = "cpu", *,
                   batched: bool = True) -> GradientTerms:
    """C3's quantities for every example of ``case``.

    Args:
        case: the network, batch and head.
        dtype, device: where torch computes.
        batched: ``vmap`` over the batch (default) or a Python loop of per-example autograd
            calls (the baseline of ``bench/mlp_gradient_inequality.py``; the same numbers).
    """
    fns = case_functions(case, dtype, device)
    grads, jacobians = (_grads_vmap, _jacobians_vmap) if batched else (_grads_loop, _jacobians_loop)
    spec, theta, X, Y = fns["spec"], fns["theta"], fns["X"], fns["Y"]
    hs, zs = mlp_layers(spec, theta, X)
    out = hs[-1].detach().requires_grad_(True)
    with torch.enable_grad():  # ∇_h F per example (the examples are independent)
        (head_grad,) = torch.autograd.grad(fns["head"](out, Y[:, :-1]).sum(), out)
    head_grad = _numpy(head_grad)
    h_sq = np.stack([(_numpy(h) ** 2).sum(axis=1) for h in hs[:spec.depth]], axis=1)
    gx_abs, theta_abs, layer_abs, j_abs = _abs_chains(case.mlp.weights, _slopes(spec, zs), head_grad, h_sq, spec.bias)
    floor = resolution_floor(case, max(float(np.abs(_numpy(h)).max()) for h in hs), X.dtype)
    shift = _head_shift(gx_abs, layer_abs, head_grad, floor, X.dtype)
    if shift.any():
        Y = Y.clone()
        Y[:, -1] = torch.as_tensor(np.ldexp(1.0, shift), dtype=X.dtype, device=X.device)
    G, gx = grads(fns, Y)
    m, d_in = X.shape
    Js = [torch.eye(d_in, dtype=X.dtype, device=X.device).expand(m, d_in, d_in), *jacobians(fns)]
    sizes = [o * i + (o if spec.bias else 0) for (o, i), _ in spec.shapes]
    blocks = [_numpy(b) for b in torch.split(G, sizes, dim=1)]
    G, gx = _numpy(G), _numpy(gx)
    j_sv = [Pow2(*_split_rows(_numpy(torch.linalg.svdvals(J)))) for J in Js]
    Js = [_numpy(J) for J in Js]
    resolved = np.stack([_resolved(gx) & _resolved(b) & _resolved(J) for b, J in zip(blocks, Js)], axis=1)
    resolved &= _above(gx_abs, shift, floor)[:, None] & _above(layer_abs, shift[:, None], floor)
    resolved &= _above(j_abs, 0, floor)
    return GradientTerms(
        grad_x=Pow2.of(_norms(gx), -shift), grad_x_abs=gx_abs,
        grad_theta=Pow2.of(_norms(G), -shift), grad_theta_abs=theta_abs,
        grad_layer=Pow2.of(np.stack([_norms(b) for b in blocks], axis=1), -shift[:, None]), grad_layer_abs=layer_abs,
        h_sq=h_sq, w_sv=tuple(_numpy(torch.linalg.svdvals(W)) for W, _ in unflatten(spec, theta)),
        j_sv=tuple(j_sv), j_abs=j_abs,
        resolved=resolved,
    )
