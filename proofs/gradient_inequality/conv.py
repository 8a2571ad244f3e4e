r"""The terms of C3 for convolutions (docs/claims.md#c3-conv), by torch and by mpmath.

A case is a ``cnn`` of :func:`verify.modules`: conv layers (stride 1, zero padding), each followed by the
activation, then flatten and a linear head; f is one example's cross-entropy, a differentiable function of
:math:`h^{(l+1)}`. For each example i and conv layer t the quantities of the statements are

* ``gx_sq`` :math:`\|\nabla_x f\|^2` and ``gtheta_sq[t]`` :math:`\|\nabla_{K^{(t)},b^{(t)}} f\|^2`;
* ``h_sq[t]`` :math:`\|h^{(t)}\|^2`, ``a_sq[t]`` :math:`\|A^{(t)}\|_2^2` (the convolution as a matrix, built by
  applying it to the basis tensors), ``j_sq[t]`` :math:`\|J^{(t)}\|_2^2` (:math:`J^{(1)} = I`,
  :math:`J^{(t+1)} = \mathrm{diag}(g'(z^{(t+1)}))A^{(t)}J^{(t)}`), ``sigma_sq[t]`` :math:`\sigma_P(\tilde U^{(t)})^2`
  (0 when :math:`\tilde U` has fewer rows than columns);
* ``gx_abs``, ``gtheta_abs[t]``: the same gradients computed with absolute values throughout (:math:`|A|^\top`,
  :math:`|g'|`, :math:`|\tilde U|`): their ``eps`` multiples bound the round-off of the gradients, and enter
  the comparison as ``noise``.

:func:`conv_terms` computes the gradients by autograd (``verify.functional``); :func:`conv_terms_mp`
recomputes everything with explicit forward and backward loops in mpmath at 40 digits, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
import numpy as np
import torch
import torch.nn.functional as F

from proofs.gradient_inequality.multiprecision import MP_DIGITS, _mp_activation
from verify import ModuleCase, functional, module_from_case

__all__ = ["ConvTerms", "conv_layers", "conv_terms", "conv_terms_mp"]


@dataclass(frozen=True)
class ConvTerms:
    """Per example (rows) and conv layer (columns), float64; see the module docstring."""

    gx_sq: np.ndarray
    gx_abs: np.ndarray
    gtheta_sq: np.ndarray
    gtheta_abs: np.ndarray
    h_sq: np.ndarray
    a_sq: np.ndarray
    j_sq: np.ndarray
    sigma_sq: np.ndarray
    how: str
    sigma1_sq: np.ndarray | None = None


def conv_layers(case: ModuleCase) -> list[tuple[np.ndarray, np.ndarray]]:
    """(kernel, bias) of every conv layer, in order."""
    params = dict(case.params)
    return [(params[f"{2 * t}.weight"], params[f"{2 * t}.bias"]) for t in range(len(case.spec_dict["channels"]))]


def _conv_matrix(kernel: torch.Tensor, shape: tuple[int, int, int], padding: int) -> torch.Tensor:
    """A with A vec(h) = vec(K ⋆ h): the convolution (no bias) applied to every basis tensor."""
    n = shape[0] * shape[1] * shape[2]
    basis = torch.eye(n, dtype=kernel.dtype, device=kernel.device).reshape(n, *shape)
    return F.conv2d(basis, kernel, padding=padding).reshape(n, -1).T


def _sigma_p_sq(u_tilde: torch.Tensor) -> tuple[float, float]:
    """(σ_P(Ũ)², σ_1(Ũ)²), σ_P = 0 when Ũ has fewer rows than its P columns."""
    rows, cols = u_tilde.shape
    sv = torch.linalg.svdvals(u_tilde)
    return (0.0 if rows < cols else float(sv[cols - 1] ** 2)), float(sv[0] ** 2)


def _patches(h: torch.Tensor, kernel: int, padding: int) -> torch.Tensor:
    """Ũ = [unfold(h); 1ᵀ]: (C k² + 1) × P."""
    u = F.unfold(h[None], kernel, padding=padding)[0]
    return torch.cat([u, torch.ones(1, u.shape[1], dtype=h.dtype, device=h.device)])


def _slope(act: torch.nn.Module, z: torch.Tensor) -> torch.Tensor:
    leaf = z.detach().requires_grad_(True)
    with torch.enable_grad():
        (d,) = torch.autograd.grad(act(leaf).sum(), leaf)
    return d


def conv_terms(case: ModuleCase, dtype: str = "float64", device: str = "cpu") -> ConvTerms:
    """The terms by torch: gradients by autograd (per example), norms by SVD."""
    tdtype = getattr(torch, dtype)
    spec, net = case.spec_dict, module_from_case(case, tdtype, device)
    f = functional(case, dtype=tdtype, device=device)
    theta = f.theta0
    per_example = f.per_example_grads(theta)
    gx = f.input_grads(theta)  # row i is example i's own ∇ₓℓ_i
    layers, kernel, padding = len(spec["channels"]), spec["kernel"], spec["padding"]
    sizes = [p.numel() for p in net.parameters()]
    offsets = np.cumsum([0, *sizes])
    rows = {k: np.zeros((case.m, layers)) for k in ("gtheta_sq", "gtheta_abs", "h_sq", "a_sq", "j_sq", "sigma_sq",
                                                   "sigma1_sq")}
    gx_abs = np.zeros(case.m)
    head = net[2 * layers + 1]
    with torch.no_grad():
        for i in range(case.m):
            h, hs, zs, mats, jac = f.X[i], [], [], [], None
            for t in range(layers):
                conv, act = net[2 * t], net[2 * t + 1]
                hs.append(h)
                mats.append(_conv_matrix(conv.weight, tuple(h.shape), padding))
                z = conv(h[None])[0]
                zs.append(z)
                jac = torch.eye(h.numel(), dtype=tdtype, device=device) if jac is None else jac
                rows["j_sq"][i, t] = float(torch.linalg.matrix_norm(jac, ord=2) ** 2)
                rows["a_sq"][i, t] = float(torch.linalg.matrix_norm(mats[t], ord=2) ** 2)
                rows["h_sq"][i, t] = float((h ** 2).sum())
                rows["sigma_sq"][i, t], rows["sigma1_sq"][i, t] = _sigma_p_sq(_patches(h, kernel, padding))
                slope = _slope(act, z).reshape(-1)
                jac = slope[:, None] * (mats[t] @ jac)
                h = act(z)
            logits = head(h.reshape(1, -1))[0]
            residual = torch.softmax(logits, 0) - F.one_hot(f.y[i], logits.numel())
            upstream = head.weight.abs().T @ residual.abs()
            for t in reversed(range(layers)):  # the same backward with absolute values: round-off sizes
                delta_abs = _slope(net[2 * t + 1], zs[t]).abs().reshape(-1) * upstream
                d_abs = delta_abs.reshape(spec["channels"][t], -1)
                patches = _patches(hs[t], kernel, padding).abs()
                rows["gtheta_abs"][i, t] = float(torch.linalg.norm(d_abs @ patches.T))
                upstream = mats[t].abs().T @ delta_abs
            gx_abs[i] = float(torch.linalg.norm(upstream))
            for t in range(layers):
                g = per_example[i, offsets[2 * t]:offsets[2 * t + 2]]
                rows["gtheta_sq"][i, t] = float((g ** 2).sum())
    gx_sq = (gx.reshape(case.m, -1) ** 2).sum(dim=1).cpu().numpy()
    return ConvTerms(gx_sq=gx_sq, gx_abs=gx_abs, how=f"torch autograd ({dtype})", **rows)


# --------------------------------------------------------------------------- mpmath


def _mp_conv_matrix(kernel: np.ndarray, shape: tuple[int, int, int], padding: int) -> mpmath.matrix:
    c_out, c_in, k, _ = kernel.shape
    _, side, _ = shape
    out_side = side + 2 * padding - k + 1
    a = mpmath.zeros(c_out * out_side * out_side, c_in * side * side)
    for o in range(c_out):
        for r in range(out_side):
            for c in range(out_side):
                row = (o * out_side + r) * out_side + c
                for ci in range(c_in):
                    for dr in range(k):
                        for dc in range(k):
                            rr, cc = r + dr - padding, c + dc - padding
                            if 0 <= rr < side and 0 <= cc < side:
                                a[row, (ci * side + rr) * side + cc] = mpmath.mpf(float(kernel[o, ci, dr, dc]))
    return a


def _mp_patches(h: list, shape: tuple[int, int, int], k: int, padding: int) -> mpmath.matrix:
    c_in, side, _ = shape
    out_side = side + 2 * padding - k + 1
    u = mpmath.zeros(c_in * k * k + 1, out_side * out_side)
    for r in range(out_side):
        for c in range(out_side):
            col = r * out_side + c
            for ci in range(c_in):
                for dr in range(k):
                    for dc in range(k):
                        rr, cc = r + dr - padding, c + dc - padding
                        if 0 <= rr < side and 0 <= cc < side:
                            u[(ci * k + dr) * k + dc, col] = h[(ci * side + rr) * side + cc]
            u[c_in * k * k, col] = 1
    return u


def _mp_sq_norm2(a: mpmath.matrix) -> float:
    if a.rows == 0 or a.cols == 0:
        return 0.0
    return float(max(mpmath.svd_r(a, compute_uv=False)) ** 2)


def _mp_example(case: ModuleCase, i: int, mats: list, out: dict[str, np.ndarray]) -> None:
    spec, params = case.spec_dict, dict(case.params)
    layers, k, padding = len(spec["channels"]), spec["kernel"], spec["padding"]
    shape = (spec["in_channels"], spec["size"], spec["size"])
    h = [mpmath.mpf(float(v)) for v in case.x[i].reshape(-1)]
    hs, slopes, jac = [], [], mpmath.eye(len(h))
    for t in range(layers):
        kernel, bias = conv_layers(case)[t]
        side = shape[1] + 2 * padding - k + 1
        positions = side * side
        z = mats[t] * mpmath.matrix(h)
        z = [z[r] + mpmath.mpf(float(bias[r // positions])) for r in range(z.rows)]
        out["h_sq"][i, t] = float(mpmath.fsum(v ** 2 for v in h))
        out["j_sq"][i, t] = _mp_sq_norm2(jac)
        u = _mp_patches(h, shape, k, padding)
        out["sigma_sq"][i, t] = 0.0 if u.rows < u.cols else float(sorted(mpmath.svd_r(u, compute_uv=False))[0] ** 2)
        hs.append((h, shape))
        pairs = [_mp_activation(spec["activation"], v) for v in z]
        slopes.append([d for _, d in pairs])
        jac = mpmath.diag(slopes[-1]) * mats[t] * jac
        h, shape = [v for v, _ in pairs], (kernel.shape[0], side, side)
    w, b = params[f"{2 * layers + 1}.weight"], params[f"{2 * layers + 1}.bias"]
    logits = [mpmath.fsum(mpmath.mpf(float(w[o, j])) * h[j] for j in range(len(h))) + mpmath.mpf(float(b[o]))
              for o in range(w.shape[0])]
    top = max(logits)
    e = [mpmath.exp(v - top) for v in logits]
    dlogits = [v / mpmath.fsum(e) - (1 if o == int(case.y[i]) else 0) for o, v in enumerate(e)]
    upstream = [mpmath.fsum(mpmath.mpf(float(w[o, j])) * dlogits[o] for o in range(w.shape[0])) for j in range(len(h))]
    for t in reversed(range(layers)):
        delta = [s * g for s, g in zip(slopes[t], upstream)]
        h_t, shape_t = hs[t]
        c_out = conv_layers(case)[t][0].shape[0]
        positions = len(delta) // c_out
        d = mpmath.matrix([[delta[o * positions + p] for p in range(positions)] for o in range(c_out)])
        grad = d * _mp_patches(h_t, shape_t, k, padding).T
        out["gtheta_sq"][i, t] = float(mpmath.fsum(grad[r, c] ** 2 for r in range(grad.rows) for c in range(grad.cols)))
        back = mats[t].T * mpmath.matrix(delta)
        upstream = [back[r] for r in range(back.rows)]
    out["gx_sq"][i] = float(mpmath.fsum(v ** 2 for v in upstream))


def conv_terms_mp(case: ModuleCase, digits: int = MP_DIGITS) -> ConvTerms:
    """The terms by explicit forward/backward loops in mpmath (no torch, no autograd)."""
    spec = case.spec_dict
    layers, k, padding = len(spec["channels"]), spec["kernel"], spec["padding"]
    rows = {key: np.zeros((case.m, layers)) for key in ("gtheta_sq", "h_sq", "a_sq", "j_sq", "sigma_sq")}
    rows["gx_sq"] = np.zeros(case.m)
    with mpmath.workdps(digits):
        mats, shape = [], (spec["in_channels"], spec["size"], spec["size"])
        for kernel, _ in conv_layers(case):
            mats.append(_mp_conv_matrix(kernel, shape, padding))
            side = shape[1] + 2 * padding - k + 1
            shape = (kernel.shape[0], side, side)
        for t, a in enumerate(mats):
            rows["a_sq"][:, t] = _mp_sq_norm2(a)
        for i in range(case.m):
            _mp_example(case, i, mats, rows)
    zeros = np.zeros((case.m, layers))
    return ConvTerms(gx_abs=np.zeros(case.m), gtheta_abs=zeros, how=f"mpmath, {digits} digits", **rows)
