"""Well-formed errors that name the real cause (issue 14): randomness outside torch, a value that does not
depend on the parameters, a regularizer that calls sys.exit."""

from __future__ import annotations

import io
import json
import random

import numpy as np
import pytest
import torch

from verify.claims import VerdictKind
from verify.cli import main

from .conftest import by_id, run

E = VerdictKind.ERROR


def _l2(params):
    return sum((p ** 2).sum() for p in params.values())


def numpy_noise(params):
    return _l2(params) * (1 + 0.1 * np.random.randn())


def python_noise(params):
    return _l2(params) * (1 + 0.1 * random.random())


def unseeded_generator(params):
    return _l2(params) * (1 + 0.1 * np.random.default_rng().normal())


def constant(params):
    return torch.tensor(1.0, dtype=torch.float64)


def constant_leaf(params):
    return torch.tensor(0.5, dtype=torch.float64, requires_grad=True)


def batch_only(model, batch):
    return (batch[0] ** 2).mean()


def _well_formed(fn):
    return by_id(run(fn, checks=["well-formed"]))["well-formed"]


@pytest.mark.parametrize("fn, source", [(numpy_noise, "(numpy.random)"), (python_noise, "(Python's random module)"),
                                        (unseeded_generator, "np.random.default_rng() without a seed")])
def test_randomness_outside_torch_is_named(fn, source):
    v = _well_formed(fn)
    assert v.verdict is E and "unseeded random source outside torch" in v.message and source in v.message
    assert "round-off" not in v.message and "torch.randn" in v.message and v.numeric["stage"] == "randomness"


@pytest.mark.parametrize("fn", [constant, constant_leaf, batch_only])
def test_a_value_that_does_not_depend_on_the_parameters_is_an_error(fn):
    v = _well_formed(fn)
    assert v.verdict is E and "does not depend on the parameters" in v.message
    assert "gradient reaches the parameters" not in v.message


def test_sys_exit_in_a_regularizer_is_an_error_naming_the_call_and_the_json_is_written(tmp_path):
    src = tmp_path / "exits.py"
    src.write_text("import sys\n\ndef exits(params):\n    sys.exit(0)\n")
    out_json = tmp_path / "card.json"
    out, err = io.StringIO(), io.StringIO()
    code = main(["regularizer", f"{src}::exits", "--checks", "well-formed,gradient", "--device", "cpu",
                 "--json", str(out_json)], out=out, err=err)
    assert code == 1, out.getvalue() + err.getvalue()
    checks = {v["claim"]: v for v in json.loads(out_json.read_text())["checks"]}
    message = checks["well-formed"]["message"]
    assert checks["well-formed"]["verdict"] == "error" and "sys.exit(0) was called" in message
    assert "exits.py:4 in exits" in message and "remove the sys.exit() call" in message
