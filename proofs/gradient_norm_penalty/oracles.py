r"""The loss and the oracles behind :mod:`proofs.gradient_norm_penalty` (C5, docs/claims.md#c5).

The loss is an MLP regression :math:`L_S(\theta) = \frac1{2m}\sum_i \|f(x_i;\theta) - t_i\|^2`
with fixed targets :math:`t_{ij} = \cos(i d_{out} + j)` (as in the descent-lemma claims), so a
generated :class:`~verify.MLPCase` is a loss. Depth 1 (no hidden layer: the last layer is linear) makes
:math:`L_S` an exact quadratic in :math:`\theta`.

Oracles (torch autograd, float64), independent of the formulas under test:

* the exact gradient of :math:`L = L_S + \lambda\|\nabla L_S\|` by double backward, or by torch.func;
* :math:`Hv` by forward over reverse, by double backward, or from the dense Hessian;
* SAM's gradient :math:`\nabla_\theta L_S(\theta + \varepsilon)` with its perturbation ε;
* the directional derivatives :math:`w_3(\xi) = D^3L_S(\xi)[v,v,\cdot]` and
  :math:`w_4(\xi) = D^4L_S(\xi)[v,v,v,\cdot]` (reverse mode over reverse mode), whose sampled
  maxima on the segment bound the FD truncation error by Taylor's integral remainder:

.. math:: \Bigl\|\tfrac{\nabla L_S(\theta+rv)-\nabla L_S(\theta)}{r} - Hv\Bigr\| \le \tfrac r2
          \sup_{s\in[0,r]}\|w_3(\theta+sv)\|, \qquad
          \Bigl\|\tfrac{\nabla L_S(\theta+rv)-\nabla L_S(\theta-rv)}{2r} - Hv\Bigr\| \le \tfrac{r^2}6
          \sup_{|s|\le r}\|w_4(\theta+sv)\|;

* the error of an FD quotient (:func:`fd_error`), and the same in mpmath with a hand-written
  backpropagation (:func:`mp_fd_error`), free of round-off and of torch's activations;
* Hv, w₃, w₄ in mpmath (:func:`mp_directional`): the measured error of autograd's Hv, and the check
  that torch's higher derivatives are accurate enough for the sampled sups (:func:`checked_segment_bounds`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np
import torch
import torch.autograd.forward_ad as fwAD
from torch.func import grad, jvp, vmap

from verify import MLPCase, MLPSpec, ModuleCase, as_tensor, gradient, hvp_operator, mlp_forward

Fn = Callable[[torch.Tensor], torch.Tensor]
#: an FD quotient: (gradient, θ, v, r, the gradient at θ if known) ↦ the approximation of Hv
Quotient = Callable[..., torch.Tensor]
#: a SAM perturbation: (L_S, θ as a leaf, ρ) ↦ ε, differentiable in θ or held constant
Perturbation = Callable[[Fn, torch.Tensor, float], torch.Tensor]


def targets(m: int, d_out: int, like: torch.Tensor) -> torch.Tensor:
    """t_ij = cos(i·d_out + j): (m, d_out)."""
    return torch.cos(torch.arange(m * d_out, dtype=like.dtype, device=like.device).reshape(m, d_out))


def regression_loss(mlp: MLPCase | ModuleCase, dtype: str = "float64", device: str = "cpu") -> tuple[Fn, torch.Tensor]:
    """``(L_S, θ)`` of a network case (see :data:`proofs.gradient_norm_penalty.networks.NETWORKS`): the loss on its
    batch and its flat parameters."""
    from proofs.gradient_norm_penalty.networks import network  # the registry refers back to this module

    return network(mlp).loss(mlp, dtype, device)


def _mlp_regression_loss(mlp: MLPCase, dtype: str, device: str) -> tuple[Fn, torch.Tensor]:
    """The mean squared error ½‖f(x) − t‖² of the MLP against the targets t = cos(i)."""
    spec = MLPSpec(tuple(mlp.widths), mlp.activation, mlp.bias)
    x = as_tensor(mlp.x, dtype, device)
    t = targets(x.shape[0], spec.widths[-1], x)

    def loss(theta: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((mlp_forward(spec, theta, x) - t) ** 2).sum(-1).mean()

    return loss, as_tensor(mlp.flat_params(), dtype, device)


@functools.lru_cache(maxsize=512)  # cases hash by their bytes; the filter and the checks share it
def gradient_roundoff(mlp: MLPCase) -> float:
    """Round-off amplification κ of ∇L_S at θ: ‖∇L_S in float32 − ∇L_S in float64‖_∞ / ε_32.

    Both are evaluated at the same (float32-representable) point, so the difference is the
    round-off of the float32 computation only; the gradient's round-off in a dtype with unit
    round-off u is then about u·κ. Never below ‖g‖_∞ (the round-off of a single product).
    """
    f32, th32 = regression_loss(mlp, "float32")
    g32, g64 = gradient(f32, th32).double(), _gradient64_at_float32_point(mlp)
    kappa = float((g32 - g64).abs().max()) / float(torch.finfo(torch.float32).eps)
    return max(kappa, float(g64.abs().max())) if math.isfinite(kappa) else math.inf


@functools.lru_cache(maxsize=512)  # both round-off measurements start from it
def _gradient64_at_float32_point(net: MLPCase | ModuleCase) -> torch.Tensor:
    f64, _ = regression_loss(net, "float64")
    return gradient(f64, regression_loss(net, "float32")[1].double())


@functools.lru_cache(maxsize=512)  # the case filter and the check ask for the same network's
def hvp_roundoff(net: MLPCase | ModuleCase) -> float:
    """Round-off amplification of Hĝ at θ, measured like :func:`gradient_roundoff` (float32 against float64 at
    the same point and direction, over ε₃₂). Never below ‖Hĝ‖_∞."""
    f32, th32 = regression_loss(net, "float32")
    f64, _ = regression_loss(net, "float64")
    g = _gradient64_at_float32_point(net)
    direction = g / g.norm()
    h32 = hvp(f32, th32, direction.float()).double()  # the route whose round-off is measured
    h64 = hvp_value(f64, th32.double(), direction.float().double())  # the reference, ~1e-9 of h32's error
    kappa = float((h32 - h64).abs().max()) / float(torch.finfo(torch.float32).eps)
    return max(kappa, float(h64.abs().max())) if math.isfinite(kappa) else math.inf


# --------------------------------------------------------------------------- derivatives


def unit_gradient(f: Fn, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(g, ĝ)`` with ĝ = g/‖g‖₂ (detached)."""
    g = gradient(f, theta).detach()
    return g, g / g.norm()


def penalized_gradient(f: Fn, theta: torch.Tensor, lam: float) -> torch.Tensor:
    """Exact ∇(L_S + λ‖∇L_S‖) by double backward (torch.autograd, create_graph)."""
    leaf = theta.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = f(leaf)
        (g,) = torch.autograd.grad(loss, leaf, create_graph=True)
        (out,) = torch.autograd.grad(loss + lam * g.norm(), leaf)
    return out.detach()


def penalized_gradient_func(f: Fn, theta: torch.Tensor, lam: float) -> torch.Tensor:
    """The same gradient by the other route: torch.func.grad of θ ↦ L_S(θ) + λ‖grad(L_S)(θ)‖."""
    inner = grad(f)
    return grad(lambda t: f(t) + lam * torch.linalg.vector_norm(inner(t)))(theta.detach())


def penalized_hvp(f: Fn, theta: torch.Tensor, lam: float, v: torch.Tensor) -> torch.Tensor:
    """∇²L v for L = L_S + λ‖∇L_S‖, by torch.func.jvp of the penalized gradient (no double backward)."""
    inner = grad(f)
    return jvp(grad(lambda t: f(t) + lam * torch.linalg.vector_norm(inner(t))), (theta,), (v,))[1]


def hvp(f: Fn, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Hv by forward over reverse: the reverse-mode gradient evaluated on dual numbers θ + εv
    (:mod:`torch.autograd.forward_ad`), its tangent. The same products as ``torch.func.jvp(torch.func.grad(f))``,
    bit for bit, a third cheaper: no functorch layers, and tensors without a tangent (the batch, the targets)
    cost nothing instead of running ZeroTensor kernels."""
    with fwAD.dual_level(), torch.enable_grad():
        leaf = theta.detach().requires_grad_(True)
        out = f(fwAD.make_dual(leaf, v))
        g = torch.autograd.grad(out, leaf, allow_unused=True)[0] if out.requires_grad else None
        tangent = None if g is None else fwAD.unpack_dual(g).tangent
    return torch.zeros_like(theta) if tangent is None else tangent


def hvp_value(f: Fn, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Hv by double backward, 2–4× cheaper than :func:`hvp` on these networks: where any autograd route will do (a
    strategy's finiteness test, the Hessian's scale in a tolerance, the reference of finite differences, whose
    own error is measured), not where one autograd product is the check of another."""
    return hvp_operator(f, theta.detach(), route="double_backward")(v)


def hvp_dense(f: Fn, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Hv from the dense Hessian (torch.func.hessian): the re-check route."""
    return torch.func.hessian(f)(theta) @ v


def sam_perturbation(f: Fn, leaf: torch.Tensor, rho: float) -> torch.Tensor:
    """SAM's ε = ρ·ĝ, held constant (detached: no ∂ĝ/∂θ term), as SAM is implemented."""
    (g,) = torch.autograd.grad(f(leaf), leaf)
    return (rho * g / g.norm()).detach()


def sam_gradient(f: Fn, theta: torch.Tensor, rho: float,
                 perturbation: Perturbation = sam_perturbation) -> tuple[torch.Tensor, bool]:
    """``(∇_θ L_S(θ + ε(θ)), whether ε was held constant)`` by torch autograd, ε = ``perturbation``."""
    leaf = theta.detach().requires_grad_(True)
    with torch.enable_grad():
        e = perturbation(f, leaf, rho)
        (sam,) = torch.autograd.grad(f(leaf + e), leaf)
    return sam, not e.requires_grad


def directional_w3_w4(f: Fn, xi: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(D³L(ξ)[v,v,·], D⁴L(ξ)[v,v,v,·])`` by reverse mode over reverse mode: w₃ = ∇⟨∇⟨∇L, v⟩, v⟩, and w₄ the
    gradient of ⟨w₃, v⟩ (w₃ comes out of the same pass). Forward-over-reverse gives the same numbers to round-off
    but ran 2–3× slower on these small networks (torch's forward mode runs Python kernels for the zero tangents
    of the backward pass's constants)."""
    def along_v(g: Fn) -> Fn:
        return lambda t: torch.dot(g(t), v)

    w3_of = grad(along_v(grad(along_v(grad(f)))))

    def w3_and_its_derivative(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w3 = w3_of(t)
        return torch.dot(w3, v), w3

    w4, w3 = grad(w3_and_its_derivative, has_aux=True)(xi)
    return w3, w4


def segment_bounds(f: Fn, theta: torch.Tensor, v: torch.Tensor, r_top: float,
                   points: int = 5) -> tuple[float, float]:
    """``(M3, M4)``: sampled sups of ‖w₃‖_∞ on [θ, θ + r_top v] and of ‖w₄‖_∞ on [θ − r_top v, θ + r_top v].

    w₃, w₄ are evaluated (one vmap) at ``points`` equally spaced s ∈ [−r_top, r_top] (5: s ∈ {0, ±r_top/2,
    ±r_top}). For w affine on the segment the norm is convex and its sup is at an end point; the jumps
    and second differences added by :func:`sampled_sup` are the margin for the curvature of w between samples
    (the grids keep r_top small against the loss's length scale).
    """
    w3, w4 = segment_samples(f, theta, v, r_top, points)
    return sampled_sup(w3[points // 2:]), sampled_sup(w4)


def segment_samples(f: Fn, theta: torch.Tensor, v: torch.Tensor, r_top: float,
                    points: int) -> tuple[torch.Tensor, torch.Tensor]:
    """w₃, w₄ at ``points`` equally spaced s ∈ [−r_top, r_top] (one vmap; the middle one exactly at θ), each
    ``(points, n)``."""
    s = torch.linspace(-r_top, r_top, points, dtype=theta.dtype, device=theta.device)
    s[points // 2] = 0.0
    return vmap(lambda t: directional_w3_w4(f, theta + t * v, v))(s)


def sampled_sup(w: torch.Tensor) -> float:
    """max_k ‖w(s_k)‖_∞ + the largest jump of ‖w‖ + the largest second difference ‖Δ²w‖_∞ (w: (points, n)).

    A C² function deviates from its chord between samples by at most h²/8·sup‖w''‖ ≈ ½‖Δ²w‖.
    """
    norms = w.abs().amax(dim=1)
    jump = float((norms[1:] - norms[:-1]).abs().max())
    second = float((w[2:] - 2 * w[1:-1] + w[:-2]).abs().max())
    return float(norms.max()) + jump + second


def fd_error(quotient: Quotient, grad_fn: Fn, theta: torch.Tensor, v: torch.Tensor, hv: torch.Tensor, r: float,
             base: torch.Tensor | None = None) -> float:
    """‖Q(r) − Hv‖_∞ for the FD quotient Q = ``quotient`` of ``grad_fn`` along v (``base``: grad_fn(θ) if known)."""
    fd = quotient(grad_fn, theta, v, r, base)
    return float((fd.double() - hv).abs().max())


def loglog_slope(rs: list[float], errs: list[float]) -> float | None:
    """Least-squares slope of log err against log r (None with fewer than 2 usable points)."""
    pts = [(math.log10(r), math.log10(e)) for r, e in zip(rs, errs) if e > 0 and math.isfinite(e)]
    if len(pts) < 2:
        return None
    x = np.array([p[0] for p in pts])
    y = np.array([p[1] for p in pts])
    return float(np.polyfit(x, y, 1)[0])


# --------------------------------------------------------------------------- high precision (re-check)

_MP_ACT = {
    "tanh": (mpmath.tanh, lambda z: 1 - mpmath.tanh(z) ** 2),
    "sigmoid": (lambda z: 1 / (1 + mpmath.exp(-z)), lambda z: mpmath.exp(-z) / (1 + mpmath.exp(-z)) ** 2),
    "softplus": (lambda z: mpmath.log(1 + mpmath.exp(z)), lambda z: 1 / (1 + mpmath.exp(-z))),
    "gelu": (lambda z: z * mpmath.ncdf(z), lambda z: mpmath.ncdf(z) + z * mpmath.npdf(z)),
    "identity": (lambda z: z, lambda z: mpmath.mpf(1)),
}


def mp_gradient(mlp: MLPCase, theta: list[Any]) -> list[Any]:
    """∇L_S at θ (a list of mpf) by hand-written backpropagation in mpmath (the precision of mp.dps).

    Independent of torch: no autograd, no library approximation of the activations.
    """
    act, dact = _MP_ACT[mlp.activation]
    shapes = [(W.shape, mlp.bias) for W in mlp.weights]
    layers, k = [], 0
    for (d_out, d_in), has_b in shapes:
        W = [[theta[k + i * d_in + j] for j in range(d_in)] for i in range(d_out)]
        k += d_out * d_in
        b = theta[k:k + d_out] if has_b else [0] * d_out
        k += d_out if has_b else 0
        layers.append((W, b))
    m, d_out = mlp.x.shape[0], mlp.widths[-1]
    t = targets(m, d_out, torch.zeros(1, dtype=torch.float64)).tolist()
    grads = [([[mpmath.mpf(0)] * len(W[0]) for _ in W], [mpmath.mpf(0)] * len(W)) for W, _ in layers]
    for i in range(m):
        hs, zs = [[mpmath.mpf(float(v)) for v in mlp.x[i]]], []
        for depth, (W, b) in enumerate(layers):
            z = [mpmath.fsum(W[o][j] * hs[-1][j] for j in range(len(hs[-1]))) + b[o] for o in range(len(W))]
            zs.append(z)
            hs.append(z if depth == len(layers) - 1 else [act(v) for v in z])
        delta = [(hs[-1][o] - t[i][o]) / m for o in range(d_out)]
        for depth in range(len(layers) - 1, -1, -1):
            W = layers[depth][0]
            gW, gb = grads[depth]
            for o in range(len(W)):
                gb[o] += delta[o]
                for j in range(len(W[0])):
                    gW[o][j] += delta[o] * hs[depth][j]
            if depth:
                back = [mpmath.fsum(W[o][j] * delta[o] for o in range(len(W))) for j in range(len(W[0]))]
                delta = [back[j] * dact(zs[depth - 1][j]) for j in range(len(back))]
    out: list[Any] = []
    for (gW, gb), (_, has_b) in zip(grads, shapes):
        out += [v for row in gW for v in row] + (gb if has_b else [])
    return out


def _mp_point(theta: torch.Tensor, v: torch.Tensor) -> tuple[list[Any], list[Any]]:
    """θ and v as mpf lists (exact: every float64 is an mpf)."""
    return [mpmath.mpf(float(x)) for x in theta.tolist()], [mpmath.mpf(float(x)) for x in v.tolist()]


def _mp_hv(mlp: MLPCase, th: list[Any], vv: list[Any], dps: int) -> list[Any]:
    """Hv in mpmath: a central difference of :func:`mp_gradient` with step 10^(−dps/3) (error ~10^(−2dps/3))."""
    h = mpmath.mpf(10) ** (-(dps // 3))
    plus = mp_gradient(mlp, [a + h * b for a, b in zip(th, vv)])
    minus = mp_gradient(mlp, [a - h * b for a, b in zip(th, vv)])
    return [(p - q) / (2 * h) for p, q in zip(plus, minus)]


def mp_directional(mlp: MLPCase, theta: torch.Tensor, v: torch.Tensor, s: torch.Tensor | tuple[float, ...] = (0.0,),
                   dps: int = 60) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(Hv, w₃, w₄)`` at θ + s·v for every s (float64, each ``(len(s), n)``), in mpmath.

    Differences of :func:`mp_gradient` (no torch, no library derivative of an activation) at ξ + khv,
    k = −2 … 2, h = 10^(−dps/5): Hv by the 5-point stencil (error h⁴), w₃ = Δ²g/h² and w₄ = δ³g/(2h³)
    (error h²); at 60 digits the cancellation costs 10^(−24) of ‖∇L_S‖.
    """
    out: tuple[list[list[float]], ...] = ([], [], [])
    with mpmath.workdps(dps):
        th, vv = _mp_point(theta.double(), v.double())
        h = mpmath.mpf(10) ** (-(dps // 5))
        for sk in (float(x) for x in s):
            xi = [a + mpmath.mpf(sk) * b for a, b in zip(th, vv)]
            g = {k: mp_gradient(mlp, [a + k * h * b for a, b in zip(xi, vv)]) for k in (-2, -1, 0, 1, 2)}
            for lst, stencil in zip(out, (
                    lambda i: (g[-2][i] - 8 * g[-1][i] + 8 * g[1][i] - g[2][i]) / (12 * h),
                    lambda i: (g[1][i] - 2 * g[0][i] + g[-1][i]) / h ** 2,
                    lambda i: (g[2][i] - 2 * g[1][i] + 2 * g[-1][i] - g[-2][i]) / (2 * h ** 3))):
                lst.append([float(stencil(i)) for i in range(len(th))])
    hv, w3, w4 = (torch.tensor(x, dtype=torch.float64) for x in out)
    return hv, w3, w4


def mp_segment_bounds(mlp: MLPCase, theta: torch.Tensor, v: torch.Tensor, r_top: float,
                      points: int = 5) -> tuple[float, float]:
    """:func:`segment_bounds` with w₃, w₄ from :func:`mp_directional` (no torch derivative of an activation)."""
    s = torch.linspace(-r_top, r_top, points, dtype=torch.float64)
    _, w3, w4 = mp_directional(mlp, theta, v, s)
    return sampled_sup(w3[points // 2:]), sampled_sup(w4)


#: torch's w₃, w₄ at θ must agree with mpmath's to this fraction for its sampled sups to be used
TRUST_REL = 1e-9


def checked_segment_bounds(f: Fn, mlp: MLPCase, theta: torch.Tensor, v: torch.Tensor, r_top: float, points: int,
                           reference: tuple[torch.Tensor, torch.Tensor]) -> tuple[float, float, str]:
    """``(M3, M4, route)``: :func:`segment_bounds` by torch where its derivatives are shown accurate, else mpmath.

    torch's formulas for an activation's higher derivatives can lose far more than round-off where it
    saturates (softplus = −logsigmoid(−z): σ(u) − 1 at u = −z cancels, relative error ≈ ε·e^u, all of it
    for z < −37; tanh's 1 − tanh² alike), which makes a sampled sup, and so the bound B(r), too small.
    torch's w₃, w₄ at θ are compared with ``reference`` (mpmath's, :func:`mp_directional`): within
    :data:`TRUST_REL` the torch sups are used, raised by twice the measured disagreement (the segment is
    short, the disagreement varies slowly along it); otherwise the sups are recomputed in mpmath.
    """
    w3, w4 = segment_samples(f, theta, v, r_top, points)
    off3 = float((w3[points // 2] - reference[0]).abs().max())
    off4 = float((w4[points // 2] - reference[1]).abs().max())
    if off3 <= TRUST_REL * float(reference[0].abs().max()) and off4 <= TRUST_REL * float(reference[1].abs().max()):
        m3, m4 = sampled_sup(w3[points // 2:]), sampled_sup(w4)  # segment_bounds, from the same samples
        return m3 + 2 * off3, m4 + 2 * off4, "torch.func reverse over reverse"
    m3, m4 = mp_segment_bounds(mlp, theta, v, r_top, points)
    return m3, m4, f"mpmath (torch's w3, w4 at θ off by {off3:.2g}, {off4:.2g})"


def mp_fd_error(mlp: MLPCase, theta: torch.Tensor, v: torch.Tensor, r: float, scheme: str,
                dps: int = 60) -> float:
    """‖FD(r) − Hv‖_∞ in mpmath at ``dps`` digits; Hv by a central difference with step 10^(−dps/3)."""
    with mpmath.workdps(dps):
        th, vv = _mp_point(theta, v)

        def at(step: Any) -> list[Any]:
            return mp_gradient(mlp, [a + step * b for a, b in zip(th, vv)])

        hv = _mp_hv(mlp, th, vv, dps)
        rr = mpmath.mpf(r)
        if scheme == "forward":
            fd = [(p - q) / rr for p, q in zip(at(rr), at(0))]
        else:
            fd = [(p - q) / (2 * rr) for p, q in zip(at(rr), at(-rr))]
        return float(max(abs(a - b) for a, b in zip(fd, hv)))
