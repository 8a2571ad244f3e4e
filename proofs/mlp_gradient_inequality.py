r"""Input-gradient vs parameter-gradient inequality for MLPs (C3), and seed 001's mistake.

Source: seed 001 (苏剑林, "输入梯度惩罚与参数梯度惩罚的一个不等式", inequality (1)), after
Dherin, Munn & Barrett, "The Geometric Occam's Razor Implicit in Deep Learning" (2022);
restated precisely as C3 in ``CLAIMS.md``.

For :math:`h^{(1)} = x`, :math:`z^{(t+1)} = W^{(t)}h^{(t)} + b^{(t)}`,
:math:`h^{(t+1)} = g(z^{(t+1)})` (the activation follows the last layer too),
:math:`f = F(h^{(l+1)})`, :math:`\delta^{(t)} = \partial f/\partial z^{(t+1)}` and
:math:`J^{(t)} = \partial h^{(t)}/\partial x`:

.. math::

    \nabla_x f = J^{(t)\top}W^{(t)\top}\delta^{(t)},\qquad
    \|\nabla_{W^{(t)},b^{(t)}} f\|^2 = \|\delta^{(t)}\|^2\bigl(1 + \|h^{(t)}\|^2\bigr),

    \|\nabla_x f\|^2 \sum_{t=1}^{l} \frac{1 + \|h^{(t)}\|^2}{\|W^{(t)}\|_2^2\,\|J^{(t)}\|_2^2}
    \le \|\nabla_\theta f\|^2 .

Claims: ``mlp-gradient-inequality``, ``mlp-gradient-inequality-per-layer``,
``mlp-gradient-inequality-frobenius`` (hold); ``mlp-gradient-inequality-no-bias-keeps-one``
(seed 001 without biases) and ``mlp-gradient-inequality-doubled`` (refuted).

Numerics. Each case is a network, a batch and a head (:func:`verify.mlp_head_cases`,
which generates the equality cases on purpose). Per example (``vmap`` over the batch):
:math:`\nabla_\theta f` (:func:`verify.per_sample_grads`), :math:`\nabla_x f`
(``vmap(grad)``), :math:`J^{(t)}` (``vmap(jacrev)``), singular values of
:math:`W^{(t)}` and :math:`J^{(t)}` (``torch.linalg.svdvals``; the spectral norm is the
largest, as in ``matrix_norm(ord=2)``). A case is judged on its worst example (and, per
layer, its worst layer); the tolerance is ``DEPTH·eps·max(lhs, rhs)``, the size of the two
terms that cancel, times a round-off bound ("condition" ≥ 1, in the details) computed from
the same quantities with ``|W|``, ``|g'|`` (where a sum inside backprop cancels, its error is
relative to the sum of absolute values). Saturated activations push gradients towards
1e-300: the bound is homogeneous of degree 2 in f, so f is multiplied by an exact power of
two that keeps backprop out of the subnormal range, norms are kept as mantissa × 2^exponent,
and a layer whose numbers still fall where subnormal round-off could dominate is left out
(``details.unresolved``; a case with nothing left is ``undecidable``). Layers with
:math:`W^{(t)} = 0` or :math:`J^{(t)} = 0` are left out of the sum (``details.skipped_layers``);
for them the multiplied per-layer form says :math:`\nabla_x f = 0`, which is judged instead.
The re-check recomputes everything with explicit forward/backward loops in mpmath at
40 digits (no torch, no autograd).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np
import torch
from torch.func import grad, jacrev, vmap

from proofs import _mlp_gradient_symbolic as sym
from verify import (
    ACTIVATIONS,
    CaseResult,
    CheckContext,
    Claim,
    Comparison,
    MLPHeadCase,
    MLPSpec,
    SymbolicResult,
    Tolerance,
    as_tensor,
    compare_leq,
    mlp_head_cases,
    mlp_layers,
    per_sample_grads,
    per_sample_grads_loop,
    register,
    unflatten,
)

SOURCE = ("seed 001, inequality (1) ('输入梯度惩罚与参数梯度惩罚的一个不等式'); Dherin, Munn & Barrett, "
          "'The Geometric Occam's Razor Implicit in Deep Learning' (2022); CLAIMS.md C3")
#: depth factor c of the tolerance c·eps·max(lhs, rhs)·condition: sums of <= 16 terms through
#: <= 4 layers, an SVD, squares and a sum over <= 4 layers (measured at the equality cases:
#: |ratio - 1| <= 10 eps when nothing cancels)
DEPTH = 512.0
MP_DIGITS = 40
HYPOTHESES = (
    r"h^{(1)} = x;\ z^{(t+1)} = W^{(t)}h^{(t)} + b^{(t)};\ h^{(t+1)} = g(z^{(t+1)}),\ t = 1..l",
    r"f = F(h^{(l+1)}) \text{ any differentiable scalar function};\ "
    r"\delta^{(t)} = \partial f/\partial z^{(t+1)};\ J^{(t)} = \partial h^{(t)}/\partial x,\ J^{(1)} = I",
    r"\text{biases present};\ g \text{ differentiable at the point (ReLU: almost everywhere)}",
    r"W^{(t)} \ne 0,\ J^{(t)} \ne 0 \text{ (else the multiplied per-layer form)}",
)

Norm = Callable[[np.ndarray], np.ndarray]


# --------------------------------------------------------------------------- per-example quantities


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


# --------------------------------------------------------------------------- the independent route (mpmath)


def _mp_activation(name: str, z: mpmath.mpf) -> tuple[mpmath.mpf, mpmath.mpf]:
    """(g(z), g'(z)) at mpmath precision; relu'(0) = 0 as in torch."""
    if name == "tanh":
        t = mpmath.tanh(z)
        return t, 1 - t**2
    if name == "sigmoid":
        s = 1 / (1 + mpmath.exp(-z))
        return s, s * (1 - s)
    if name == "softplus":
        return mpmath.log1p(mpmath.exp(z)), 1 / (1 + mpmath.exp(-z))
    if name == "gelu":
        cdf = (1 + mpmath.erf(z / mpmath.sqrt(2))) / 2
        return z * cdf, cdf + z * mpmath.exp(-(z**2) / 2) / mpmath.sqrt(2 * mpmath.pi)
    if name == "identity":
        return z, mpmath.mpf(1)
    if name == "relu":
        return (z, mpmath.mpf(1)) if z > 0 else (mpmath.mpf(0), mpmath.mpf(0))
    raise ValueError(f"Got activation={name!r}, which the mpmath route does not know.")


def _mp_head_gradient(head: str, h: list, u: list) -> list:
    if head == "linear":
        return list(u)
    if head == "quadratic":
        return [a - b for a, b in zip(h, u)]
    e = [mpmath.exp(a + b) for a, b in zip(h, u)]
    total = mpmath.fsum(e)
    return [v / total for v in e]


def _mp_split(value: mpmath.mpf) -> tuple[float, int]:
    """An mpmath number ≥ 0 as (mantissa in [1/2, 1), exponent); only the mantissa is rounded."""
    if value == 0:
        return 0.0, 0
    mantissa, exponent = mpmath.frexp(value)
    return float(mantissa), int(exponent)


def _mp_norm(values: list) -> tuple[float, int]:
    return _mp_split(mpmath.sqrt(mpmath.fsum(v**2 for v in values)))


def _mp_svd(rows: list[list]) -> tuple[list[float], int]:
    """Singular values as mantissas relative to one exponent (that of the largest)."""
    sv = list(mpmath.svd_r(mpmath.matrix(rows), compute_uv=False))
    _, exponent = _mp_split(max(sv))
    return [float(mpmath.ldexp(s, -exponent)) for s in sv], exponent


def gradient_terms_mp(case: MLPHeadCase, digits: int = MP_DIGITS) -> GradientTerms:
    """The same quantities by explicit forward/backward loops in mpmath (no torch, no autograd).

    Backprop by hand: δ⁽ˡ⁾ = g'(z⁽ˡ⁺¹⁾) ⊙ ∇F, δ⁽ᵗ⁻¹⁾ = g'(z⁽ᵗ⁾) ⊙ W⁽ᵗ⁾ᵀδ⁽ᵗ⁾, ∇_W f = δhᵀ, ∇_b f = δ,
    ∇_x f = W⁽¹⁾ᵀδ⁽¹⁾; J⁽ᵗ⁺¹⁾ = diag(g'(z⁽ᵗ⁺¹⁾)) W⁽ᵗ⁾ J⁽ᵗ⁾; singular values by ``mpmath.svd_r``.
    At 40 digits round-off is negligible, so each ``*_abs`` field is the quantity itself, and
    mpmath's exponent range is unbounded, so every example is ``resolved``.
    """
    net = case.mlp
    depth = net.depth
    rows: list[dict[str, Any]] = []
    with mpmath.workdps(digits):
        mp = lambda a: [mpmath.mpf(float(v)) for v in a]  # exact: every float64 is an mpf
        Ws = [[mp(row) for row in W] for W in net.weights]
        bs = [mp(b) for b in net.biases] if net.bias else [mp(np.zeros(w)) for w in net.widths[1:]]
        w_sv = [np.array([float(s) for s in mpmath.svd_r(mpmath.matrix(W), compute_uv=False)]) for W in Ws]
        for x in net.x:
            hs, slopes = [mp(x)], []
            for W, b in zip(Ws, bs):
                pairs = [_mp_activation(net.activation, mpmath.fsum(w * a for w, a in zip(row, hs[-1])) + bi)
                         for row, bi in zip(W, b)]
                hs.append([p[0] for p in pairs])
                slopes.append([p[1] for p in pairs])
            delta = [s * d for s, d in zip(slopes[-1], _mp_head_gradient(case.head, hs[-1], mp(case.u)))]
            blocks: list[list] = [[] for _ in range(depth)]
            for t in range(depth - 1, -1, -1):
                blocks[t] = [d * a for d in delta for a in hs[t]] + (list(delta) if net.bias else [])
                back = [mpmath.fsum(Ws[t][i][j] * delta[i] for i in range(len(delta))) for j in range(len(hs[t]))]
                delta = back if t == 0 else [s * v for s, v in zip(slopes[t - 1], back)]
            J = [[mpmath.mpf(int(i == j)) for j in range(net.d_in)] for i in range(net.d_in)]
            j_sv, j_fro = [], []
            for t in range(depth):
                j_sv.append(_mp_svd(J))
                j_fro.append(_mp_norm([v for row in J for v in row]))
                if t < depth - 1:
                    J = [[slopes[t][i] * mpmath.fsum(Ws[t][i][k] * J[k][j] for k in range(len(J)))
                          for j in range(net.d_in)] for i in range(len(Ws[t]))]
            rows.append({"grad_x": _mp_norm(delta), "grad_theta": _mp_norm([v for b in blocks for v in b]),
                         "grad_layer": [_mp_norm(b) for b in blocks], "j_fro": j_fro, "j_sv": j_sv,
                         "h_sq": [float(mpmath.fsum(a**2 for a in hs[t])) for t in range(depth)]})
    pow2 = lambda key: Pow2(np.array([[p[0] for p in r[key]] if isinstance(r[key], list) else r[key][0]
                                      for r in rows]),
                            np.array([[p[1] for p in r[key]] if isinstance(r[key], list) else r[key][1]
                                      for r in rows]))
    return GradientTerms(
        grad_x=pow2("grad_x"), grad_x_abs=pow2("grad_x"), grad_theta=pow2("grad_theta"),
        grad_theta_abs=pow2("grad_theta"), grad_layer=pow2("grad_layer"), grad_layer_abs=pow2("grad_layer"),
        h_sq=np.array([r["h_sq"] for r in rows]), w_sv=tuple(w_sv),
        j_sv=tuple(Pow2(np.array([r["j_sv"][t][0] for r in rows]), np.array([r["j_sv"][t][1] for r in rows]))
                   for t in range(depth)),
        j_abs=pow2("j_fro"), resolved=np.ones((len(rows), depth), dtype=bool),
    )


# --------------------------------------------------------------------------- judging


@dataclass(frozen=True)
class Form:
    """Which statement a case is judged against (the claims and the tests' wrong variants).

    Attributes:
        per_layer: judge every layer's multiplied form instead of the summed form.
        w_norm, j_norm: the matrix norm of W⁽ᵗ⁾ and J⁽ᵗ⁾ from singular values (homogeneous of degree 1).
        one: the "1" in 1 + ‖h⁽ᵗ⁾‖².
        factor: multiplies the left side.
    """

    per_layer: bool = False
    w_norm: Norm = spectral
    j_norm: Norm = spectral
    one: float = 1.0
    factor: float = 1.0


#: Values past this are reported as this (a violation by a factor 1e300 needs no more digits).
_CAP = 1e300


def _v(mant: float, exp: int | np.integer) -> float:
    """mant · 2^exp as a Python float (no numpy overflow warnings), capped at ``_CAP``."""
    exp = int(exp)
    return _CAP if exp > 1100 else min(math.ldexp(float(mant), exp), _CAP)


def _undecidable(reason: str) -> tuple[Comparison, dict[str, Any]]:
    return (Comparison(status="undecidable", lhs=0.0, rhs=0.0, abs_err=0.0, rel_err=0.0, slack=0.0, ratio=None,
                       scale=0.0, atol=0.0), {"reason": reason})


def _worst(comparisons: list[tuple[Comparison, dict[str, Any]]]) -> tuple[Comparison, dict[str, Any]]:
    """The least slack among the decidable ones (scale > 0); 0 ≤ 0 only if nothing else is there."""
    live = [c for c in comparisons if c[0].scale > 0 and c[0].status != "undecidable"] or comparisons
    return min(live, key=lambda c: c[0].slack)


def _leq(lhs: float, rhs: float, scale: float, noise: float, dtype: str) -> tuple[Comparison, float]:
    """compare_leq with the depth factor widened by the round-off ``noise`` (in units of depth·eps)."""
    condition = 1.0 + (noise / scale if scale > 0 else 0.0)
    depth = min(DEPTH * condition, _CAP)
    return compare_leq(lhs, rhs, scale, Tolerance(dtype, depth)), float(condition)


def judge(terms: GradientTerms, dtype: str, form: Form = Form()) -> tuple[Comparison, dict[str, Any]]:
    """Judge every example of a case (and every layer, for the per-layer form); return the worst.

    Summed form: lhs = factor·‖∇_x f‖² Σ_t (one + ‖h⁽ᵗ⁾‖²)/(‖W⁽ᵗ⁾‖²‖J⁽ᵗ⁾‖²) over the layers with a
    non-zero denominator, rhs = ‖∇_θ f‖² (in units of 2^units_log2 where plain floats would under-
    or overflow; units_log2 = 0 otherwise), scale max(lhs, rhs).
    Per-layer form: ratio_t = factor·‖∇_x f‖²(one + ‖h⁽ᵗ⁾‖²)/(‖W⁽ᵗ⁾‖‖J⁽ᵗ⁾‖‖∇_{W⁽ᵗ⁾,b⁽ᵗ⁾} f‖)² ≤ 1
    (the multiplied form divided by its right side), scale max(ratio_t, 1). Where the right side
    is 0 (a zero denominator, or δ⁽ᵗ⁾ = 0) the multiplied form says ∇_x f = 0: judged as
    ‖∇_x f‖ ≤ 0 on the scale of the terms that cancel in it.

    The tolerance is ``DEPTH·eps·scale`` times ``details["condition"]`` ≥ 1: the first-order
    round-off of lhs and rhs, bounded with the ``*_abs`` quantities (where a sum cancels, its
    error is relative to the sum of absolute values, not to the result), over the scale.
    Unresolved layers (:class:`GradientTerms`) are left out and listed; a case with nothing
    left is ``undecidable``.
    """
    w = np.array([form.w_norm(sv) for sv in terms.w_sv])  # (l,)
    j = np.stack([form.j_norm(s.mant) for s in terms.j_sv], axis=1)  # (m, l), exponents j_sv[t].exp
    j_exp = np.stack([s.exp for s in terms.j_sv], axis=1)
    gx, gxa, th, tha = terms.grad_x, terms.grad_x_abs, terms.grad_theta, terms.grad_theta_abs
    lay, laya, ja = terms.grad_layer, terms.grad_layer_abs, terms.j_abs
    results, unresolved = [], []
    for i in range(gx.mant.shape[0]):
        one_h = form.one + terms.h_sq[i]
        zero = [t for t in range(w.shape[0]) if w[t] * j[i, t] == 0]
        bad = [t + 1 for t in range(w.shape[0]) if not terms.resolved[i, t]]
        if bad:
            unresolved.append({"example": i, "layers": bad})

        def input_gradient_is_zero(t: int, why: str) -> None:
            rel = _v(float(gx.mant[i]) / float(gxa.mant[i]), gx.exp[i] - gxa.exp[i]) if gxa.mant[i] > 0 else 0.0
            comparison, _ = _leq(rel, 0.0, 1.0 if gxa.mant[i] > 0 else 0.0, 0.0, dtype)
            results.append((comparison, {"example": i, "layer": t + 1, "form": why}))

        for t in zero:
            if terms.resolved[i, t]:
                input_gradient_is_zero(t, "zero-denominator")
        live = [t for t in range(w.shape[0]) if t not in zero]
        if form.per_layer:
            for t in (t for t in live if terms.resolved[i, t]):
                if lay.mant[i, t] == 0:
                    input_gradient_is_zero(t, "delta-zero")
                    continue
                base, base_e = float(w[t]) * float(j[i, t]) * float(lay.mant[i, t]), j_exp[i, t] + lay.exp[i, t]
                root = math.sqrt(form.factor * one_h[t])
                q = root * _v(gx.mant[i] / base, gx.exp[i] - base_e)  # √ratio
                q_abs = root * _v(gxa.mant[i] / base, gxa.exp[i] - base_e)
                kappa = _v(float(ja.mant[i, t]) / float(j[i, t]), ja.exp[i, t] - j_exp[i, t]) + _v(
                    float(laya.mant[i, t]) / float(lay.mant[i, t]), laya.exp[i, t] - lay.exp[i, t])
                ratio = min(q * q, _CAP)
                noise = min(2 * (q * q_abs + ratio * kappa), _CAP)
                comparison, condition = _leq(ratio, 1.0, max(ratio, 1.0), noise, dtype)
                results.append((comparison, {"example": i, "layer": t + 1, "condition": condition}))
        elif not bad:
            unit = int(th.exp[i] if th.mant[i] > 0 else gx.exp[i])
            lhs = noise = 0.0
            for t in live:
                e = gx.exp[i] - j_exp[i, t] - unit
                root = math.sqrt(form.factor * one_h[t])
                den = float(w[t]) * float(j[i, t])
                s, s_abs = root * _v(float(gx.mant[i]) / den, e), root * _v(float(gxa.mant[i]) / den, e)
                kappa = _v(float(ja.mant[i, t]) / float(j[i, t]), ja.exp[i, t] - j_exp[i, t])
                lhs += s * s
                noise += 2 * (s * s_abs + s * s * kappa)
            rhs = _v(float(th.mant[i]) ** 2, 2 * (th.exp[i] - unit))
            noise += 2 * _v(float(th.mant[i]) * float(tha.mant[i]), th.exp[i] + tha.exp[i] - 2 * unit)
            units = 2 * unit
            if all(-1000 < math.frexp(v)[1] + units < 1000 for v in (lhs, rhs, noise) if 0 < v < _CAP):
                # plain values where they stay normal floats (the rescaling is exact)
                lhs, rhs, noise, units = math.ldexp(lhs, units), math.ldexp(rhs, units), math.ldexp(noise, units), 0
            lhs, noise = min(lhs, _CAP), min(noise, _CAP)
            comparison, condition = _leq(lhs, rhs, max(lhs, rhs), noise, dtype)
            results.append((comparison, {"example": i, "units_log2": units, "condition": condition,
                                         "skipped_layers": [t + 1 for t in zero]}))
    if not results:
        return _undecidable("every example has a layer whose gradients or Jacobian are not finite or fall where "
                            f"subnormal round-off may dominate them: {unresolved}")
    comparison, details = _worst(results)
    return comparison, {**details, "unresolved": unresolved} if unresolved else details


def _judge_case(case: MLPHeadCase, ctx: CheckContext, form: Form, route: str) -> CaseResult:
    if route == "mpmath":
        terms, dtype, how = gradient_terms_mp(case), "float64", f"mpmath {MP_DIGITS} digits; "
    else:
        terms, dtype, how = gradient_terms(case, ctx.dtype, ctx.device), ctx.dtype, ""
    comparison, details = judge(terms, dtype, form)
    details = {"widths": list(case.mlp.widths), "activation": case.mlp.activation, "head": case.head,
               "ratio": comparison.ratio, **details}
    return CaseResult(comparison, case.tags, details,
                      how + Tolerance(dtype, DEPTH).describe() + " × details.condition (round-off bound, ≥ 1)")


def make_claim(form: Form, *, claim_id: str, statement: str, expected: str = "holds", bias: bool = True,
               symbolic: Callable[[], SymbolicResult] | None = None, title: str = "",
               notes: tuple[str, ...] = (), cases: Callable[[], Any] | None = None) -> Claim:
    """A claim "C3 in ``form`` holds" over :func:`verify.mlp_head_cases` (biases on or off).

    The check uses torch (vmap over the batch); the re-check of a counterexample the
    mpmath route, judged the same way.
    """
    return Claim(
        id=claim_id, title=title, statement=statement, source=SOURCE, expected=expected,
        hypotheses=HYPOTHESES if bias else HYPOTHESES[:2] + (r"\text{no biases}",) + HYPOTHESES[3:],
        symbolic=symbolic, cases=cases or (lambda: mlp_head_cases(bias=bias)),
        check=lambda case, ctx: _judge_case(case, ctx, form, "torch"),
        recheck=lambda case, ctx: _judge_case(case, ctx, form, "mpmath"),
        relation="inequality", decode_case=MLPHeadCase.from_json, notes=notes,
    )


def ratio_distribution(claim: Claim, *, examples: int = 200, seed: int = 0, dtype: str = "float64",
                       device: str = "cpu") -> dict[str, Any]:
    """The distribution of the tightness ratio lhs/rhs over ``examples`` generated cases.

    The engine keeps only the largest ratio (``tightest_ratio``); this runs the claim's
    check over its own strategy (seeded like the engine) and summarizes every ratio.

    Returns:
        ``cases`` (with a ratio), ``quantiles`` (min, 10, 25, 50, 75, 90, 99 %, max),
        ``at_least`` (fraction of cases with ratio ≥ 0.5, 0.9, 0.999) and ``histogram``
        (counts over [0, 0.1), …, [0.9, 1.0), [1.0, ∞)).
    """
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    ctx = CheckContext(device=device, dtype=dtype, seed=seed, examples=examples)
    ratios: list[float] = []

    @settings(max_examples=examples, database=None, deadline=None, phases=(Phase.generate,),
              suppress_health_check=list(HealthCheck))
    @hypothesis_seed(seed)
    @given(case=claim.cases())  # type: ignore[misc]
    def collect(case: Any) -> None:
        ratio = claim.check(case, ctx).comparison.ratio  # type: ignore[misc]
        if ratio is not None:
            ratios.append(ratio)

    collect()
    r = np.array(ratios)
    if not r.size:
        return {"cases": 0, "quantiles": {}, "at_least": {}, "histogram": []}
    levels = {"min": 0, "p10": 10, "p25": 25, "p50": 50, "p75": 75, "p90": 90, "p99": 99, "max": 100}
    edges = [*np.linspace(0.0, 1.0, 11), np.inf]
    return {
        "cases": int(r.size),
        "quantiles": {k: float(np.percentile(r, q)) for k, q in levels.items()},
        "at_least": {str(a): float((r >= a).mean()) for a in (0.5, 0.9, 0.999)},
        "histogram": [int(c) for c in np.histogram(r, bins=edges)[0]],
    }


# --------------------------------------------------------------------------- the claims

_LHS = r"\|\nabla_x f\|^2 \sum_{t=1}^{l} \frac{1 + \|h^{(t)}\|^2}{\|W^{(t)}\|_2^2\,\|J^{(t)}\|_2^2}"
_EQUALITY = ("Equality cases generated on purpose (verify.mlp_head_cases): widths all 1 (any activation and "
             "head), and identity networks whose layers share singular frames with a linear head along the "
             "top left singular vector of the last layer (depth 1: any W). tightest_ratio reaches 1 there.",)
_ZERO = ("Layers with W⁽ᵗ⁾ = 0 or J⁽ᵗ⁾ = 0 are left out of the sum (details.skipped_layers); for them the "
         "multiplied form ‖∇_x f‖²(1 + ‖h⁽ᵗ⁾‖²) ≤ 0, i.e. ∇_x f = 0, is judged instead.",
         "ReLU is differentiable only almost everywhere; torch takes relu'(0) = 0, and the chain-rule "
         "identities (hence the bound) hold for that choice as for any other value of g'(0).")

SUMMED = register(make_claim(
    Form(), claim_id="mlp-gradient-inequality", title="Input-gradient vs parameter-gradient inequality for MLPs",
    statement=_LHS + r" \le \|\nabla_\theta f\|^2",
    symbolic=lambda: SymbolicResult(sym.steps("summed")),
    notes=(*_EQUALITY, *_ZERO,
           "The seed writes ‖∇_x h⁽ᵗ⁾‖ without naming the matrix norm: it must be the spectral norm "
           "(or any larger one, e.g. Frobenius: mlp-gradient-inequality-frobenius)."),
))

PER_LAYER = register(make_claim(
    Form(per_layer=True), claim_id="mlp-gradient-inequality-per-layer",
    title="Input-gradient vs parameter-gradient inequality, layer by layer",
    statement=(r"\|\nabla_x f\|^2\left(1 + \|h^{(t)}\|^2\right) \le \|W^{(t)}\|_2^2\,\|J^{(t)}\|_2^2\,"
               r"\|\nabla_{W^{(t)},b^{(t)}} f\|^2 \quad (t = 1, \dots, l)"),
    symbolic=lambda: SymbolicResult(sym.steps("per-layer")),
    notes=(*_EQUALITY, "Each case is judged on its worst example and worst layer t; the ratio is that layer's "
           "lhs/rhs (the multiplied form divided by its right side).", _ZERO[1]),
))

FROBENIUS = register(make_claim(
    Form(w_norm=frobenius, j_norm=frobenius), claim_id="mlp-gradient-inequality-frobenius",
    title="Input-gradient vs parameter-gradient inequality with Frobenius norms (looser)",
    statement=(r"\|\nabla_x f\|^2 \sum_{t=1}^{l} \frac{1 + \|h^{(t)}\|^2}{\|W^{(t)}\|_F^2\,\|J^{(t)}\|_F^2}"
               r" \le \|\nabla_\theta f\|^2"),
    symbolic=lambda: SymbolicResult(sym.steps("frobenius")),
    notes=("Valid because ‖A‖₂ ≤ ‖A‖_F (frobenius-bound); looser, with equality only where every W⁽ᵗ⁾ and "
           "J⁽ᵗ⁾ has rank one, e.g. widths all 1.", *_ZERO),
))

NO_BIAS_KEEPS_ONE = register(make_claim(
    Form(), claim_id="mlp-gradient-inequality-no-bias-keeps-one", expected="refuted", bias=False,
    title="Seed 001: the inequality for networks without biases, '1 +' kept",
    statement=_LHS + r" \le \|\nabla_\theta f\|^2,\quad \theta = (W^{(1)}, \dots, W^{(l)}) \text{ (no biases)}",
    symbolic=lambda: SymbolicResult([sym.no_bias_counterexample()]),
    notes=("Without biases ‖∇_{W⁽ᵗ⁾} f‖² = ‖δ⁽ᵗ⁾‖²‖h⁽ᵗ⁾‖²: the '1 +' must go (then the bound holds).",),
))

DOUBLED = register(make_claim(
    Form(factor=2.0), claim_id="mlp-gradient-inequality-doubled", expected="refuted",
    title="C3 with twice the left side",
    statement=r"2\," + _LHS + r" \le \|\nabla_\theta f\|^2",
    symbolic=lambda: SymbolicResult([sym.doubled_counterexample()]),
    notes=("Random wide networks sit far below the bound (median ratio well under 1/2), so only the "
           "generated equality cases refute this.",),
))
