"""User claims from the adversarial review of the search (issue 13): true claims that round-off used to
refute, and false claims whose counterexamples are thin. Shared by the tests of this package."""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import strategies as st

import verify


def _t(x):
    return torch.as_tensor(np.array(x, dtype=np.float64))


def _e0(z):
    return torch.eye(len(z), dtype=torch.float64)[0]


def _hessian_lmax(batch):
    W, X, y = _t(batch.W), _t(batch.X), torch.as_tensor(np.array(batch.y))
    H = torch.func.hessian(lambda w: torch.nn.functional.cross_entropy(X @ w.T, y))(W)
    return torch.linalg.eigvalsh(H.reshape(W.numel(), W.numel()))[-1]


TRUE_CLAIMS = [
    verify.identity("tanh-sech-torch", statement=r"1-\tanh^2 x = \operatorname{sech}^2 x", cases=verify.vectors((1, 4)),
                    lhs=lambda x: 1 - torch.tanh(_t(x)) ** 2, rhs=lambda x: 1 / torch.cosh(_t(x)) ** 2),
    verify.identity("tanh-sech-math", statement=r"1-\tanh^2 x = \operatorname{sech}^2 x", cases=st.floats(-20, 20),
                    lhs=lambda x: 1 - math.tanh(x) ** 2, rhs=lambda x: 1 / math.cosh(x) ** 2),
    verify.identity("tanh-sech-numpy", statement=r"1-\tanh^2 x = \operatorname{sech}^2 x",
                    cases=verify.vectors((1, 4), scale=verify.scales(max_scale=10.0)),  # cosh overflows at 1e3
                    lhs=lambda x: 1 - np.tanh(x) ** 2, rhs=lambda x: 1 / np.cosh(x) ** 2),
    verify.identity("softmax-shift", statement=r"\mathrm{softmax}(z + c) = \mathrm{softmax}(z)",
                    cases=st.tuples(verify.logits(), st.floats(-100, 100)),
                    lhs=lambda c: torch.softmax(_t(c[0]) + c[1], -1), rhs=lambda c: torch.softmax(_t(c[0]), -1)),
    verify.inequality("p-minus-e0", statement=r"\|p - e_0\|^2 \le 2(1 - p_0)^2", cases=verify.logits(),
                      lhs=lambda z: ((torch.softmax(_t(z), -1) - _e0(z)) ** 2).sum(),
                      rhs=lambda z: 2 * (1 - torch.softmax(_t(z), -1)[0]) ** 2),
]

HESSIAN_BOUND = verify.inequality(
    "ce-hessian-bound", statement=r"\lambda_{\max}(\nabla^2 L) \le \tfrac12 \lambda_{\max}(X^\top X / m)",
    cases=verify.softmax_batches(), lhs=_hessian_lmax,
    rhs=lambda b: 0.5 * torch.linalg.eigvalsh(_t(b.X).T @ _t(b.X) / len(b.y))[-1])

FALSE_CLAIMS = [
    verify.inequality("cos-bound", statement=r"\cos x \le 0.9999", expected="refuted", cases=st.floats(-3, 3),
                      lhs=lambda x: math.cos(x), rhs=lambda x: 0.9999),
    verify.inequality("norm2-sqrt3-inf", statement=r"\|x\|_2 \le \sqrt3 \|x\|_\infty", expected="refuted",
                      cases=verify.vectors((3, 6)), lhs=lambda x: np.linalg.norm(x),
                      rhs=lambda x: math.sqrt(3) * np.abs(x).max()),
    verify.inequality("softmax-e0-distance", statement=r"\|\mathrm{softmax}(z) - e_0\| \le 1.414", expected="refuted",
                      cases=verify.logits(), lhs=lambda z: torch.linalg.vector_norm(torch.softmax(_t(z), -1) - _e0(z)),
                      rhs=lambda z: 1.414),
    verify.inequality("second-probability", statement=r"p_{(2)} \le 0.4999 \quad (k \ge 3)", expected="refuted",
                      cases=verify.logits((3, 6)),
                      lhs=lambda z: torch.sort(torch.softmax(_t(z), -1), descending=True).values[1],
                      rhs=lambda z: 0.4999),
    verify.identity("tanh-sech-off-by-1e-9", statement=r"1-\tanh^2 x = (1 + 10^{-9})\operatorname{sech}^2 x",
                    expected="refuted", cases=verify.vectors((1, 4)),
                    lhs=lambda x: 1 - torch.tanh(_t(x)) ** 2, rhs=lambda x: (1 + 1e-9) / torch.cosh(_t(x)) ** 2),
]

# A false claim Hypothesis's generation and targeting missed at seeds 2 and 10 of 0..19 (its violating set,
# 5.6 % of plain random draws, needs two rows, two columns and a small scale, while the tightest cases are
# rank-one products that approach equality without crossing it); the sample phase of each block (plain
# draws from the strategy) finds it at seeds 0..39 but 25.
THIN_CLAIMS = [
    verify.inequality("tanh-wx-spectral", statement=r"\|\tanh(WX)\|_F \le \|W\|_2 \|X\|_2", expected="refuted",
                      cases=st.integers(1, 4).flatmap(lambda n: st.tuples(verify.matrices((1, 4), n),
                                                                          verify.matrices(n, (1, 4)))),
                      lhs=lambda c: torch.linalg.matrix_norm(torch.tanh(_t(c[0]) @ _t(c[1]))),
                      rhs=lambda c: torch.linalg.matrix_norm(_t(c[0]), 2) * torch.linalg.matrix_norm(_t(c[1]), 2)),
]
