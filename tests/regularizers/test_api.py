"""Options, loading user code by name, and the package's public surface."""

from __future__ import annotations

import pytest

import verify
from verify.errors import InvalidInputError
from verify.regularizers import BUILTIN_EXAMPLES, check_regularizer, examples, load_regularizer


@pytest.mark.parametrize(("kw", "text"), [
    ({"lam": -1.0}, "λ must be finite and >= 0"),
    ({"task": "transformer"}, "valid values are ['mlp', 'softmax', 'cnn', 'resnet', 'attention']"),
    ({"lams": [0.1]}, "at least two"),
    ({"checks": ["nope"]}, "valid check ids"),
    ({"dtype": "float16"}, "float16"),
    ({"seed": -3}, "seed"),
    ({"grad": 3}, "grad"),
])
def test_bad_options_raise(kw, text):
    with pytest.raises(InvalidInputError, match=None) as info:
        check_regularizer(examples.l2, device="cpu", **kw)
    assert text in str(info.value)


def test_not_callable_raises():
    with pytest.raises(InvalidInputError, match="callable"):
        check_regularizer("l2")


def test_exported_from_verify():
    assert verify.check_regularizer is check_regularizer


def test_load_builtin_and_module_names():
    assert load_regularizer("l2") is examples.l2
    assert load_regularizer("verify.regularizers.examples:l1") is examples.l1
    assert set(BUILTIN_EXAMPLES) >= {"l2", "l1", "max_norm", "seed000_trace", "seed000_as_written"}


def test_load_from_file(tmp_path):
    f = tmp_path / "my_regs.py"
    f.write_text("import torch\n\ndef mine(params):\n    return sum((p ** 2).sum() for p in params.values())\n"
                 "VALUE = 3\n")
    fn = load_regularizer(f"{f}::mine")
    card = check_regularizer(fn, device="cpu", checks=["well-formed"])
    assert card.checks[0].verdict.value == "verified"
    with pytest.raises(InvalidInputError, match="Functions it defines: \\['mine'\\]"):
        load_regularizer(f"{f}::other")
    with pytest.raises(InvalidInputError, match="not a function"):
        load_regularizer(f"{f}::VALUE")


def test_load_errors_name_the_problem(tmp_path):
    with pytest.raises(InvalidInputError, match="No such file"):
        load_regularizer(f"{tmp_path / 'missing.py'}::fn")
    bad = tmp_path / "bad.py"
    bad.write_text("def fn(params):\n    return (\n")
    with pytest.raises(InvalidInputError, match=r"Syntax error in .*bad.py, line \d"):
        load_regularizer(f"{bad}::fn")
    with pytest.raises(InvalidInputError, match="Cannot import module"):
        load_regularizer("no_such_package_xyz.mod:fn")
    with pytest.raises(InvalidInputError, match="built-in examples"):
        load_regularizer("not_an_example")


def test_signature_detection():
    from verify.regularizers.model import SignatureError, signature_kind

    assert signature_kind(lambda model, batch: 0) == "model_batch"
    assert signature_kind(lambda params: 0) == "params"
    assert signature_kind(lambda params, scale=1.0: 0) == "params"
    assert signature_kind(lambda *args: 0) == "model_batch"
    assert signature_kind(lambda model, batch, v: 0, extra=1) == "model_batch"
    assert signature_kind(lambda params, v: 0, extra=1) == "params"
    with pytest.raises(SignatureError, match="3 required positional"):
        signature_kind(lambda a, b, c: 0)


def _without_timings(obj):
    if isinstance(obj, dict):
        return {k: _without_timings(v) for k, v in obj.items() if k != "elapsed_s"}
    if isinstance(obj, list):
        return [_without_timings(v) for v in obj]
    return obj


def test_same_seed_gives_the_same_json():
    a, b = (check_regularizer(examples.max_norm, device="cpu", checks=["gradient", "smoothness"]).to_json()
            for _ in range(2))
    assert _without_timings(a) == _without_timings(b)


def test_float32_computed_regularizer_is_judged_with_float32_round_off():
    def in_float32(params):
        return sum((p ** 2).sum() for p in params.values()).float()

    card = check_regularizer(in_float32, device="cpu", checks=["well-formed", "gradient", "smoothness"])
    assert [v.verdict.value for v in card.checks] == ["verified"] * 3, card.summary
    assert "float32" in card.checks[0].message
