r"""SymPy derivations behind the input/parameter gradient inequality (C3, docs/claims.md#c3).

Small networks with symbolic weights, biases and input, and an *undefined* activation
:math:`g` and head :math:`F` (any scalar function of :math:`h^{(l+1)}`): SymPy
differentiates the composed expression by the chain rule, the target is the backprop
formula with :math:`\delta^{(t)} = \partial f/\partial z^{(t+1)}`.

Undefined functions cannot be evaluated at the exact rational points of a spot check,
so every application :math:`g(z^{(t)}_i)`, :math:`g'(z^{(t)}_i)`, :math:`F(h)`,
:math:`\partial_k F(h)` is replaced by its own real symbol (an *atom*) before
:func:`verify.prove_identity` sees it. Both sides are then polynomials in the weights,
the input and the atoms, so ``expand(lhs - rhs) == 0`` proves the identity for every
differentiable :math:`g` and :math:`F` (their values and slopes at the network's points
enter only through the atoms), and the spot checks give each atom a random rational: a
wrong target is ``refuted`` at an exact point.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import sympy as sp
from sympy.core.function import AppliedUndef

from verify import SymbolicStep, prove_identity

#: The network widths (d_in, ..., d_out) every identity is proved for.
WIDTHS: tuple[tuple[int, ...], ...] = ((2, 2, 1), (1, 2, 2))

#: g'(·): what SymPy's chain rule produces for the activation below.
dg = sp.Function("dg")


class g(sp.Function):  # noqa: N801 (the activation's name in the formulas)
    """An undefined activation whose derivative is the undefined function ``dg``."""

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return dg(self.args[0])


@functools.cache
def _head(n: int) -> type[sp.Function]:
    """An undefined scalar head ``F(h_1, ..., h_n)`` whose partials are undefined ``F_k``."""
    partials = [sp.Function(f"F_{k}") for k in range(1, n + 1)]

    def fdiff(self: sp.Function, argindex: int = 1) -> sp.Expr:
        return partials[argindex - 1](*self.args)

    return type("F", (sp.Function,), {"nargs": n, "fdiff": fdiff})


def _column(name: str, n: int) -> sp.Matrix:
    return sp.Matrix(n, 1, lambda i, _: sp.Symbol(f"{name}_{i}", real=True))


@dataclass
class Network:
    r"""An MLP with explicit symbols: :math:`h^{(1)} = x`, :math:`z^{(t+1)} = W^{(t)}h^{(t)} + b^{(t)}`,
    :math:`h^{(t+1)} = g(z^{(t+1)})`, :math:`f = F(h^{(l+1)})`.

    Layer lists are 0-based: ``Ws[t]`` is :math:`W^{(t+1)}`, ``hs[t]`` is :math:`h^{(t+1)}`
    (``hs[0] = x``), ``zs[t]`` is :math:`z^{(t+2)}`, ``deltas[t]`` is :math:`\delta^{(t+1)}`.
    """

    widths: tuple[int, ...]
    bias: bool = True
    atoms: dict[sp.Basic, sp.Symbol] = field(default_factory=dict)

    def __post_init__(self) -> None:
        d = self.widths
        self.x = _column("x", d[0])
        self.Ws = [sp.Matrix(d[t + 1], d[t], lambda i, j, t=t: sp.Symbol(f"w{t + 1}_{i}{j}", real=True))
                   for t in range(len(d) - 1)]
        self.bs = [_column(f"b{t + 1}", d[t + 1]) if self.bias else sp.zeros(d[t + 1], 1)
                   for t in range(len(d) - 1)]
        self.hs, self.zs = [self.x], []
        for W, b in zip(self.Ws, self.bs):
            self.zs.append(W * self.hs[-1] + b)
            self.hs.append(self.zs[-1].applyfunc(g))
        self.f = _head(d[-1])(*self.hs[-1])
        # atom names: g(z^{(t)}_i) etc., keyed by the atomized pre-activation
        self._names = {}
        for t, z in enumerate(self.zs):
            for i, zi in enumerate(z):
                self._names[self.atomize(zi)] = f"z{t + 2}_{i}"
        # backprop: delta^{(l)} = g'(z^{(l+1)}) * grad F, delta^{(t-1)} = g'(z^{(t)}) * W^{(t)T} delta^{(t)}
        grad_head = sp.Matrix([self.f.fdiff(k + 1) for k in range(d[-1])])
        deltas = [sp.matrix_multiply_elementwise(self.zs[-1].applyfunc(dg), grad_head)]
        for t in range(len(self.Ws) - 1, 0, -1):
            deltas.insert(0, sp.matrix_multiply_elementwise(self.zs[t - 1].applyfunc(dg),
                                                            self.Ws[t].T * deltas[0]))
        self.deltas = deltas

    @property
    def depth(self) -> int:
        return len(self.Ws)

    @property
    def params(self) -> list[list[sp.Symbol]]:
        """Per layer: row-major entries of W, then b (torch's flat layout)."""
        return [list(W) + (list(b) if self.bias else []) for W, b in zip(self.Ws, self.bs)]

    def atomize(self, expr: sp.Basic) -> sp.Basic:
        """Replace every application of g, dg, F, F_k by one real symbol per distinct application."""

        def is_application(node: sp.Basic) -> bool:
            return isinstance(node, (AppliedUndef, g)) or type(node).__name__ == "F"

        def symbol(node: sp.Basic) -> sp.Symbol:
            if node not in self.atoms:
                fn = type(node).__name__
                where = self._names.get(node.args[0], "h") if fn in ("g", "dg") else "h"
                self.atoms[node] = sp.Symbol(f"{fn}({where})", real=True)
            return self.atoms[node]

        return expr.replace(is_application, symbol)

    # the quantities of C3, in the composed form SymPy differentiates
    def grad(self, variables: Sequence[sp.Symbol]) -> sp.Matrix:
        return sp.Matrix([sp.diff(self.f, v) for v in variables])

    def layer_grad_sq(self, t: int) -> sp.Expr:
        r""":math:`\|\nabla_{W^{(t)},b^{(t)}} f\|^2` by differentiation (0-based ``t``)."""
        return sum(e**2 for e in self.grad(self.params[t]))

    def jacobian(self, t: int) -> sp.Matrix:
        r""":math:`J^{(t)} = \partial h^{(t)}/\partial x` (0-based: ``hs[t]``)."""
        return self.hs[t].jacobian(self.x)


def _norm_sq(v: sp.Matrix) -> sp.Expr:
    return sum(e**2 for e in v)


def _combine(name: str, statement: str, steps: list[SymbolicStep]) -> SymbolicStep:
    """One step from the same identity proved at several sizes (worst status wins)."""
    order = ("refuted", "failed", "checked", "skipped", "proved")
    status = min((s.status for s in steps), key=order.index)
    return SymbolicStep(name, statement, status, "; ".join(s.sizes for s in steps),
                        " | ".join(f"{s.sizes}: {s.detail}" for s in steps), sum(s.elapsed_s for s in steps))


Side = Callable[[Network], sp.Matrix]


def prove_on_networks(name: str, statement: str, lhs: Side, rhs: Side, *,
                      widths: Sequence[tuple[int, ...]] = WIDTHS, bias: bool = True) -> SymbolicStep:
    """Prove ``lhs(net) = rhs(net)`` for a symbolic network of each of ``widths``.

    Both sides are atomized (see the module docstring) and compared with
    :func:`verify.prove_identity` (``expand`` to 0 plus exact rational spot checks).
    """
    steps = []
    for w in widths:
        net = Network(tuple(w), bias=bias)
        left, right = sp.Matrix(lhs(net)), sp.Matrix(rhs(net))
        steps.append(prove_identity(net.atomize(left), net.atomize(right), name=name, statement=statement,
                                    sizes=f"widths {tuple(w)}", spot_checks=3, simplifier=sp.expand))
    step = _combine(name, statement, steps)
    step.detail = ("g, g', F, ∂F as independent atoms (any differentiable g, F); " + step.detail)
    return step


# --------------------------------------------------------------------------- the identities


def _all_params(net: Network) -> list[sp.Symbol]:
    return [p for layer in net.params for p in layer]


def _backprop_gradient(net: Network) -> sp.Matrix:
    parts: list[sp.Expr] = []
    for t in range(net.depth):
        parts += list(net.deltas[t] * net.hs[t].T)
        if net.bias:
            parts += list(net.deltas[t])
    return sp.Matrix(parts)


STATEMENTS = {
    "parameter-gradient": (r"\nabla_{W^{(t)}} f = \delta^{(t)} h^{(t)\top},\quad \nabla_{b^{(t)}} f = \delta^{(t)},"
                           r"\quad \delta^{(t)} = \frac{\partial f}{\partial z^{(t+1)}}"),
    "parameter-gradient-norm": (r"\|\nabla_{W^{(t)},b^{(t)}} f\|^2 = "
                                r"\|\delta^{(t)}\|^2\left(1 + \|h^{(t)}\|^2\right)"),
    "input-gradient": r"\nabla_x f = J^{(t)\top} W^{(t)\top} \delta^{(t)}\quad\text{for every } t",
    "gradient-norm-sum": (r"\|\nabla_\theta f\|^2 = \sum_{t=1}^{l} \|\nabla_{W^{(t)},b^{(t)}} f\|^2 = "
                          r"\sum_{t=1}^{l} \|\delta^{(t)}\|^2\left(1 + \|h^{(t)}\|^2\right)"),
}


@functools.lru_cache(maxsize=1)
def parameter_gradient() -> SymbolicStep:
    """∇_θ f by differentiation equals (vec δ⁽ᵗ⁾h⁽ᵗ⁾ᵀ, δ⁽ᵗ⁾)_t from backprop."""
    return prove_on_networks("parameter-gradient", STATEMENTS["parameter-gradient"],
                             lambda n: n.grad(_all_params(n)), _backprop_gradient)


def _layer_norms_target(net: Network) -> sp.Matrix:
    """‖δ⁽ᵗ⁾‖²(1 + ‖h⁽ᵗ⁾‖²) per layer: backprop's norm of each layer's gradient (biases present)."""
    return sp.Matrix([_norm_sq(net.deltas[t]) * (1 + _norm_sq(net.hs[t])) for t in range(net.depth)])


@functools.lru_cache(maxsize=1)
def parameter_gradient_norm() -> SymbolicStep:
    """‖∇_{W⁽ᵗ⁾,b⁽ᵗ⁾} f‖² = ‖δ⁽ᵗ⁾‖²(1 + ‖h⁽ᵗ⁾‖²) for every layer."""
    return prove_on_networks("parameter-gradient-norm", STATEMENTS["parameter-gradient-norm"],
                             lambda n: sp.Matrix([n.layer_grad_sq(t) for t in range(n.depth)]),
                             _layer_norms_target)


def _chain_target(net: Network) -> sp.Matrix:
    return sp.Matrix.vstack(*[net.jacobian(t).T * net.Ws[t].T * net.deltas[t] for t in range(net.depth)])


@functools.lru_cache(maxsize=1)
def input_gradient() -> SymbolicStep:
    """∇_x f = J⁽ᵗ⁾ᵀW⁽ᵗ⁾ᵀδ⁽ᵗ⁾ for every t (J⁽ᵗ⁾ by differentiating h⁽ᵗ⁾, J⁽¹⁾ = I)."""
    return prove_on_networks("input-gradient", STATEMENTS["input-gradient"],
                             lambda n: sp.Matrix.vstack(*[n.grad(list(n.x))] * n.depth), _chain_target)


@functools.lru_cache(maxsize=1)
def gradient_norm_sum() -> SymbolicStep:
    """‖∇_θ f‖² = Σ_t ‖δ⁽ᵗ⁾‖²(1 + ‖h⁽ᵗ⁾‖²): the right side of the summed form."""
    return prove_on_networks("gradient-norm-sum", STATEMENTS["gradient-norm-sum"],
                             lambda n: sp.Matrix([_norm_sq(n.grad(_all_params(n)))]),
                             lambda n: sp.Matrix([sum(_layer_norms_target(n))]))


def _rotation(p: sp.Symbol) -> sp.Matrix:
    """The rotation with cos = (1 - p²)/(1 + p²), sin = 2p/(1 + p²): every rotation but -I, rationally."""
    c, s = (1 - p**2) / (1 + p**2), 2 * p / (1 + p**2)
    return sp.Matrix([[c, -s], [s, c]])


@functools.lru_cache(maxsize=1)
def spectral_bound() -> SymbolicStep:
    r"""2×2: with A = U diag(σ₁, σ₂) Vᵀ, σ₁²‖v‖² − ‖Av‖² = (σ₁² − σ₂²)(v_2ᵀ v)² ≥ 0."""
    p, q = sp.symbols("p q", real=True)
    s1, s2 = sp.symbols("sigma_1 sigma_2", real=True)
    v = _column("v", 2)
    U, V = _rotation(p), _rotation(q)
    A = U * sp.diag(s1, s2) * V.T
    lhs = s1**2 * _norm_sq(v) - _norm_sq(A * v)
    rhs = (s1**2 - s2**2) * (V[:, 1].T * v)[0] ** 2
    step = prove_identity(lhs, rhs, name="spectral-bound", sizes="2x2", spot_checks=3,
                          simplifier=lambda e: sp.cancel(sp.together(e)),
                          statement=(r"A = U\Sigma V^\top:\ \|A\|_2^2\|v\|^2 - \|Av\|^2 = "
                                     r"(\sigma_1^2 - \sigma_2^2)\,(v_2^\top v)^2 \ge 0,\ "
                                     r"\text{equality iff } v \parallel v_1 \text{ (or } \sigma_1 = \sigma_2)"))
    step.detail = "U, V rotations parametrized rationally; σ₁ ≥ |σ₂| makes the right side ≥ 0; " + step.detail
    return step


@functools.lru_cache(maxsize=1)
def frobenius_bound(rows: int = 2, cols: int = 3) -> SymbolicStep:
    r"""Lagrange's identity ‖A‖_F²‖v‖² − ‖Av‖² = Σ_i Σ_{j<k} (a_ij v_k − a_ik v_j)² ≥ 0, so ‖A‖₂ ≤ ‖A‖_F."""
    A = sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"a_{i}{j}", real=True))
    v = _column("v", cols)
    lhs = _norm_sq(A) * _norm_sq(v) - _norm_sq(A * v)
    rhs = sum((A[i, j] * v[k] - A[i, k] * v[j]) ** 2
              for i in range(rows) for j in range(cols) for k in range(j + 1, cols))
    return prove_identity(lhs, rhs, name="frobenius-bound", sizes=f"{rows}x{cols}", spot_checks=3,
                          simplifier=sp.expand,
                          statement=(r"\|A\|_F^2\|v\|^2 - \|Av\|^2 = \sum_i\sum_{j<k}(a_{ij}v_k - a_{ik}v_j)^2"
                                     r" \ge 0 \;\Rightarrow\; \|Av\| \le \|A\|_2\|v\| \le \|A\|_F\|v\|"))


def _multiplied_first_layer(net: Network) -> tuple[sp.Matrix, sp.Matrix]:
    """Widths (1, 1): ‖∇_x f‖²(1 + x²) and W²·J²·‖∇_{W,b} f‖² (J⁽¹⁾ = 1)."""
    lhs = sp.Matrix([_norm_sq(net.grad(list(net.x))) * (1 + _norm_sq(net.x))])
    rhs = sp.Matrix([net.Ws[0][0, 0] ** 2 * net.layer_grad_sq(0)])
    return lhs, rhs


@functools.lru_cache(maxsize=1)
def tight_widths_one() -> SymbolicStep:
    """Widths (1, 1): the per-layer bound is an equality for every g and F."""
    return prove_on_networks(
        "tight-widths-1-1",
        r"\text{widths } (1,1):\ \|\nabla_x f\|^2\left(1 + x^2\right) = "
        r"(W^{(1)})^2\,\|\nabla_{W^{(1)},b^{(1)}} f\|^2\ \text{(equality for every } g, F)",
        lambda n: _multiplied_first_layer(n)[0], lambda n: _multiplied_first_layer(n)[1], widths=[(1, 1)])


#: The argument, one line per step it uses.
CHAIN = (r"\|\nabla_x f\|^2\bigl(1 + \|h^{(t)}\|^2\bigr)"
         r" = \|J^{(t)\top}W^{(t)\top}\delta^{(t)}\|^2\bigl(1 + \|h^{(t)}\|^2\bigr)"
         r" \le \|J^{(t)}\|_2^2\,\|W^{(t)}\|_2^2\,\|\delta^{(t)}\|^2\bigl(1 + \|h^{(t)}\|^2\bigr)"
         r" = \|W^{(t)}\|_2^2\,\|J^{(t)}\|_2^2\,\|\nabla_{W^{(t)},b^{(t)}} f\|^2;"
         r"\quad \text{divide by } \|W^{(t)}\|_2^2\|J^{(t)}\|_2^2 > 0 \text{ and sum over } t:\ "
         r"\|\nabla_x f\|^2 \sum_t \frac{1 + \|h^{(t)}\|^2}{\|W^{(t)}\|_2^2\|J^{(t)}\|_2^2}"
         r" \le \sum_t \|\nabla_{W^{(t)},b^{(t)}} f\|^2 = \|\nabla_\theta f\|^2")


def inequality_chain(parts: Sequence[SymbolicStep], statement: str = CHAIN) -> SymbolicStep:
    """The chain itself: no new algebra, it holds as far as the steps it assembles hold."""
    combined = _combine("inequality-chain", statement, list(parts))
    combined.sizes = "assembled"
    combined.detail = ("assembles " + ", ".join(p.name for p in parts) + " (‖Aᵀ‖₂ = ‖A‖₂); no new algebra; "
                       "status is the worst of theirs")
    return combined


def steps(kind: str = "summed") -> list[SymbolicStep]:
    """The symbolic part of the holding claims: ``summed``, ``per-layer`` or ``frobenius``."""
    base = [parameter_gradient(), parameter_gradient_norm(), input_gradient()]
    bound = frobenius_bound() if kind == "frobenius" else spectral_bound()
    if kind == "per-layer":
        parts = [*base, bound]
    else:
        parts = [*base, gradient_norm_sum(), bound]
    out = [*parts, inequality_chain(parts)]
    if kind != "frobenius":
        out.append(tight_widths_one())
    return out


# --------------------------------------------------------------------------- exact counterexamples


def _exact_widths_one(bias: bool) -> dict[str, sp.Expr]:
    """Widths (1, 1), g = identity, F(h) = h, w = x = 1 (b = 0): the exact quantities of C3."""
    w, x = sp.Integer(1), sp.Integer(1)
    grad_x = w  # f = w x + b
    grad_theta_sq = x**2 + (1 if bias else 0)
    lhs = grad_x**2 * (1 + x**2) / (w**2 * 1)  # J^{(1)} = 1
    return {"lhs": lhs, "rhs": grad_theta_sq}


def no_bias_counterexample() -> SymbolicStep:
    """Without biases ‖∇_θ f‖² has no "1 +" to match: at widths (1, 1), x = W = 1, LHS 2 > RHS 1."""
    q = _exact_widths_one(bias=False)
    status = "refuted" if q["lhs"] > q["rhs"] else "failed"
    return SymbolicStep(
        "no-bias-counterexample",
        r"\text{widths }(1,1),\ g = \mathrm{id},\ f = h,\ W = x = 1,\ \text{no bias}:\ "
        r"\|\nabla_x f\|^2\,\frac{1 + x^2}{W^2} = 2 > 1 = \|\nabla_W f\|^2",
        status, "widths (1, 1)", f"exact: lhs = {q['lhs']}, rhs = {q['rhs']}")


def doubled_counterexample() -> SymbolicStep:
    """Widths (1, 1) make C3 an equality, so twice the left side exceeds the right: 4 > 2."""
    q = _exact_widths_one(bias=True)
    status = "refuted" if 2 * q["lhs"] > q["rhs"] else "failed"
    return SymbolicStep(
        "doubled-counterexample",
        r"\text{widths }(1,1),\ g = \mathrm{id},\ f = h,\ W = x = 1,\ b = 0:\ "
        r"2\,\|\nabla_x f\|^2\,\frac{1 + x^2}{W^2} = 4 > 2 = \|\nabla_\theta f\|^2",
        status, "widths (1, 1)", f"exact: 2·lhs = {2 * q['lhs']}, rhs = {q['rhs']} (tight-widths-1-1: lhs = rhs)")
