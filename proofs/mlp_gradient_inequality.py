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
:math:`W^{(t)}` and :math:`J^{(t)}`. The bound is homogeneous of degree 2 in the
gradients, so they are divided by a power of two :math:`c \approx \max|\nabla f|`
before squaring (no underflow when saturated activations make them tiny); norms use
:math:`\sigma_{\max}` of pre-scaled matrices. A case is judged on its worst example
(and, per layer, its worst layer); the scale of the tolerance is
:math:`\max(\text{lhs}, \text{rhs})`, the two terms that cancel. Layers with
:math:`W^{(t)} = 0` or :math:`J^{(t)} = 0` are left out of the sum (then
:math:`\nabla_x f = 0` by the chain identity, which is checked: the multiplied per-layer
form reads :math:`\|\nabla_x f\|^2(1 + \|h^{(t)}\|^2) \le 0`), and the details list them.
The re-check recomputes everything with explicit forward/backward loops in mpmath at
40 digits (no torch, no autograd).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np
import torch
from torch.func import grad, jacrev, vmap

from proofs import _mlp_gradient_symbolic as sym
from verify import (
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
#: depth factor c of the tolerance c·eps·max(lhs, rhs): gradients through <= 4 layers of
#: width <= 16, an SVD, squares and a sum of <= 4 terms (measured: |ratio - 1| <= 40 eps at
#: the equality cases)
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
class GradientTerms:
    r"""The quantities of C3 for every example of a case (float64 numpy arrays).

    Saturated activations make gradients and Jacobians as small as :math:`10^{-300}`, and
    their squares underflow, so every gradient norm, and the singular values of each
    :math:`J^{(t)}`, are stored as a mantissa times a power of two (exactly): the value is
    ``np.ldexp(mantissa, exponent)``. ``m`` examples, ``l`` layers, ``t`` 0-based.

    Attributes:
        grad_x, grad_x_exp: (m,) ‖∇_x f‖.
        grad_theta, grad_theta_exp: (m,) ‖∇_θ f‖.
        grad_layer, grad_layer_exp: (m, l) ‖∇_{W⁽ᵗ⁾,b⁽ᵗ⁾} f‖.
        h_sq: (m, l) ‖h⁽ᵗ⁾‖².
        w_sv: per layer, (r_t,) singular values of W⁽ᵗ⁾.
        j_sv, j_exp: per layer (m, r_t) singular values of J⁽ᵗ⁾ (J⁽¹⁾ = I), and (m, l) their
            common exponents.
        resolved: (m, l) false where some entry of ∇_x f, ∇_{W⁽ᵗ⁾,b⁽ᵗ⁾} f or J⁽ᵗ⁾ is not finite, or
            non-zero but so small that a subnormal intermediate may have fed it, even after
            rescaling the head (see :func:`resolution_floor`): round-off there is not relative,
            the numbers cannot decide that layer.
    """

    grad_x: np.ndarray
    grad_x_exp: np.ndarray
    grad_theta: np.ndarray
    grad_theta_exp: np.ndarray
    grad_layer: np.ndarray
    grad_layer_exp: np.ndarray
    h_sq: np.ndarray
    w_sv: tuple[np.ndarray, ...]
    j_sv: tuple[np.ndarray, ...]
    j_exp: np.ndarray
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


def _split_sv(sv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Singular values (m, r) as mantissas (m, r) and one exponent (m,) per matrix (exact)."""
    exponent = np.frexp(sv.max(axis=-1))[1]
    return np.ldexp(sv, -exponent[:, None]), exponent


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
        ``spec``, ``theta`` (n,), ``X`` (m, d_in), ``Y`` (m, d_out + 1) = rows ``[u, s]``,
        ``f(theta, x, y)`` = ``s·F(h⁽ˡ⁺¹⁾; u)`` for one example (``s`` a power of two that
        keeps backprop out of the subnormal range; 1 unless needed) and ``hidden(theta, x)``,
        the tuple h⁽²⁾..h⁽ˡ⁾ of one example.
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


def _head_shift(entries: np.ndarray, dtype: torch.dtype) -> np.ndarray:
    """log2 of the head scale s per example: 0 unless some backprop entry is near under/overflow.

    Args:
        entries: (m, k) per example every entry of ∇_θ f, ∇_x f and ∇_h F (the seed of backprop).

    The bound is homogeneous of degree 2 in f, and multiplying f by a power of two scales
    every backprop quantity exactly (absent under/overflow), so s only moves the gradients
    to where the dtype resolves them: the largest entry to about 2^(maxexp - 128).
    """
    info = _finfo(dtype)
    entries = np.abs(entries)
    top = entries.max(axis=1, initial=0.0)
    low = np.where(entries > 0, entries, np.inf).min(axis=1, initial=np.inf)
    target = info.maxexp - 128
    risky = (top > 0) & np.isfinite(top) & ((low < np.ldexp(info.tiny / info.eps, 64)) | (top > 2.0**target))
    limit = info.maxexp - 2
    return np.where(risky, np.clip(target - np.frexp(top)[1], -limit, limit), 0)


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


def _resolved(a: np.ndarray, low: float) -> np.ndarray:
    """Per leading index: every entry is finite, and every non-zero one at least ``low`` in magnitude."""
    flat = np.abs(a.reshape(a.shape[0], -1))
    return ~((flat > 0) & (flat < low)).any(axis=1) & np.isfinite(flat).all(axis=1)


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
    hs, _ = mlp_layers(spec, theta, X)
    out = hs[-1].detach().requires_grad_(True)
    with torch.enable_grad():  # ∇_h F per example (the examples are independent)
        (head_grad,) = torch.autograd.grad(fns["head"](out, Y[:, :-1]).sum(), out)
    G, gx = grads(fns, Y)
    shift = _head_shift(np.concatenate([_numpy(G), _numpy(gx), _numpy(head_grad)], axis=1), X.dtype)
    if shift.any():
        Y = Y.clone()
        Y[:, -1] = torch.as_tensor(np.ldexp(1.0, shift), dtype=X.dtype, device=X.device)
        G, gx = grads(fns, Y)
    m, d_in = X.shape
    Js = [torch.eye(d_in, dtype=X.dtype, device=X.device).expand(m, d_in, d_in), *jacobians(fns)]
    sizes = [o * i + (o if spec.bias else 0) for (o, i), _ in spec.shapes]
    blocks = [_numpy(b) for b in torch.split(G, sizes, dim=1)]
    G, gx = _numpy(G), _numpy(gx)
    low = resolution_floor(case, max(float(np.abs(_numpy(h)).max()) for h in hs), X.dtype)
    j_split = [_split_sv(_numpy(torch.linalg.svdvals(J))) for J in Js]
    gx_m, gx_e = np.frexp(_norms(gx))
    th_m, th_e = np.frexp(_norms(G))
    layer_m, layer_e = np.frexp(np.stack([_norms(b) for b in blocks], axis=1))
    return GradientTerms(
        grad_x=gx_m, grad_x_exp=gx_e - shift, grad_theta=th_m, grad_theta_exp=th_e - shift,
        grad_layer=layer_m, grad_layer_exp=layer_e - shift[:, None],
        h_sq=np.stack([(_numpy(h) ** 2).sum(axis=1) for h in hs[:spec.depth]], axis=1),
        w_sv=tuple(_numpy(torch.linalg.svdvals(W)) for W, _ in unflatten(spec, theta)),
        j_sv=tuple(s for s, _ in j_split), j_exp=np.stack([e for _, e in j_split], axis=1),
        resolved=np.stack([_resolved(gx, low) & _resolved(b, low) & _resolved(_numpy(J), low)
                           for b, J in zip(blocks, Js)], axis=1),
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
    """An mpmath number ≥ 0 as (mantissa in [1/2, 1), exponent), exactly up to rounding the mantissa."""
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
            j_sv = []
            for t in range(depth):
                j_sv.append(_mp_svd(J))
                if t < depth - 1:
                    J = [[slopes[t][i] * mpmath.fsum(Ws[t][i][k] * J[k][j] for k in range(len(J)))
                          for j in range(net.d_in)] for i in range(len(Ws[t]))]
            rows.append({"grad_x": _mp_norm(delta), "grad_theta": _mp_norm([v for b in blocks for v in b]),
                         "grad_layer": [_mp_norm(b) for b in blocks],
                         "h_sq": [float(mpmath.fsum(a**2 for a in hs[t])) for t in range(depth)], "j_sv": j_sv})
    pick = lambda key, k: np.array([[p[k] for p in r[key]] if isinstance(r[key], list) else r[key][k]
                                    for r in rows])
    return GradientTerms(
        grad_x=pick("grad_x", 0), grad_x_exp=pick("grad_x", 1), grad_theta=pick("grad_theta", 0),
        grad_theta_exp=pick("grad_theta", 1), grad_layer=pick("grad_layer", 0),
        grad_layer_exp=pick("grad_layer", 1), h_sq=np.array([r["h_sq"] for r in rows]), w_sv=tuple(w_sv),
        j_sv=tuple(np.array([r["j_sv"][t][0] for r in rows]) for t in range(depth)),
        j_exp=np.array([[r["j_sv"][t][1] for t in range(depth)] for r in rows]),
        resolved=np.ones((len(rows), depth), dtype=bool),
    )


# --------------------------------------------------------------------------- judging


@dataclass(frozen=True)
class Form:
    """Which statement a case is judged against (the claims and the tests' wrong variants).

    Attributes:
        per_layer: judge every layer's multiplied form instead of the summed form.
        w_norm, j_norm: the matrix norm of W⁽ᵗ⁾ and J⁽ᵗ⁾, from singular values.
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


def _value(mantissa: float, exponent: int) -> float:
    return float(min(np.ldexp(mantissa, int(exponent)), _CAP))


def _undecidable(reason: str) -> tuple[Comparison, dict[str, Any]]:
    return (Comparison(status="undecidable", lhs=0.0, rhs=0.0, abs_err=0.0, rel_err=0.0, slack=0.0, ratio=None,
                       scale=0.0, atol=0.0), {"reason": reason})


def _worst(comparisons: list[tuple[Comparison, dict[str, Any]]]) -> tuple[Comparison, dict[str, Any]]:
    """The least slack among the decidable ones (scale > 0); 0 ≤ 0 only if nothing else is there."""
    live = [c for c in comparisons if c[0].scale > 0] or comparisons
    return min(live, key=lambda c: c[0].slack)


def judge(terms: GradientTerms, tol: Tolerance, form: Form = Form()) -> tuple[Comparison, dict[str, Any]]:
    """Judge every example of a case (and every layer, for the per-layer form); return the worst.

    Summed form: lhs = factor·‖∇_x f‖² Σ_t (one + ‖h⁽ᵗ⁾‖²)/(‖W⁽ᵗ⁾‖²‖J⁽ᵗ⁾‖²) over the layers with a
    non-zero denominator, rhs = ‖∇_θ f‖², both in units of 2^units_log2, scale max(lhs, rhs).
    Per-layer form: ratio_t = factor·‖∇_x f‖²(one + ‖h⁽ᵗ⁾‖²)/(‖W⁽ᵗ⁾‖‖J⁽ᵗ⁾‖‖∇_{W⁽ᵗ⁾,b⁽ᵗ⁾} f‖)² ≤ 1
    (the multiplied form divided by its right side), scale max(ratio_t, 1). Where the right side
    is 0 (a zero denominator, or δ⁽ᵗ⁾ = 0) the multiplied form reads factor·‖∇_x f‖²(one + ‖h⁽ᵗ⁾‖²) ≤ 0.
    Unresolved layers (see :class:`GradientTerms`) are left out and listed; a case with nothing
    left is ``undecidable``.
    """
    w = np.array([form.w_norm(sv) for sv in terms.w_sv])  # (l,)
    j = np.stack([form.j_norm(sv) for sv in terms.j_sv], axis=1)  # (m, l) mantissas, exponents j_exp
    results, unresolved = [], []
    for i in range(terms.grad_x.shape[0]):
        gx, gx_e, one_h = terms.grad_x[i], terms.grad_x_exp[i], form.one + terms.h_sq[i]
        zero = [t for t in range(w.shape[0]) if w[t] * j[i, t] == 0]
        base = {"example": i}
        for t in (t for t in zero if terms.resolved[i, t]):  # ∇_x f = J⁽ᵗ⁾ᵀW⁽ᵗ⁾ᵀδ⁽ᵗ⁾ = 0 must hold here
            lhs = form.factor * gx**2 * one_h[t]
            results.append((compare_leq(lhs, 0.0, lhs, tol), {**base, "layer": t + 1, "form": "zero-denominator",
                                                              "units_log2": 2 * int(gx_e)}))
        live = [t for t in range(w.shape[0]) if t not in zero]
        bad = [t + 1 for t in range(w.shape[0]) if not terms.resolved[i, t]]
        if bad:
            unresolved.append({"example": i, "layers": bad})
        if form.per_layer:
            for t in (t for t in live if terms.resolved[i, t]):
                bound = terms.grad_layer[i, t] * w[t] * j[i, t]
                if bound == 0:  # δ⁽ᵗ⁾ = 0
                    lhs = form.factor * gx**2 * one_h[t]
                    results.append((compare_leq(lhs, 0.0, lhs, tol), {**base, "layer": t + 1, "form": "delta-zero"}))
                    continue
                exponent = 2 * (gx_e - terms.j_exp[i, t] - terms.grad_layer_exp[i, t])
                ratio = form.factor * _value((gx / bound) ** 2 * one_h[t], exponent)
                results.append((compare_leq(ratio, 1.0, max(ratio, 1.0), tol), {**base, "layer": t + 1}))
        elif not bad:
            th, th_e = terms.grad_theta[i], terms.grad_theta_exp[i]
            unit = int(th_e if th > 0 else gx_e)
            lhs = form.factor * sum(_value((gx / (w[t] * j[i, t])) ** 2 * one_h[t],
                                           2 * (gx_e - terms.j_exp[i, t] - unit)) for t in live)
            rhs = _value(th**2, 2 * (th_e - unit))
            results.append((compare_leq(lhs, rhs, max(lhs, rhs), tol),
                            {**base, "units_log2": 2 * unit, "skipped_layers": [t + 1 for t in zero]}))
    if not results:
        return _undecidable(f"every example has a layer whose gradients or Jacobian fall below tiny/eps of the "
                            f"dtype (subnormal range): {unresolved}")
    comparison, details = _worst(results)
    return comparison, {**details, "unresolved": unresolved} if unresolved else details


def _judge_case(case: MLPHeadCase, ctx: CheckContext, form: Form, route: str) -> CaseResult:
    if route == "mpmath":
        terms, tol, how = gradient_terms_mp(case), Tolerance("float64", DEPTH), f"mpmath {MP_DIGITS} digits; "
    else:
        terms, tol, how = gradient_terms(case, ctx.dtype, ctx.device), Tolerance(ctx.dtype, DEPTH), ""
    comparison, details = judge(terms, tol, form)
    details = {"widths": list(case.mlp.widths), "activation": case.mlp.activation, "head": case.head,
               "ratio": comparison.ratio, **details}
    return CaseResult(comparison, case.tags, details, how + tol.describe())


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
