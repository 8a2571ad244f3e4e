"""to_torch: batching, autograd, constants, refusals, the disk cache, softmax.

Tolerances: float64 results compared at rtol 1e-12, atol 1e-14 where the two
sides run the same few operations in a different order (O(eps) apart), and at
rtol 1e-10 against SymPy's evalf (see test_printer.py for the reasoning).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sympy
import torch

from verify.bridge import PRINTER_VERSION, TorchFunction, default_cache_dir, generate_source, to_torch
from verify.errors import BridgeError, InvalidInputError

X, Y = sympy.symbols("x y")
K = sympy.Symbol("k", integer=True)
MATRIX = sympy.Matrix([[X * Y, sympy.exp(X) * Y], [sympy.Max(X, 0) + Y**2, sympy.sin(X) / (1 + Y**2)]])
RTOL, ATOL = 1e-12, 1e-14


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets an empty cache through the environment variable."""
    path = tmp_path / "env-cache"
    monkeypatch.setenv("VERIFY_CACHE_DIR", str(path))
    return path


def _xy(n: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(n, generator=gen, dtype=torch.float64) * 2,
            torch.randn(n, generator=gen, dtype=torch.float64))


# --------------------------------------------------------------- batching
def test_batched_matrix_has_shape_batch_rows_cols_and_matches_entries() -> None:
    x, y = _xy()
    out = to_torch(MATRIX, [X, Y])(x, y)
    assert out.shape == (5, 2, 2)
    assert out.dtype == torch.float64
    for b in range(5):
        expected = MATRIX.subs({X: float(x[b]), Y: float(y[b])}).evalf()
        torch.testing.assert_close(out[b], torch.tensor(expected.tolist(), dtype=torch.float64),
                                   rtol=1e-10, atol=1e-12)


def test_batched_matrix_carries_gradients_equal_to_sympy_derivative() -> None:
    x, y = _xy()
    x = x.clone().requires_grad_(True)
    out = to_torch(MATRIX, [X, Y])(x, y)
    (grad,) = torch.autograd.grad(out.sum(), x)
    derivative = sympy.diff(sum(MATRIX), X)  # contains Heaviside(x) from Max(x, 0)
    assert derivative.has(sympy.Heaviside)
    expected = to_torch(derivative, [X, Y])(x.detach(), y)
    torch.testing.assert_close(grad, expected, rtol=RTOL, atol=ATOL)


def test_inputs_broadcast_over_leading_dims() -> None:
    x = torch.linspace(-1, 1, 4, dtype=torch.float64).reshape(4, 1)
    y = torch.linspace(0, 2, 3, dtype=torch.float64)
    f = to_torch(MATRIX, [X, Y])
    out = f(x, y)
    assert out.shape == (4, 3, 2, 2)
    torch.testing.assert_close(out[2, 1], f(x[2, 0], y[1]), rtol=RTOL, atol=ATOL)
    scalar = to_torch(X * Y + 1, [X, Y])(x, y)
    assert scalar.shape == (4, 3)


def test_matrix_whose_entries_use_one_argument_still_has_the_full_batch() -> None:
    out = to_torch(sympy.Matrix([X, 2 * X]), [X, Y])(torch.ones(2, 1), torch.ones(3))
    assert out.shape == (2, 3, 2, 1)


def test_unbatched_tensors_and_python_floats() -> None:
    f = to_torch(MATRIX, [X, Y])
    from_floats = f(0.5, -1.5)
    assert from_floats.shape == (2, 2)
    assert from_floats.dtype == torch.float64
    from_scalars = f(torch.tensor(0.5, dtype=torch.float64), -1.5)
    torch.testing.assert_close(from_floats, from_scalars, rtol=0, atol=0)
    assert to_torch(X + Y, [X, Y])(1.0, 2.0).item() == 3.0


def test_dtype_follows_the_inputs() -> None:
    x32 = torch.ones(3, dtype=torch.float32)
    assert to_torch(MATRIX, [X, Y])(x32, 2.0).dtype == torch.float32
    assert to_torch(MATRIX, [X, Y])(x32, torch.ones(3, dtype=torch.float64)).dtype == torch.float64
    assert to_torch(X * Y, [X, Y])(torch.arange(3), 2).dtype == torch.float64  # integers promote


# -------------------------------------------------------------- constants
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_constant_expression_is_a_tensor_with_batch_shape_dtype_device(dtype: torch.dtype) -> None:
    x = torch.zeros(6, 2, dtype=dtype)
    out = to_torch(sympy.Rational(1, 3) + sympy.pi, [X, Y])(x, torch.zeros(2, dtype=dtype))
    assert isinstance(out, torch.Tensor)
    assert (out.shape, out.dtype, out.device) == ((6, 2), dtype, x.device)
    torch.testing.assert_close(out, torch.full((6, 2), 1 / 3 + torch.pi, dtype=dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_constant_matrix_is_a_tensor_with_batch_shape_dtype_device(dtype: torch.dtype) -> None:
    constant = sympy.Matrix([[1, sympy.Rational(1, 2)], [0, sympy.sqrt(2)]])
    x = torch.zeros(7, dtype=dtype)
    out = to_torch(constant, [X])(x)
    assert (out.shape, out.dtype, out.device) == ((7, 2, 2), dtype, x.device)
    expected = torch.tensor([[1.0, 0.5], [0.0, 2**0.5]], dtype=dtype).expand(7, 2, 2)
    torch.testing.assert_close(out, expected)


_DEVICES = ["meta"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", _DEVICES)
def test_results_and_constants_live_on_the_input_device(device: str) -> None:
    """``meta`` checks device propagation without a GPU; ``cuda`` runs where one exists."""
    expr = sympy.Matrix([[X * Y, sympy.Max(X, 0)], [1, sympy.Heaviside(Y) + sympy.KroneckerDelta(X, Y)]])
    x = torch.ones(4, dtype=torch.float64, device=device)
    for e in (expr, sympy.Matrix([[1, 2]]), sympy.Integer(3)):
        out = to_torch(e, [X, Y])(x, 2.0)
        assert out.device.type == device and out.dtype == torch.float64
        assert out.shape[:1] == (4,)


def test_mixed_constant_and_symbolic_entries_stack() -> None:
    out = to_torch(sympy.Matrix([[X, 0], [1, Y]]), [X, Y])(torch.arange(3.0), torch.ones(3))
    assert out.shape == (3, 2, 2)
    assert out[:, 0, 1].tolist() == [0.0, 0.0, 0.0]
    assert out[:, 1, 0].tolist() == [1.0, 1.0, 1.0]


def test_no_arguments_gives_float64_scalar() -> None:
    out = to_torch(sympy.Integer(2), [])()
    assert (out.shape, out.dtype, out.item()) == ((), torch.float64, 2.0)


# --------------------------------------------------------------- refusals
@pytest.mark.parametrize(
    "expr",
    [
        sympy.Derivative(sympy.Function("g")(X), X),
        sympy.Sum(1 / (K**3 + X), (K, 1, sympy.oo)),
        sympy.Integral(sympy.Function("g")(X), (X, 0, Y)),
        sympy.Matrix([[X, sympy.Derivative(sympy.Function("g")(X, Y), X, Y)]]),
    ],
    ids=["derivative", "sum", "integral", "matrix-with-derivative"],
)
def test_unevaluated_nodes_raise(expr: sympy.Basic) -> None:
    with pytest.raises(BridgeError, match=r"unevaluated .*autograd with itself"):
        to_torch(expr, [X, Y], cache=False)


def test_evaluable_derivative_and_sum_are_evaluated_by_doit() -> None:
    expr = sympy.Derivative(X**3, X) + sympy.Sum(X**K, (K, 0, 3))
    out = to_torch(expr, [X], cache=False)(torch.tensor([2.0], dtype=torch.float64))
    assert out.tolist() == [12.0 + 15.0]


def test_missing_symbol_raises_and_lists_it() -> None:
    z, w = sympy.symbols("z w")
    with pytest.raises(BridgeError, match=r"not arguments: w, z \(arguments: x\)"):
        to_torch(X + z * w, [X])


@pytest.mark.parametrize(
    ("args", "pattern"),
    [([X + 1], "expected a Symbol"), ([X, X], "appears twice"), ("xy", "sequence of Symbols")],
    ids=["not-a-symbol", "duplicate", "string"],
)
def test_bad_args_raise_invalid_input(args: object, pattern: str) -> None:
    with pytest.raises(InvalidInputError, match=pattern):
        to_torch(X, args)


def test_wrong_number_of_arguments_names_the_expected_ones() -> None:
    f = to_torch(X * Y, [X, Y])
    with pytest.raises(InvalidInputError, match=r"f\(x, y\) expects 2 argument\(s\), got 1"):
        f(torch.ones(2))
    with pytest.raises(ValueError):  # InvalidInputError is also a ValueError
        f(1.0, 2.0, 3.0)


def test_bad_name_raises() -> None:
    with pytest.raises(InvalidInputError, match="identifier"):
        to_torch(X, [X], name="not valid")


def test_matrix_expression_asks_for_as_explicit() -> None:
    with pytest.raises(BridgeError, match="as_explicit"):
        to_torch(sympy.MatrixSymbol("A", 2, 2) * 2, [X])


# ------------------------------------------------------- argument naming
def test_symbol_names_that_are_not_identifiers_are_renamed() -> None:
    weird, keyword_name, private = sympy.symbols("w_{1} lambda _x0")
    f = to_torch(weird + 2 * keyword_name + 3 * private, [weird, keyword_name, private])
    assert f.args == ("_s0", "_s1", "_s2")
    assert f(1.0, 10.0, 100.0).item() == 321.0


def test_cse_symbols_do_not_clash_with_user_symbols() -> None:
    x0 = sympy.Symbol("_x0")
    expr = sympy.exp(X + x0) + sympy.exp(X + x0) ** 2
    f = to_torch(expr, [X, x0])
    out = f(torch.tensor(0.1, dtype=torch.float64), torch.tensor(0.2, dtype=torch.float64))
    torch.testing.assert_close(out, torch.tensor(float(expr.subs({X: 0.1, x0: 0.2})), dtype=torch.float64))


def test_matrix_argument_is_one_tensor_indexed_by_trailing_dims() -> None:
    w = sympy.Matrix(2, 2, sympy.symbols("w0:4"))
    f = to_torch(w.det() * X, [X, w])
    assert f.args == ("x", "w")
    weights = torch.randn(5, 2, 2, dtype=torch.float64)
    out = f(torch.full((5,), 2.0, dtype=torch.float64), weights)
    torch.testing.assert_close(out, 2 * torch.linalg.det(weights), rtol=RTOL, atol=ATOL)
    with pytest.raises(InvalidInputError, match=r"trailing shape \(2, 2\)"):
        f(1.0, torch.ones(5, 4))


# ------------------------------------------------------------------ cache
def test_second_call_is_from_cache_and_identical(tmp_path: Path) -> None:
    first = to_torch(MATRIX, [X, Y], cache_dir=tmp_path)
    second = to_torch(MATRIX, [X, Y], cache_dir=tmp_path)
    assert not first.from_cache
    assert second.from_cache
    assert first.cache_path == second.cache_path
    assert first.cache_path is not None and first.cache_path.parent == tmp_path
    assert second.source == first.source == first.cache_path.read_text()
    x, y = _xy(8)
    assert torch.equal(first(x, y), second(x, y))


def test_different_expression_gives_a_different_file(tmp_path: Path) -> None:
    one = to_torch(MATRIX, [X, Y], cache_dir=tmp_path)
    other = to_torch(MATRIX * 2, [X, Y], cache_dir=tmp_path)
    no_cse = to_torch(MATRIX, [X, Y], cache_dir=tmp_path, cse=False)
    swapped = to_torch(MATRIX, [Y, X], cache_dir=tmp_path)
    paths = {one.cache_path, other.cache_path, no_cse.cache_path, swapped.cache_path}
    assert len(paths) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)  # no temp files left


def test_cache_dir_argument_and_environment_variable(tmp_path: Path, _private_cache: Path) -> None:
    assert default_cache_dir() == _private_cache
    from_env = to_torch(X + 1, [X])
    assert from_env.cache_path is not None and from_env.cache_path.parent == _private_cache
    explicit = to_torch(X + 1, [X], cache_dir=tmp_path / "explicit")
    assert explicit.cache_path is not None and explicit.cache_path.parent == tmp_path / "explicit"
    assert not explicit.from_cache


_KEY_SCRIPT = """
import sympy
from verify.bridge.lambdify import _arg_specs, _cache_key, _prepare_expr
x, y, z = sympy.symbols("x y z", real=True)
expr = sympy.Matrix([[sympy.Max(x, y, z, 0) + sympy.Min(x, 1), sympy.Piecewise((x, (x > y) & (y > z)), (z, True))],
                     [sum(sympy.exp(i * x) for i in range(12)) * y, sympy.KroneckerDelta(x, z) - sympy.Heaviside(y)]])
specs, _ = _arg_specs([x, y, z])
print(_cache_key(_prepare_expr(expr), specs, True, "f"))
"""


def test_cache_key_is_the_same_across_processes_and_hash_seeds() -> None:
    """CI starts cold; the key must not depend on Python's hash randomization."""
    keys = set()
    for seed in ("0", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        result = subprocess.run([sys.executable, "-c", _KEY_SCRIPT], env=env, capture_output=True, text=True,
                                check=True, cwd=Path(__file__).parents[2])
        keys.add(result.stdout.strip())
    assert len(keys) == 1 and len(keys.pop()) == 64


def test_cache_false_writes_nothing(tmp_path: Path) -> None:
    f = to_torch(X + 1, [X], cache=False, cache_dir=tmp_path)
    assert f.cache_path is None and not f.from_cache
    assert list(tmp_path.iterdir()) == []


def test_damaged_cache_file_is_regenerated(tmp_path: Path) -> None:
    path = to_torch(X * 3, [X], cache_dir=tmp_path).cache_path
    assert path is not None
    path.write_text(path.read_text()[:60])  # truncated, as if a write had been interrupted
    again = to_torch(X * 3, [X], cache_dir=tmp_path)
    assert not again.from_cache
    assert again(2.0).item() == 6.0
    assert to_torch(X * 3, [X], cache_dir=tmp_path).from_cache


def test_cache_file_is_a_standalone_module_and_tracebacks_show_it(tmp_path: Path) -> None:
    f = to_torch(X / Y, [X, Y], cache_dir=tmp_path, name="ratio")
    assert f.source.splitlines()[0] == f"# key: {f.cache_path.stem}"  # type: ignore[union-attr]
    assert f"printer version {PRINTER_VERSION}" in f.source
    namespace: dict[str, object] = {}
    exec(compile(f.source, "standalone", "exec"), namespace)  # noqa: S102
    assert namespace["ratio"](torch.tensor(6.0), torch.tensor(3.0)).item() == 2.0  # type: ignore[operator]
    with pytest.raises(RuntimeError) as info:
        f(torch.ones(2), torch.ones(3))
    assert any(str(entry.path) == str(f.cache_path) for entry in info.traceback)


def test_generate_source_is_a_module_with_one_function() -> None:
    source = generate_source(MATRIX, [X, Y], name="g")
    assert "import torch" in source
    assert source.count("\ndef ") == 1 and "\ndef g(x, y):" in source
    assert "torch.stack(" in source and "torch.maximum(" in source and "torch.tensor([[" not in source


def test_repr_names_the_function() -> None:
    f = to_torch(X, [X], cache=False)
    assert isinstance(f, TorchFunction)
    assert repr(f).startswith("TorchFunction(f(x), from_cache=False")


# --------------------------------------------------------------------- cse
def test_cse_equals_no_cse_on_repeated_subexpressions() -> None:
    s = sympy.exp(X * Y) + sympy.sin(X + Y)
    expr = sympy.Matrix([[s**2, s * X, sympy.log(1 + s**2)], [sympy.sqrt(1 + s**2), s / (1 + Y**2), 1]])
    with_cse = to_torch(expr, [X, Y], cse=True, cache=False)
    without = to_torch(expr, [X, Y], cse=False, cache=False)
    assert "_x0 = " in with_cse.source and "_x0" not in without.source
    x, y = _xy(9, seed=3)
    torch.testing.assert_close(with_cse(x, y), without(x, y), rtol=RTOL, atol=ATOL)


# ----------------------------------------------------------------- softmax
def _softmax_jacobian(k: int) -> tuple[sympy.Matrix, list[sympy.Symbol]]:
    z = list(sympy.symbols(f"z0:{k}"))
    total = sum(sympy.exp(zi) for zi in z)
    a = sympy.Matrix([sympy.exp(zi) / total for zi in z])
    return sympy.diag(*a) - a * a.T, z


def test_softmax_jacobian_matches_the_torch_formula() -> None:
    jac, z = _softmax_jacobian(3)
    f = to_torch(jac, z)
    logits = torch.randn(7, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    out = f(*logits.unbind(-1))
    a = torch.softmax(logits, dim=-1)
    expected = torch.diag_embed(a) - a[:, :, None] * a[:, None, :]
    assert out.shape == (7, 3, 3)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-14)


def test_softmax_jacobian_stays_finite_for_large_logits() -> None:
    jac, z = _softmax_jacobian(3)
    f = to_torch(jac, [z])  # the bonus form: one tensor (7, 3) whose last dim indexes z0..z2
    logits = torch.tensor([[30.0, -30.0, 0.0], [-30.0, -30.0, 30.0], [30.0, 30.0, 30.0],
                           [29.0, 30.0, -30.0], [0.0, 0.0, 0.0], [-30.0, 15.0, 30.0], [1.0, 2.0, 3.0]],
                          dtype=torch.float64)
    out = f(logits)
    a = torch.softmax(logits, dim=-1)
    expected = torch.diag_embed(a) - a[:, :, None] * a[:, None, :]
    assert torch.isfinite(out).all()
    # entries are O(1) differences of O(1) ratios of exp(30)-sized sums: absolute error O(eps)
    torch.testing.assert_close(out, expected, rtol=1e-9, atol=1e-14)


def test_cache_env_var_is_respected_by_default(_private_cache: Path) -> None:
    to_torch(X**2, [X])
    assert os.listdir(_private_cache)


def test_public_api_is_exported_and_documented() -> None:
    import verify.bridge as bridge

    assert sorted(bridge.__all__) == sorted(
        ["PRINTER_VERSION", "TorchFunction", "TorchPrinter", "default_cache_dir", "generate_source", "to_torch"])
    for name in bridge.__all__:
        value = getattr(bridge, name)
        assert isinstance(value, str) or value.__doc__, name


def test_importing_the_bridge_does_not_import_torch() -> None:
    """Hashing and code generation need only SymPy; torch loads on the first call."""
    code = "import sys, verify.bridge; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).parents[2])
    assert result.stdout.strip() == "False"
