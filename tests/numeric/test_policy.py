"""Device/dtype/thread policy, and the public surface of verify.numeric."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

import verify.numeric as numeric
from verify.errors import InvalidInputError
from verify.numeric import as_tensor, dtype_name, resolve_device, resolve_dtype, set_torch_threads, torch_threads


def test_all_names_importable_and_unique():
    for name in numeric.__all__:
        assert hasattr(numeric, name), name
    assert len(set(numeric.__all__)) == len(numeric.__all__)
    public = {n for n in vars(numeric) if not n.startswith(("_", "@"))}  # "@py_*": pytest assertion rewriting
    modules = {"autodiff", "compare", "finite_diff", "losses", "mlp", "policy", "spectrum", "module", "zoo",
               "batchgrad", "estimators", "ggn", "per_example"}
    assert public - modules == set(numeric.__all__)  # nothing public beyond __all__ (and the submodules)


def test_every_public_module_name_is_reexported():
    import importlib

    for module in ("autodiff", "compare", "finite_diff", "losses", "mlp", "policy", "spectrum", "module", "zoo",
                   "batchgrad", "estimators", "ggn", "per_example"):
        mod = importlib.import_module(f"verify.numeric.{module}")
        for name in mod.__all__:
            assert getattr(numeric, name) is getattr(mod, name), (module, name)
    assert set(numeric.__all__) == {n for m in ("autodiff", "compare", "finite_diff", "losses", "mlp", "policy",
                                                "spectrum", "module", "zoo", "batchgrad", "estimators", "ggn",
                                                "per_example")
                                    for n in importlib.import_module(f"verify.numeric.{m}").__all__}


def test_importing_numeric_does_not_import_sympy():
    code = "import sys, verify.numeric; assert 'sympy' not in sys.modules, 'sympy imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", ["cpu", "CPU", " cpu "])
def test_resolve_device_cpu(name):
    assert resolve_device(name) == torch.device("cpu")


def test_resolve_device_auto_and_device_objects():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device().type == expected
    assert resolve_device("auto").type == expected
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("name", ["cuda", "cuda:0", "cuda:3"])
def test_resolve_device_cuda_without_cuda_is_a_clear_error(name):
    with pytest.raises(InvalidInputError, match="CUDA is not available") as info:
        resolve_device(name)
    assert repr(name) in str(info.value) and "device='cpu'" in str(info.value)


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "mps", "", "cuda0", 3])
def test_resolve_device_rejects_unknown_names(name):
    with pytest.raises(InvalidInputError, match="valid values are 'auto', 'cpu', 'cuda', 'cuda:N'"):
        resolve_device(name)


@pytest.mark.parametrize(("name", "expected"), [
    ("float64", torch.float64), ("float32", torch.float32), ("torch.float64", torch.float64),
    (torch.float64, torch.float64), (torch.float32, torch.float32),
])
def test_resolve_dtype(name, expected):
    assert resolve_dtype(name) is expected


def test_resolve_dtype_default_is_float64():
    assert resolve_dtype() is torch.float64


@pytest.mark.parametrize("name", ["float16", "bfloat16", "double", "int64", torch.float16, torch.int64, None])
def test_resolve_dtype_rejects(name):
    with pytest.raises(InvalidInputError, match=r"valid values are \['float64', 'float32'\]"):
        resolve_dtype(name)


def test_dtype_name():
    assert dtype_name(torch.float64) == "float64"
    assert dtype_name("float32") == "float32"
    with pytest.raises(InvalidInputError):
        dtype_name(torch.float16)


def test_set_torch_threads_returns_previous_and_sets():
    before = torch_threads()
    try:
        assert set_torch_threads(1) == before
        assert torch_threads() == 1 == torch.get_num_threads()
    finally:
        set_torch_threads(before)
    assert torch_threads() == before


@pytest.mark.parametrize("n", [0, -1, 1.5, True, "2"])
def test_set_torch_threads_rejects(n):
    with pytest.raises(InvalidInputError, match="integer >= 1"):
        set_torch_threads(n)


def test_as_tensor():
    t = as_tensor([[1, 2], [3, 4]])
    assert t.dtype == torch.float64 and t.device.type == "cpu" and t.shape == (2, 2)
    assert as_tensor(np.ones(3, dtype=np.float32)).dtype == torch.float64
    assert as_tensor(2.5, dtype="float32").dtype == torch.float32
    x = torch.ones(2, dtype=torch.float64, requires_grad=True)
    assert as_tensor(x) is x  # already conforming: returned as is, graph kept


def test_as_tensor_rejects_non_numeric():
    with pytest.raises(InvalidInputError, match="cannot become a float64 tensor"):
        as_tensor("abc")
    with pytest.raises(InvalidInputError):
        as_tensor([1.0], dtype="float16")
