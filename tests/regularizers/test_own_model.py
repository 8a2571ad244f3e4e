"""``verify regularizer`` on the user's own module and batch, and on the built-in cnn/resnet/attention tasks."""

from __future__ import annotations

import io
import textwrap

import pytest
import torch
from torch import nn

from tests.regularizers.conftest import by_id, run
from verify.claims import VerdictKind
from verify.cli import main
from verify.errors import InvalidInputError, UserCodeError
from verify.regularizers import examples
from verify.regularizers.model import make_task

V, NA, INC = VerdictKind.VERIFIED, VerdictKind.NOT_APPLICABLE, VerdictKind.INCONCLUSIVE


def small_cnn(batchnorm: bool = False, dropout: float = 0.0) -> nn.Module:
    layers: list[nn.Module] = [nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.GELU()]
    if batchnorm:
        layers.append(nn.BatchNorm2d(4))
    layers += [nn.Flatten(), nn.Dropout(dropout), nn.Linear(64, 3)]
    return nn.Sequential(*layers)


def images(m: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return torch.randn(m, 3, 8, 8, generator=gen), torch.randint(0, 3, (m,), generator=gen)


@pytest.mark.parametrize(("name", "n"), [("mlp", 75), ("softmax", 18), ("cnn", 435), ("resnet", 411),
                                         ("attention", 627)])
def test_each_builtin_task_builds_as_documented(name, n):
    task = make_task(name)
    assert task.n == n and task.kind == name and task.per_example_why == ""
    assert torch.isfinite(task.loss(task.theta0)) and 0.5 < float(task.loss(task.theta0)) < 2.5
    assert torch.equal(make_task(name).theta0, task.theta0)  # seeded
    assert not torch.equal(make_task(name, seed=1).theta0, task.theta0)


@pytest.mark.parametrize("name", ["cnn", "resnet", "attention"])
def test_l2_passes_every_check_on_the_new_builtin_tasks(name):
    card = run(examples.l2, task=name)
    assert [v.verdict for v in card.checks] == [V] * 6, card.summary
    assert card.settings["task"] == name and card.settings["budget"]["name"] == "full"
    assert card.passed


def test_a_users_cnn_with_batchnorm_gets_a_card_and_is_not_changed():
    model = small_cnn(batchnorm=True).float()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    card = run(examples.l2, model=model, batch=images())
    checks = by_id(card)
    assert card.settings["task"] == "user" and card.settings["loss"] == "cross-entropy"
    assert card.settings["train_mode"] is False and card.settings["per_example"] == "defined"
    for c in ("well-formed", "gradient", "smoothness", "descent", "curvature-effect"):
        assert checks[c].verdict is V, (c, checks[c].message)
    # C4 needs a convex J: a conv net's loss is not, and the check says so instead of failing
    assert checks["constraint"].verdict is NA and "not convex on your model" in checks["constraint"].message
    assert card.passed and not card.failed and card.undecided == [checks["constraint"]]
    assert checks["curvature-effect"].numeric["with_R"]["param_grad_sq_mean"] > 0
    # the user's module: same mode, dtype and values
    assert model.training and next(model.parameters()).dtype == torch.float32
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_train_mode_batchnorm_states_per_example_quantities_as_not_defined():
    card = run(examples.l2, model=lambda: small_cnn(batchnorm=True), batch=images(),
               train_mode=True, checks=["curvature-effect"])
    effect = by_id(card)["curvature-effect"]
    assert "BatchNorm" in card.settings["per_example"]
    assert effect.numeric["with_R"]["param_grad_sq_mean"] is None
    assert "not defined" in effect.numeric["per_example"] and "not defined" in effect.message


def test_train_mode_dropout_is_a_stochastic_model_with_a_fixed_seed_per_call():
    card = run(examples.l2, model=lambda: small_cnn(dropout=0.3), batch=images(), train_mode=True,
               checks=["well-formed", "constraint"])
    assert card.settings["stochastic_model"] is True
    assert "stochastic" in card.summary
    assert by_id(card)["constraint"].verdict is NA and "stochastic" in by_id(card)["constraint"].message
    eval_card = run(examples.l2, model=lambda: small_cnn(dropout=0.3), batch=images(), checks=["well-formed"])
    assert eval_card.settings["stochastic_model"] is False


def test_a_convex_users_model_runs_the_constraint_check_on_it():
    """Softmax regression written as the user's own nn.Linear: J convex, so C4 runs there (in float64)."""
    gen = torch.Generator().manual_seed(2)
    X, y = torch.randn(40, 4, generator=gen), torch.randint(0, 3, (40,), generator=gen)
    y[:3] = torch.arange(3)
    card = run(examples.l2, model=lambda: nn.Linear(4, 3), batch=(X, y), dtype="float32", checks=["constraint"])
    constraint = by_id(card)["constraint"]
    assert constraint.verdict is V, constraint.message
    assert "your model" in constraint.numeric["task"] and constraint.dtype == "float64"


def test_a_wrong_regularizer_gradient_is_refuted_on_the_users_model():
    """The checks keep their teeth on a user's model: a gradient penalty with a detached piece is refuted."""
    card = run(examples.gradient_norm_penalty_fd, model=small_cnn, batch=images(), checks=["gradient"])
    assert by_id(card)["gradient"].verdict is VerdictKind.REFUTED


def test_frozen_parameters_are_listed_on_the_card():
    def build():
        net = small_cnn()
        net[0].requires_grad_(False)
        return net

    card = run(examples.l2, model=build, batch=images(), checks=["well-formed"])
    assert card.settings["frozen_parameters"] == ["0.weight", "0.bias"]
    assert card.settings["parameters"] == 64 * 3 + 3
    assert "frozen" in card.summary


def test_the_gradient_check_runs_in_float64_in_a_float32_run():
    card = run(examples.l2, task="cnn", dtype="float32", checks=["gradient", "smoothness", "descent"])
    checks = by_id(card)
    assert checks["gradient"].dtype == "float64" and checks["smoothness"].dtype == "float32"
    # at float64 accuracy: R returns float64 on the float64 twin (a float32 R from the float32 run must not
    # make the twin's tolerances float32: the 1M-parameter bench came out inconclusive that way)
    assert "eps(float64)" in checks["gradient"].numeric["tolerance"]
    assert "eps(float64)" in checks["descent"].numeric["tolerance"]
    assert checks["gradient"].verdict is V and checks["descent"].verdict is V


@pytest.mark.parametrize(("kw", "text"), [
    ({"model": small_cnn}, "without batch="),
    ({"batch": images()}, "without model="),
    ({"model": small_cnn, "batch": images(), "task": "cnn"}, "one or the other"),
    ({"loss": "mse"}, "apply to your own model"),
    ({"model": small_cnn, "batch": images(), "loss": "hinge"}, "valid names"),
])
def test_bad_model_options_raise(kw, text):
    with pytest.raises(InvalidInputError, match=text):
        run(examples.l2, **kw)


def test_a_bad_module_raises_naming_the_layer():
    class Quantized(nn.Module):
        def forward(self, x):
            return torch.round(x)

    with pytest.raises(UserCodeError, match=r"layer 1 \(Quantized\)"):
        run(examples.l2, model=nn.Sequential(nn.Linear(5, 4), Quantized(), nn.Linear(4, 3)),
            batch=(torch.randn(8, 5), torch.randint(0, 3, (8,))))


def test_layernorm_third_derivative_verdict_agrees_with_an_independent_measurement():
    """torch's nn.LayerNorm third derivative (double backward of its backward) is measured here against a
    hand-written LayerNorm; the smoothness check of a double-backprop penalty through it must agree:
    refuted (autograd's Hv of R is wrong) exactly when the built-in op is wrong."""
    torch.manual_seed(0)
    x = torch.randn(8, dtype=torch.float64)
    w = torch.randn(8, dtype=torch.float64)
    v = torch.randn(8, dtype=torch.float64)

    def grad_of_penalty(norm, z):
        y = (norm(z) ** 3 * w).sum()
        (g,) = torch.autograd.grad(y, z, create_graph=True)
        (gr,) = torch.autograd.grad((g ** 2).sum(), z, create_graph=True)
        return gr

    def hvp_error(norm):
        z = x.clone().requires_grad_(True)
        (hv,) = torch.autograd.grad(grad_of_penalty(norm, z) @ v, z)
        r = 1e-5
        fd = (grad_of_penalty(norm, (x + r * v).requires_grad_(True)).detach() -
              grad_of_penalty(norm, (x - r * v).requires_grad_(True)).detach()) / (2 * r)
        return float(torch.linalg.vector_norm(hv - fd) / torch.linalg.vector_norm(fd))

    def by_hand(z):
        mu = z.mean()
        return (z - mu) / torch.sqrt(((z - mu) ** 2).mean() + 1e-5)

    assert hvp_error(by_hand) < 1e-6
    torch_wrong = hvp_error(lambda z: nn.functional.layer_norm(z, (8,))) > 1e-3
    card = run(examples.input_gradient_penalty, task="resnet", checks=["smoothness"])
    assert (by_id(card)["smoothness"].verdict is VerdictKind.REFUTED) == torch_wrong


MODEL_FILE = """
import torch
from torch import nn

def build():
    return nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.GELU(), nn.Flatten(), nn.Linear(64, 3))

def batch():
    gen = torch.Generator().manual_seed(0)
    return torch.randn(16, 3, 8, 8, generator=gen), torch.randint(0, 3, (16,), generator=gen)

def broken():
    return nn.Sequential(nn.Linear(7, 3))

def half_l1(output, y):
    return (output.softmax(-1) - nn.functional.one_hot(y, 3)).abs().mean()
"""


def _cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out=out, err=err), out.getvalue(), err.getvalue()


def test_cli_model_and_data_from_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.py").write_text(textwrap.dedent(MODEL_FILE))
    code, out, err = _cli("regularizer", "l2", "--model", "net.py::build", "--data", "net.py::batch",
                          "--checks", "well-formed,constraint", "--out", "card")
    assert code == 0, out + err
    assert "not-applicable" in out and "1 inconclusive or not applicable" in out
    assert "well-formed: value of R at theta0" in err  # progress on stderr
    page = (tmp_path / "card" / "index.html").read_text(encoding="utf-8")
    assert "badge v-not-applicable" in page
    code, out, _ = _cli("regularizer", "l2", "--model", "net.py::build", "--data", "net.py::batch",
                        "--checks", "constraint", "--strict")
    assert code == 1 and "strict" in out
    code, out, err = _cli("regularizer", "l2", "--model", "net.py::build", "--data", "net.py::batch",
                          "--loss", "net.py::half_l1", "--checks", "well-formed", "--quiet")
    assert code == 0 and err.count("\n") == 1, err
    code, _, err = _cli("regularizer", "l2", "--model", "net.py::broken", "--data", "net.py::batch")
    assert code == 2 and "rejected the batch" in err and "layer 0 (Linear)" in err
    code, _, err = _cli("regularizer", "l2", "--model", "net.py::build")
    assert code == 2 and "--data" in err
    code, _, err = _cli("regularizer", "l2", "--task", "transformer")
    assert code == 2 and "valid values" in err


def test_cli_time_limit_ends_a_check_with_its_finished_steps(tmp_path):
    code, out, _ = _cli("regularizer", "l2", "--task", "cnn", "--checks", "curvature-effect",
                        "--time-limit", "0.5", "--quiet", "--json", str(tmp_path / "card.json"))
    assert code == 0 and "inconclusive" in out and "Stopped by the time limit" in out
    import json

    card = json.loads((tmp_path / "card.json").read_text())
    effect = next(c for c in card["checks"] if c["claim"] == "curvature-effect")
    assert effect["numeric"]["steps_finished"][0] == "start" and effect["numeric"]["stopped_before"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_a_users_model_card_on_cuda_matches_the_cpu_card():
    cpu = run(examples.l2, model=small_cnn, batch=images(), checks=["well-formed", "gradient", "smoothness"])
    gpu = run(examples.l2, model=small_cnn, batch=images(), device="cuda",
              checks=["well-formed", "gradient", "smoothness"])
    assert [v.verdict for v in gpu.checks] == [v.verdict for v in cpu.checks]
    assert all(v.device.startswith("cuda") for v in gpu.checks)
    assert by_id(gpu)["smoothness"].numeric["M"] == pytest.approx(by_id(cpu)["smoothness"].numeric["M"], rel=1e-6)


def test_a_factory_returning_a_held_module_in_a_float32_run():
    """The float64 twin is built from the task's own copy: the user's factory runs once and their module is
    untouched (before, the first build cast it and froze its parameters, and the twin found none trainable)."""
    held = small_cnn()
    card = run(examples.l2, model=lambda: held, batch=images(), dtype="float32", checks=["gradient"])
    assert by_id(card)["gradient"].verdict is V, by_id(card)["gradient"].message
    assert held.training and all(p.requires_grad for p in held.parameters())


def test_a_float32_regularizer_in_a_float32_run_is_judged_at_float32_accuracy():
    def float32_l2(model, batch):
        return sum((p.float() ** 2).sum() for p in model.parameters())

    card = run(float32_l2, task="cnn", dtype="float32", checks=["gradient"])
    assert by_id(card)["gradient"].verdict is V, by_id(card)["gradient"].message


def test_a_stopped_prerequisite_makes_later_checks_inconclusive_not_errors():
    import time as _time

    def slow_l2(model, batch):
        _time.sleep(0.05)
        return sum((p ** 2).sum() for p in model.parameters())

    card = run(slow_l2, task="softmax", checks=["gradient", "descent"], time_limit=0.01)
    checks = by_id(card)
    assert checks["gradient"].verdict is INC and "time limit" in checks["gradient"].message
    assert checks["descent"].verdict is INC
    assert not card.failed


def test_a_model_that_casts_to_float32_runs_its_float64_checks_in_float32_and_says_so():
    class Casts(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(5, 3)
            self.fixed = torch.eye(5)  # a plain attribute: .to(float64) leaves it float32

        def forward(self, x):
            return self.lin(x @ self.fixed)

    gen = torch.Generator().manual_seed(0)
    batch = (torch.randn(12, 5, generator=gen), torch.randint(0, 3, (12,), generator=gen))
    card = run(examples.l2, model=Casts(), batch=batch, dtype="float32", checks=["gradient", "constraint"])
    gradient, constraint = by_id(card)["gradient"], by_id(card)["constraint"]
    assert gradient.verdict is V and gradient.dtype == "float32", gradient.message
    assert constraint.verdict is NA and "float64" in constraint.message
    assert "does not run in float64" in card.summary


def test_a_user_model_card_page_names_the_model_and_reports_not_applicable_without_failing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.py").write_text(textwrap.dedent(MODEL_FILE))
    code, _, err = _cli("regularizer", "l2", "--model", "net.py::build", "--data", "net.py::batch", "--checks",
                        "constraint", "--quiet", "--out", "card", "--json", "card.json")
    assert code == 0, err
    page = (tmp_path / "card" / "index.html").read_text(encoding="utf-8")
    assert "reported, not failed" in page and "MISMATCH" not in page
    assert "--model net.py::build --data net.py::batch" in page and "--task user" not in page
    assert "(--model/--data)" in page
