"""The interval Taylor forwards of the networks of verify.modules(): they enclose what torch computes (at points,
tightly, so a layout mismatch or a trivial [-inf, inf] fails), the elementary enclosures and the interval matmul
contain exact values, and the certified segment bound lies above a dense autograd scan."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from proofs.descent.certify import certify_curvature, divide_up
from proofs.descent.intervals import Iv, activation_derivative, iv_bmm
from proofs.descent.module_problem import _logit_scale, _named
from proofs.descent.module_segment import module_enclosure
from verify import ModuleCase, functional, modules
from verify.strategies._module_case import input_shape, parameter_shapes

SMOOTH = ("tanh", "gelu", "softplus", "sigmoid")


def _phi_derivatives(fm, theta, g, s: float) -> tuple[float, float]:
    """φ''(s) and φ'''(s) of φ(s) = L(θ − s·g) by nested autograd."""
    phi = lambda t: fm.loss(theta - t * g)  # noqa: E731
    d2 = torch.func.grad(torch.func.grad(phi))
    d3 = torch.func.grad(d2)
    t = torch.tensor(s, dtype=torch.float64)
    return float(d2(t)), float(d3(t))


def _segment(case):
    fm = functional(case)
    theta = fm.theta0
    g = fm.grad(theta)
    return fm, theta, g, module_enclosure(case, _named(case, theta), _named(case, g))


#: one spec per architecture with every structure a layout error would show in: several examples, channels,
#: padding and a 2×2 kernel, two residual blocks, two heads over three positions
RICH = {
    "mlp": {"widths": (3, 4, 3, 3), "activation": "gelu"},
    "cnn": {"in_channels": 2, "size": 4, "channels": (3, 2), "kernel": 2, "padding": 1, "activation": "tanh",
            "classes": 3},
    "residual": {"dim": 3, "hidden": 4, "blocks": 2, "activation": "softplus", "classes": 3},
    "attention": {"dim": 4, "heads": 2, "seq": 3, "classes": 3},
}


def _rich_case(arch: str, rng: np.random.Generator) -> ModuleCase:
    spec = RICH[arch]
    params = [(name, rng.normal(size=shape) * (0.2 if kind == "bias" else 0.8) + (1.0 if kind == "norm" else 0.0))
              for name, shape, kind in parameter_shapes(arch, spec)]
    x = rng.normal(size=(3, *input_shape(arch, spec)))
    return ModuleCase(arch, spec, params, x, np.array([0, 2, 1]))


def _assert_point_enclosures(case: ModuleCase) -> None:
    fm, theta, g, enclose = _segment(case)
    s = np.array([0.0, 0.5, 1.0])
    phi2, phi3 = enclose(s, s)
    exact = [_phi_derivatives(fm, theta, g, float(sj)) for sj in s]
    size = max(abs(d2) + abs(d3) for d2, d3 in exact) + float(g @ g) + 1e-9  # the segment's scale
    for j, (d2, d3) in enumerate(exact):
        for value, iv in ((d2, phi2), (d3, phi3)):
            # autograd's own round-off: where it disagreed beyond 1e-12 of the segment's size, mpmath sided with
            # the enclosures (a saturated softmax computes 1 − p as a difference)
            terms = float(g @ g) * _logit_scale(fm, theta, g, 1.0, s[j:j + 1])
            slack = 1e-9 * abs(value) + 1e-12 * (size + terms)
            assert iv.lo[j] - slack <= value <= iv.hi[j] + slack, (case.describe(), s[j], value, iv.lo[j], iv.hi[j])
            assert iv.hi[j] - iv.lo[j] <= 1e-6 * size, "a point enclosure this loose is a bug"


@pytest.mark.parametrize("arch", ["mlp", "cnn", "residual", "attention"])
def test_point_enclosures_contain_autograd_tightly(arch):
    for k in range(2):
        _assert_point_enclosures(_rich_case(arch, np.random.default_rng(k)))
    checked = []

    @settings(max_examples=12, database=None, deadline=None)
    @seed(3)
    @given(modules(architectures=arch, activations=SMOOTH, max_scale=2.0))
    def run(case):
        _assert_point_enclosures(case)
        checked.append(case.arch)

    run()
    assert checked and set(checked) == {arch}


@settings(max_examples=25, database=None, deadline=None)
@seed(0)
@given(modules(activations=SMOOTH, max_scale=3.0), st.sampled_from([0.05, 0.5, 2.0]))
def test_the_certified_bound_is_above_a_dense_autograd_scan(case, alpha_max):
    fm, theta, g, enclose = _segment(case)
    G = float(g @ g)
    if G < 1e-20:
        return
    bound = certify_curvature(enclose, alpha_max, G)
    assert bound.finite
    M = divide_up(bound.upper, g.numpy())
    scan = [float(g @ fm.hvp(theta - s * g, g)) / G for s in np.linspace(0.0, alpha_max, 201)]
    assert max(scan) <= M + 1e-9 * (abs(M) + 1.0)
    if bound.converged:  # within the tolerance of the best point value (a lower bound of the supremum)
        best = bound.lower / G
        assert M <= best + 2e-3 * max(abs(best), 1.0 / alpha_max) + 1e-9


@pytest.mark.parametrize("name", ["exp", "log", "reciprocal", "rsqrt"])
def test_elementary_derivative_enclosures_contain_the_exact_derivatives(name):
    exact = {
        "exp": lambda x, k: np.exp(x),
        "log": lambda x, k: np.log(x) if k == 0 else [1 / x, -1 / x**2, 2 / x**3][k - 1],
        "reciprocal": lambda x, k: [1 / x, -1 / x**2, 2 / x**3, -6 / x**4][k],
        "rsqrt": lambda x, k: [x**-0.5, -0.5 * x**-1.5, 0.75 * x**-2.5, -1.875 * x**-3.5][k],
    }[name]
    rng = np.random.default_rng(0)
    lo = rng.uniform(0.01, 5.0, 200)
    hi = lo + rng.uniform(0.0, 3.0, 200)
    for k in range(4):
        iv = activation_derivative(name, k, Iv(lo, hi))
        for t in (0.0, 0.3, 1.0):
            x = np.clip(lo + t * (hi - lo), lo, hi)
            assert np.all(iv.lo <= exact(x, k)) and np.all(exact(x, k) <= iv.hi)


def test_positive_domain_functions_know_nothing_across_zero():
    for name in ("log", "reciprocal", "rsqrt"):
        iv = activation_derivative(name, 0, Iv(np.array([-1.0]), np.array([1.0])))
        assert iv.lo[0] == -np.inf and iv.hi[0] == np.inf


def test_interval_matmul_contains_exact_rational_products():
    rng = np.random.default_rng(1)
    for _ in range(20):
        a_lo, b_lo = rng.normal(size=(2, 3, 4)) * 10.0 ** rng.integers(-3, 4), rng.normal(size=(2, 4, 2))
        a = Iv(a_lo, a_lo + rng.uniform(0, 1e-3, a_lo.shape))
        b = Iv(b_lo, b_lo + rng.uniform(0, 1e-3, b_lo.shape))
        out = iv_bmm(a, b)
        ta, tb = rng.uniform(size=a_lo.shape), rng.uniform(size=b_lo.shape)
        pa = np.clip(a.lo + ta * (a.hi - a.lo), a.lo, a.hi)
        pb = np.clip(b.lo + tb * (b.hi - b.lo), b.lo, b.hi)
        for k in range(2):
            for i in range(3):
                for j in range(2):
                    exact = sum(Fraction(float(pa[k, i, q])) * Fraction(float(pb[k, q, j])) for q in range(4))
                    assert Fraction(float(out.lo[k, i, j])) <= exact <= Fraction(float(out.hi[k, i, j]))
        assert np.all(out.hi - out.lo < 1e-1 * (np.abs(out.lo) + 1.0))


def test_where_autograd_loses_a_saturated_softmax_mpmath_sides_with_the_enclosure():
    """A residual block on x = (0, 20): the logits' derivative is ±400 and p(1 − p) ≈ 2e-9, so autograd's φ'''
    errs by ~7e-9 (eps·|z'|³); a 50-digit evaluation of the same network lands inside the enclosure."""
    import mpmath as mp

    spec = {"dim": 2, "hidden": 1, "blocks": 1, "activation": "tanh", "classes": 2}
    values = {"blocks.0.norm.weight": [1.0, 1.0], "head.weight": [[0.0, 0.0], [0.0, 1.0]]}
    params = [(name, np.asarray(values.get(name, np.zeros(shape))).reshape(shape))
              for name, shape, _ in parameter_shapes("residual", spec)]
    case = ModuleCase("residual", spec, params, np.array([[0.0, 20.0]]), np.array([0]))
    fm, theta, g, enclose = _segment(case)
    th, gg = [mp.mpf(float(v)) for v in theta], [mp.mpf(float(v)) for v in g]

    def loss(s):  # the zoo's residual network, written out: LayerNorm, fc1, tanh, fc2, the head, cross-entropy
        p = [a - s * b for a, b in zip(th, gg)]
        norm_w, norm_b, w1, b1 = p[0:2], p[2:4], p[4:6], p[6]
        w2, b2, head_w, head_b = p[7:9], p[9:11], p[11:15], p[15:17]
        h = [mp.mpf(0), mp.mpf(20)]
        mean = sum(h) / 2
        var = sum((v - mean) ** 2 for v in h) / 2
        normed = [(h[i] - mean) / mp.sqrt(var + mp.mpf("1e-5")) * norm_w[i] + norm_b[i] for i in range(2)]
        a = mp.tanh(w1[0] * normed[0] + w1[1] * normed[1] + b1)
        r = [h[i] + w2[i] * a + b2[i] for i in range(2)]
        logits = [head_w[2 * k] * r[0] + head_w[2 * k + 1] * r[1] + head_b[k] for k in range(2)]
        return mp.log(mp.exp(logits[0]) + mp.exp(logits[1])) - logits[0]

    with mp.workdps(50):
        exact = float(mp.diff(loss, 0, 3))
    _, phi3 = enclose(np.zeros(1), np.zeros(1))
    assert phi3.lo[0] <= exact <= phi3.hi[0]
    assert phi3.hi[0] - phi3.lo[0] <= 1e-12 * abs(exact)


def test_an_overflowing_sum_is_bounded_only_where_no_term_could_cancel_it():
    huge = float(np.finfo(np.float64).max)
    mixed = Iv(np.array([huge, huge, -huge, -huge])).sum(0)
    assert mixed.lo <= 0.0 <= mixed.hi  # the float running sum overflows, the true sum is 0
    positive = Iv(np.array([1.0, huge, huge])).sum(0)
    assert positive.lo == huge and positive.hi == np.inf
