"""Each check can fail: broken regularizers get clear errors, wrong gradients are refuted, nothing crashes."""

from __future__ import annotations

import pytest
import torch

from verify.claims import VerdictKind
from verify.regularizers import examples
from verify.regularizers.checker import CHECKS
from verify.regularizers.context import Context
from verify.regularizers.descent import check_descent
from verify.regularizers.model import Regularizer, make_task
from verify.regularizers.smoothness import check_smoothness
from verify.regularizers.wellformed import check_well_formed

from .conftest import by_id, run

V, R, E, INC = VerdictKind.VERIFIED, VerdictKind.REFUTED, VerdictKind.ERROR, VerdictKind.INCONCLUSIVE
NA = VerdictKind.NOT_APPLICABLE
FAST = ["well-formed", "gradient"]


def returns_nan(params):
    return sum((p ** 2).sum() for p in params.values()) * float("nan")


def returns_vector(params):
    return torch.cat([p.reshape(-1) ** 2 for p in params.values()])


def raises(model, batch):
    raise ValueError("this regularizer is broken on purpose")


def detached(params):
    return sum((p.detach() ** 2).sum() for p in params.values())


def returns_float(params):
    return float(sum((p ** 2).sum() for p in params.values()))


def three_arguments(a, b, c):
    return a


def _well_formed(fn):
    card = run(fn, checks=FAST)
    checks = by_id(card)
    assert checks["gradient"].verdict is E and checks["gradient"].numeric["blocked_by"] == "well-formed"
    return checks["well-formed"]


def test_nan_is_an_error_with_a_fix():
    v = _well_formed(returns_nan)
    assert v.verdict is E and "returned nan" in v.message and "Fix:" in v.message and "eps" in v.message


def test_vector_is_an_error():
    v = _well_formed(returns_vector)
    assert v.verdict is E and "shape (75,)" in v.message and "vector" in v.message and ".sum()" in v.message


def test_exception_is_an_error_naming_the_place():
    v = _well_formed(raises)
    assert v.verdict is E and "ValueError" in v.message and "test_failures.py" in v.message


def test_detached_is_an_error():
    v = _well_formed(detached)
    assert v.verdict is E and "detached" in v.message


def test_python_float_is_an_error():
    v = _well_formed(returns_float)
    assert v.verdict is E and "not a torch.Tensor" in v.message


def test_bad_signature_is_an_error_not_a_crash():
    card = run(three_arguments)
    assert all(v.verdict is E for v in card.checks)
    assert "(model, batch)" in by_id(card)["well-formed"].message


def test_user_gradient_missing_factor_two_is_refuted():
    card = run(examples.l2, checks=["gradient"], grad=lambda params: {k: p for k, p in params.items()})
    v = card.checks[0]
    assert v.verdict is R and "the user's grad is wrong" in v.message


def test_correct_user_gradient_and_hvp_are_verified():
    grad = lambda model, batch: {k: 2 * p for k, p in model.named_parameters()}
    hvp = lambda params, v: {k: 2 * t for k, t in v.items()}
    v = run(examples.l2, checks=["gradient"], grad=grad, hvp=hvp).checks[0]
    assert v.verdict is V, v.message
    assert {r["what"] for r in v.numeric["user_checks"]} == {"grad", "hvp"}


def test_wrong_user_hvp_is_refuted():
    v = run(examples.l2, checks=["gradient"], hvp=lambda params, v: dict(v)).checks[0]
    assert v.verdict is R and "hvp" in v.message


class _WrongBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x ** 2).sum()

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return grad_out * x  # should be 2 x


def wrong_backward(params):
    return sum(_WrongBackward.apply(p) for p in params.values())


def test_wrong_custom_backward_is_refuted():
    v = run(wrong_backward, checks=["gradient"]).checks[0]
    assert v.verdict is R and "autograd's gradient is wrong" in v.message
    assert v.counterexample is not None


def test_stochastic_regularizer_is_detected_and_checked_with_a_fixed_seed():
    def noisy(params):
        theta = torch.cat([p.reshape(-1) for p in params.values()])
        mask = torch.nn.functional.dropout(torch.ones_like(theta), p=0.3)
        return ((mask * theta) ** 2).sum()

    state = torch.get_rng_state()
    card = run(noisy, checks=["well-formed", "gradient", "constraint"])
    assert torch.equal(state, torch.get_rng_state())  # the caller's random state is untouched
    checks = by_id(card)
    assert checks["well-formed"].verdict is V and "stochastic" in checks["well-formed"].message
    assert checks["gradient"].verdict is V
    assert checks["constraint"].verdict is NA and "stochastic" in checks["constraint"].message
    assert "stochastic" in card.summary


def _context(fn):
    task = make_task("mlp")
    return Context(fn=fn, task=task, reg=Regularizer(fn, task, 0), lam=1e-2, lams=[1e-3, 1e-2], seed=0,
                   dtype=torch.float64, device=torch.device("cpu"))


@pytest.fixture
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # as check_regularizer does
    yield
    torch.set_num_threads(previous)


def test_descent_check_refutes_a_too_small_M(one_thread):
    ctx = _context(examples.l2)
    assert check_well_formed(ctx).verdict is V
    assert check_smoothness(ctx).verdict is V
    ctx.facts.M = ctx.facts.M / 10  # pretend the curvature was underestimated
    v = check_descent(ctx)
    assert v.verdict is R and "not a curvature bound" in v.message
    assert v.counterexample["segment_curvature"] > ctx.facts.M


def test_checks_listed_in_order():
    assert list(CHECKS) == ["well-formed", "gradient", "smoothness", "descent", "constraint", "curvature-effect"]


def test_constraint_check_refutes_an_optimum_found_with_a_wrong_gradient():
    v = run(wrong_backward, checks=["constraint"]).checks[0]
    assert v.verdict is R and "not a minimizer of J + λR" in v.message


def test_constraint_check_does_not_apply_to_nonconvex_r():
    def concave(params):
        return -sum((p ** 2).sum() for p in params.values()).clamp(max=50.0)

    v = run(concave, checks=["constraint"]).checks[0]
    assert v.verdict is NA and "not convex" in v.message


class _WrongSecondDerivative(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x ** 2).sum()

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        # value 2x (right), but its derivative is 5 instead of 2 (wrong second derivative)
        return grad_out * (2 * x.detach() + 5 * (x - x.detach()))


def wrong_second_derivative(params):
    return sum(_WrongSecondDerivative.apply(p) for p in params.values())


def test_wrong_second_derivative_is_refuted_by_smoothness():
    card = run(wrong_second_derivative, checks=["gradient", "smoothness", "descent"])
    checks = by_id(card)
    assert checks["gradient"].verdict is V
    assert checks["smoothness"].verdict is R and "second derivative of R is wrong" in checks["smoothness"].message
    assert checks["descent"].verdict is E  # no trustworthy M


def test_once_differentiable_backward_is_a_double_backward_error():
    from torch.autograd.function import once_differentiable

    class Sq(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return (x ** 2).sum()

        @staticmethod
        @once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 2 * x

    card = run(lambda params: sum(Sq.apply(p) for p in params.values()), checks=["gradient", "smoothness"])
    checks = by_id(card)
    assert checks["gradient"].verdict is V
    assert checks["smoothness"].verdict is E and checks["smoothness"].numeric["needs"] == "double"
