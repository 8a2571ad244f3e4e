"""SymPy derivations behind the softmax cross-entropy claims (C1, docs/claims.md#c1).

General sizes use ``IndexedBase`` sums with symbolic bounds ``k`` and ``d``; the
Kronecker form and the algebraic facts about ``A = diag(a) - a a^T`` use explicit
symbols at the small sizes listed in each step.
"""

from __future__ import annotations

import functools

import sympy as sp

from verify import SymbolicStep, in_range, prove_identity

k, d = sp.symbols("k d", integer=True, positive=True)
W, X, A, Z = sp.IndexedBase("W"), sp.IndexedBase("x"), sp.IndexedBase("a"), sp.IndexedBase("z")
j, li, ia, ib, ic, ie, y = sp.symbols("j l a b c e y", integer=True)
S = sp.Symbol("S", positive=True)
#: symbols of the lambdified entry form: a_a, a_c, x_b, x_e, δ_ac
ENTRY_ARGS = sp.symbols("a_a a_c x_b x_e delta_ac", real=True)

_SIZES = [{k: 3, d: 2, ia: 1, ib: 0, ic: 2, ie: 1, y: 0}, {k: 3, d: 2, ia: 2, ib: 1, ic: 2, ie: 1, y: 2},
          {k: 2, d: 1, ia: 0, ib: 0, ic: 1, ie: 0, y: 1}]


def _logit(r: sp.Expr) -> sp.Expr:
    return sp.Sum(W[r, li] * X[li], (li, 0, d - 1))


def _normalizer() -> sp.Expr:
    return sp.Sum(sp.exp(_logit(j)), (j, 0, k - 1))


def _to_probabilities(expr: sp.Expr) -> sp.Expr:
    """Rewrite a derivative of the loss in terms of a_r = exp(z_r)/S (definitions, no algebra)."""
    expr = in_range(expr.doit()).subs(_normalizer(), S)

    def is_logit(node: sp.Basic) -> bool:
        return isinstance(node, sp.Sum) and node.function.has(W) and node.limits[0][0] == li

    def as_z(node: sp.Sum) -> sp.Expr:
        w = next(f for f in node.function.args if isinstance(f, sp.Indexed) and f.base == W)
        return Z[w.indices[0]]

    expr = in_range(expr.replace(is_logit, as_z).doit())
    return expr.replace(lambda n: isinstance(n, sp.exp) and isinstance(n.args[0], sp.Indexed),
                        lambda n: A[n.args[0].indices[0]] * S)


@functools.lru_cache(maxsize=1)
def entry_form() -> tuple[SymbolicStep, sp.Expr]:
    """Derive ∂²ℓ/∂w_ab∂w_ce for one example, general k and d.

    Returns:
        The step and the entry expression in :data:`ENTRY_ARGS`.
    """
    loss = -_logit(y) + sp.log(_normalizer())
    hessian_entry = sp.diff(loss, W[ia, ib], W[ic, ie])
    softmax = lambda r: sp.exp(_logit(r)) / _normalizer()  # noqa: E731
    target_raw = (sp.KroneckerDelta(ia, ic) - softmax(ic)) * softmax(ia) * X[ib] * X[ie]
    step = prove_identity(
        hessian_entry, target_raw, name="entry-form",
        statement=r"\frac{\partial^2 \ell}{\partial w_{ab}\,\partial w_{ce}} = (\delta_{ac} - a_c)\,a_a\,x_b\,x_e",
        sizes="general", spot_sizes=_SIZES, spot_checks=2,
        simplifier=lambda diff: sp.simplify(_to_probabilities(diff)),
    )
    step.detail = ("derived for symbolic k, d with IndexedBase sums (indices assumed in range); "
                   "rewritten with a_r = exp(z_r)/S; " + step.detail)
    derived = sp.simplify(_to_probabilities(hessian_entry))
    aa, ac, xb, xe, dac = ENTRY_ARGS
    entry = derived.subs({A[ia]: aa, A[ic]: ac, X[ib]: xb, X[ie]: xe, sp.KroneckerDelta(ia, ic): dac})
    return step, entry


def _explicit(kk: int, dd: int) -> tuple[sp.Matrix, sp.Matrix, sp.Matrix, sp.Matrix]:
    w = sp.Matrix(kk, dd, lambda r, s: sp.Symbol(f"w_{r}{s}", real=True))
    x = sp.Matrix(dd, 1, lambda r, _: sp.Symbol(f"x_{r}", real=True))
    z = w * x
    a = sp.Matrix(kk, 1, lambda r, _: sp.exp(z[r]) / sum(sp.exp(z[t]) for t in range(kk)))
    return w, x, z, a


@functools.lru_cache(maxsize=1)
def kronecker_form(sizes: tuple[tuple[int, int], ...] = ((2, 1), (2, 2), (3, 1))) -> SymbolicStep:
    """Explicit-symbol Hessian of one example's loss equals (diag(a) − aaᵀ) ⊗ xxᵀ (row-major vec)."""
    steps = []
    for kk, dd in sizes:
        w, x, z, a = _explicit(kk, dd)
        loss = -z[0] + sp.log(sum(sp.exp(z[t]) for t in range(kk)))
        theta = list(w)  # row-major, like W.reshape(-1)
        hess = sp.hessian(loss, theta)
        kron = sp.kronecker_product(sp.diag(*a) - a * a.T, x * x.T)
        steps.append(prove_identity(
            hess, kron, name="kronecker-form", statement="", sizes=f"k={kk}, d={dd}", spot_checks=2,
            simplifier=lambda e: sp.simplify(sp.powsimp(e, combine="exp")),
        ))
    status = "proved" if all(s.status == "proved" for s in steps) else next(
        s.status for s in steps if s.status != "proved")
    return SymbolicStep(
        "kronecker-form",
        r"\nabla^2_{\operatorname{vec} W} \ell = (\operatorname{diag}(a) - a a^\top) \otimes x x^\top",
        status, "; ".join(s.sizes for s in steps), " | ".join(f"{s.sizes}: {s.detail}" for s in steps),
        sum(s.elapsed_s for s in steps),
    )


def _simplex(kk: int) -> tuple[list[sp.Symbol], tuple[sp.Symbol, sp.Expr]]:
    a = list(sp.symbols(f"a_0:{kk}", positive=True))
    return a, (a[-1], 1 - sum(a[:-1]))


@functools.lru_cache(maxsize=1)
def variance_form(max_k: int = 5) -> SymbolicStep:
    """vᵀAv = Σ a_j (v_j − v̄)² with v̄ = Σ a_j v_j on the simplex: a variance, so A ⪰ 0."""
    for kk in range(2, max_k + 1):
        a, simplex = _simplex(kk)
        v = sp.symbols(f"v_0:{kk}", real=True)
        mat = sp.diag(*a) - sp.Matrix(a) * sp.Matrix(a).T
        quad = (sp.Matrix(v).T * mat * sp.Matrix(v))[0]
        mean = sum(ai * vi for ai, vi in zip(a, v))
        step = prove_identity(quad, sum(ai * (vi - mean) ** 2 for ai, vi in zip(a, v)),
                              name="variance-form", statement="", constraint=simplex, spot_checks=2,
                              simplifier=sp.expand)
        if step.status != "proved":
            return step
    return SymbolicStep(
        "variance-form",
        r"v^\top A v = \sum_j a_j v_j^2 - \Big(\sum_j a_j v_j\Big)^2 = \sum_j a_j (v_j - \bar v)^2 \ge 0",
        "proved", f"k=2..{max_k}", "expanded on the simplex a_k = 1 - Σ a_j; exact spot checks vanish")


@functools.lru_cache(maxsize=1)
def null_direction(max_k: int = 5) -> SymbolicStep:
    """A·1 = 0 on the simplex, hence H (1 ⊗ c) = (A 1) ⊗ (x xᵀ c) = 0."""
    for kk in range(2, max_k + 1):
        a, simplex = _simplex(kk)
        mat = sp.diag(*a) - sp.Matrix(a) * sp.Matrix(a).T
        step = prove_identity(mat * sp.ones(kk, 1), sp.zeros(kk, 1), name="null-direction", statement="",
                              constraint=simplex, spot_checks=2, simplifier=sp.expand)
        if step.status != "proved":
            return step
    return SymbolicStep(
        "null-direction",
        r"A\mathbf{1} = 0 \;\Rightarrow\; H(\mathbf{1}\otimes c) = (A\mathbf{1})\otimes(x x^\top c) = 0",
        "proved", f"k=2..{max_k}", "A·1 expanded on the simplex; the mixed-product rule of ⊗ does the rest")


@functools.lru_cache(maxsize=1)
def two_class_curvature() -> SymbolicStep:
    """For k = 2, λ_max(A) = 2a(1 − a) and ½ − 2a(1 − a) = 2(a − ½)² ≥ 0, equality iff a = ½."""
    a0 = sp.Symbol("a_0", positive=True)
    mat = sp.Matrix([[a0 * (1 - a0), -a0 * (1 - a0)], [-a0 * (1 - a0), a0 * (1 - a0)]])
    eig = max(mat.eigenvals(), key=lambda e: sp.degree(e, a0) if e.has(a0) else -1)
    statement = r"k=2:\ \lambda_{\max}(A) = 2a(1-a) \le \tfrac12,\ \text{equality iff } a=\tfrac12"
    step = prove_identity(sp.Rational(1, 2) - eig, 2 * (a0 - sp.Rational(1, 2)) ** 2, name="two-class-curvature",
                          statement=statement, sizes="k=2")
    return step


def psd_counterexample() -> SymbolicStep:
    """[[1, 2], [2, 1]]: PSD (1×1) diagonal blocks, eigenvalue −1 (exact)."""
    mat = sp.Matrix([[1, 2], [2, 1]])
    eigs = sorted(mat.eigenvals())
    status = "refuted" if eigs[0] < 0 else "failed"
    statement = (r"\begin{pmatrix}1&2\\2&1\end{pmatrix}: \text{diagonal blocks } (1),(1) \succeq 0,\ "
                 r"\lambda_{\min} = -1")
    return SymbolicStep("diagonal-blocks-counterexample", statement, status, "n=2", f"exact eigenvalues {eigs}")


def off_diagonal_block_counterexample() -> SymbolicStep:
    """k=2, d=1, x=1, W=0: the exact Hessian has off-diagonal entry −1/4 ≠ 0."""
    w, x, z, a = _explicit(2, 1)
    loss = -z[0] + sp.log(sum(sp.exp(z[t]) for t in range(2)))
    hess = sp.hessian(loss, list(w)).subs({**{s: 0 for s in w}, x[0]: 1})
    value = sp.nsimplify(hess[0, 1])
    return SymbolicStep("off-diagonal-block", r"k=2,\ d=1,\ x=1,\ W=0:\ H_{12} = -\tfrac14 \ne 0",
                        "refuted" if value != 0 else "failed", "k=2, d=1",
                        f"exact Hessian {hess.tolist()}; the block-diagonal matrix has 0 there")


#: the symbols of the Gram factor u(a_r, x_s) = ∂z-weighted input of one row block
GRAM_ARGS = sp.symbols("a_r x_s", real=True)


@functools.lru_cache(maxsize=1)
def gram_split() -> tuple[SymbolicStep, sp.Expr]:
    r"""Split the derived entry form into a block-diagonal part and a Gram part: with u(a_r, x_s) = a_r x_s,

    .. math:: (\delta_{ac} - a_c) a_a x_b x_e = \delta_{ac}\, u(a_a, x_b)\, x_e - u(a_a, x_b)\, u(a_c, x_e),

    so the mean Hessian is (1/m)[blockdiag_a(U_aᵀX) − VᵀV] with U_{iab} = u(a_ia, x_ib) and V = U flattened
    (one GEMM instead of m Kronecker products). Proved on the entry form :func:`entry_form` derived, not retyped.

    Returns:
        The step and u in :data:`GRAM_ARGS`.
    """
    _, entry = entry_form()
    aa, ac, xb, xe, dac = ENTRY_ARGS
    ar, xs = GRAM_ARGS
    u = ar * xs
    split = dac * u.subs({ar: aa, xs: xb}) * xe - u.subs({ar: aa, xs: xb}) * u.subs({ar: ac, xs: xe})
    step = prove_identity(entry, split, name="gram-split",
                          statement=r"(\delta_{ac} - a_c)\,a_a x_b x_e = \delta_{ac}\,u(a_a, x_b)\,x_e "
                                    r"- u(a_a, x_b)\,u(a_c, x_e),\quad u(a, x) = a\,x",
                          sizes="general", spot_checks=2)
    return step, u
