r"""SymPy steps of C3 for convolutions: the gradient in im2col form, the reduction at P = 1, and the exact
weight-sharing counterexample of the transplanted MLP statement."""

from __future__ import annotations

import time

import sympy as sp

from verify import SymbolicStep

__all__ = ["im2col_gradient", "one_position_is_mlp", "patches_steps", "singular_value_bound",
           "weight_sharing_counterexample", "weight_sharing_steps"]


def _conv(x: sp.Matrix, k: sp.Matrix, b: sp.Symbol) -> list[sp.Expr]:
    """Valid 2-D cross-correlation of one channel (stride 1), row-major outputs."""
    side, ks = x.shape[0], k.shape[0]
    out = side - ks + 1
    return [sum(k[i, j] * x[r + i, c + j] for i in range(ks) for j in range(ks)) + b
            for r in range(out) for c in range(out)]


def im2col_gradient() -> SymbolicStep:
    r"""∂f/∂K = D Uᵀ and ∂f/∂b = D 1 for f = F(K ⋆ x + b), F an undefined function (3×3 input, 2×2 kernel)."""
    start = time.perf_counter()
    x = sp.Matrix(3, 3, sp.symbols("x0:9"))
    k = sp.Matrix(2, 2, sp.symbols("k0:4"))
    b = sp.Symbol("b")
    z_syms = sp.symbols("z0:4")
    F = sp.Function("F")(*z_syms)
    z = _conv(x, k, b)
    f = F.subs(dict(zip(z_syms, z)), simultaneous=True)
    delta = [sp.diff(F, s).subs(dict(zip(z_syms, z)), simultaneous=True) for s in z_syms]
    patches = [[x[r + i, c + j] for r in range(2) for c in range(2)] for i in range(2) for j in range(2)]
    residual = [sp.simplify(sp.diff(f, k[i, j]) - sum(d * u for d, u in zip(delta, patches[2 * i + j])))
                for i in range(2) for j in range(2)]
    residual.append(sp.simplify(sp.diff(f, b) - sum(delta)))
    ok = all(r == 0 for r in residual)
    return SymbolicStep(
        "im2col-gradient", r"\nabla_K f = D\,U^\top,\quad \nabla_b f = D\,\mathbf 1 \quad"
                           r"(D = \partial f/\partial z,\ U \text{ the patches})",
        "proved" if ok else "failed", "3×3 input, 2×2 kernel (P = 4), F undefined",
        "SymPy differentiates F(K⋆x + b) and subtracts Σ_p δ_p u_p: every entry simplifies to 0",
        time.perf_counter() - start)


def one_position_is_mlp() -> SymbolicStep:
    r"""At P = 1, Ũ = [h; 1] and ŨᵀŨ = 1 + ‖h‖²: σ_1(Ũ)² is the MLP's 1 + ‖h‖²."""
    start = time.perf_counter()
    h = sp.Matrix(sp.symbols("h0:4", real=True))
    u = h.col_join(sp.Matrix([[1]]))
    ok = sp.expand((u.T * u)[0, 0] - (1 + (h.T * h)[0, 0])) == 0
    return SymbolicStep(
        "one-position-is-mlp", r"P = 1:\ \sigma_1(\tilde U)^2 = \tilde U^\top\tilde U = 1 + \|h\|^2",
        "proved" if ok else "failed", "C k² = 4 (any size: the same expansion)",
        "ŨᵀŨ expands to 1 + Σ h_i²: statement (b) is the MLP per-layer inequality when the kernel meets one patch",
        time.perf_counter() - start)


def weight_sharing_counterexample() -> SymbolicStep:
    r"""One channel, a 1×1 kernel k, an image constant c over P = 2 positions, f = u g(z₁) − u g(z₂):
    ∇_{k,b} f = 0 exactly while ∇ₓ f = (k u g'(z), −k u g'(z)) ≠ 0."""
    start = time.perf_counter()
    k, b, c, u = sp.symbols("k b c u", nonzero=True)
    x1, x2 = sp.symbols("x1 x2")
    g = sp.Function("g")
    f = u * g(k * x1 + b) - u * g(k * x2 + b)
    at = {x1: c, x2: c}
    grad_theta = [sp.simplify(sp.diff(f, s).subs(at)) for s in (k, b)]
    slope = sp.Symbol("g'(kc+b)")
    grad_x = [sp.simplify(sp.diff(f, s).subs(at)).replace(lambda e: isinstance(e, sp.Subs), lambda e: slope)
              for s in (x1, x2)]
    refuted = all(gt == 0 for gt in grad_theta) and any(gx != 0 for gx in grad_x)
    return SymbolicStep(
        "weight-sharing-counterexample",
        r"x = (c, c),\ f = u\,g(kx_1 + b) - u\,g(kx_2 + b):\ \nabla_{k,b} f = 0,\ "
        r"\nabla_x f = k u\,g'(kc + b)\,(1, -1) \ne 0",
        "refuted" if refuted else "failed", "1 channel, 1×1 kernel, P = 2",
        f"exact: ∇_(k,b) f = {grad_theta}, ∇ₓ f = {grad_x}: the left side is positive wherever g'(kc + b) ≠ 0, "
        "the right side 0, so no constant makes (a) hold",
        time.perf_counter() - start)


def singular_value_bound() -> SymbolicStep:
    """‖DŨᵀ‖_F ≥ σ_P(Ũ)‖D‖_F: a Rayleigh-quotient bound, not carried by SymPy here (stated as checked)."""
    return SymbolicStep(
        "singular-value-bound",
        r"\|D\tilde U^\top\|_F^2 = \sum_r d_r^\top \tilde U^\top\tilde U d_r \ge \sigma_P(\tilde U)^2\,\|D\|_F^2",
        "checked", "general",
        "λ_min(ŨᵀŨ) = σ_P(Ũ)² when Ũ has at least P rows (else 0): standard linear algebra, not derived by SymPy; "
        "the numeric check tests the whole inequality on every case")


def weight_sharing_steps() -> list[SymbolicStep]:
    return [im2col_gradient(), weight_sharing_counterexample()]


def patches_steps() -> list[SymbolicStep]:
    return [im2col_gradient(), one_position_is_mlp(), singular_value_bound()]
