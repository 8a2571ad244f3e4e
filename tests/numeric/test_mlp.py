"""Functional MLPs: spec validation, flat parameters, agreement with nn.Linear, torch.func support."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.func import grad, jacfwd, jacrev, vmap

from verify.errors import InvalidInputError
from verify.numeric import ACTIVATIONS, MLPSpec, activation, flatten, init_params, mlp_forward, mlp_layers, unflatten
from verify.numeric.policy import _quiet_torch_func

F64 = torch.float64

# (widths, activation, bias): the boundary cases (width 1, depth 1, no bias) on purpose
SPECS = [
    ((1, 1), "tanh", True),
    ((1, 1, 1), "sigmoid", True),
    ((3, 1, 2), "softplus", True),
    ((2, 5, 3), "gelu", False),
    ((4, 3, 3, 2), "identity", True),
    ((3, 6, 4, 1), "relu", True),
]


def _reference(spec: MLPSpec, theta: torch.Tensor, x: torch.Tensor, activate_last: bool) -> torch.Tensor:
    """The same network with torch.nn.Linear modules (the independent oracle)."""
    g = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "softplus": lambda z: F.softplus(z, threshold=50.0),
         "gelu": F.gelu, "identity": lambda z: z, "relu": F.relu}[spec.activation]
    h = x
    for t, (weight, bias) in enumerate(unflatten(spec, theta), start=1):
        lin = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None, dtype=F64)
        with torch.no_grad():
            lin.weight.copy_(weight)
            if bias is not None:
                lin.bias.copy_(bias)
        h = lin(h)
        if t < spec.depth or activate_last:
            h = g(h)
    return h


@pytest.mark.parametrize(("widths", "act", "bias"), SPECS)
@pytest.mark.parametrize("activate_last", [False, True])
def test_forward_matches_nn_linear(widths, act, bias, activate_last):
    spec = MLPSpec(widths, act, bias)
    theta = init_params(spec, seed=3)
    x = torch.randn(5, widths[0], dtype=F64, generator=torch.Generator().manual_seed(1))
    out = mlp_forward(spec, theta, x, activate_last=activate_last)
    assert out.shape == (5, widths[-1])
    torch.testing.assert_close(out, _reference(spec, theta, x, activate_last), rtol=1e-14, atol=1e-14)
    # one example (d_in,) gives the row of the batch
    torch.testing.assert_close(mlp_forward(spec, theta, x[2], activate_last=activate_last), out[2],
                               rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize(("widths", "act", "bias"), SPECS)
def test_layers_structure(widths, act, bias):
    spec = MLPSpec(widths, act, bias)
    theta = init_params(spec, seed=0)
    x = torch.randn(4, widths[0], dtype=F64)
    g = activation(act)
    for activate_last in (False, True):
        hs, zs = mlp_layers(spec, theta, x, activate_last=activate_last)
        assert len(hs) == spec.depth + 1 and len(zs) == spec.depth
        assert hs[0] is x
        for t, ((weight, b), z) in enumerate(zip(unflatten(spec, theta), zs)):
            assert hs[t].shape == (4, widths[t]) and z.shape == (4, widths[t + 1])
            expected = hs[t] @ weight.T + (b if b is not None else 0)
            torch.testing.assert_close(z, expected, rtol=1e-14, atol=1e-15)  # addmm vs mm + add
        for t in range(1, spec.depth):
            torch.testing.assert_close(hs[t], g(zs[t - 1]), rtol=0, atol=0)
        last = g(zs[-1]) if activate_last else zs[-1]
        torch.testing.assert_close(hs[-1], last, rtol=0, atol=0)
        torch.testing.assert_close(hs[-1], mlp_forward(spec, theta, x, activate_last=activate_last),
                                   rtol=0, atol=0)


def test_layers_default_activates_last_and_forward_does_not():
    spec = MLPSpec((2, 3, 2), "tanh")
    theta = init_params(spec)
    x = torch.ones(2, dtype=F64)
    hs, zs = mlp_layers(spec, theta, x)
    torch.testing.assert_close(hs[-1], torch.tanh(zs[-1]))
    torch.testing.assert_close(mlp_forward(spec, theta, x), zs[-1])


@pytest.mark.parametrize(("widths", "bias", "n_params"), [
    ((1, 1), True, 2), ((1, 1), False, 1), ((3, 4, 2), True, 26), ((3, 4, 2), False, 20),
    ((5, 1, 1, 7), True, 6 + 2 + 14),
])
def test_spec_counts(widths, bias, n_params):
    spec = MLPSpec(widths, bias=bias)
    assert spec.depth == len(widths) - 1
    assert spec.n_params == n_params
    assert [s[0] for s in spec.shapes] == [(o, i) for i, o in zip(widths[:-1], widths[1:])]
    assert all((s[1] is None) != bias for s in spec.shapes)


def test_spec_coerces_list_and_is_frozen_and_hashable():
    spec = MLPSpec([2, 3])  # type: ignore[arg-type]
    assert spec.widths == (2, 3)
    assert hash(spec) == hash(MLPSpec((2, 3)))
    with pytest.raises(AttributeError):
        spec.widths = (1, 1)  # type: ignore[misc]


@pytest.mark.parametrize(("kwargs", "pattern"), [
    ({"widths": (3,)}, r"at least \(d_in, d_out\)"),
    ({"widths": ()}, r"at least"),
    ({"widths": (3, 0, 1)}, r"widths\[1\]=0"),
    ({"widths": (3, 2.0)}, r"widths\[1\]=2.0"),
    ({"widths": (True, 2)}, r"widths\[0\]=True"),
    ({"widths": "32"}, r"must be a tuple"),
    ({"widths": 3}, r"must be a tuple"),
    ({"widths": (2, 2), "activation": "relu6"}, r"Got activation='relu6', but valid values are \['tanh'"),
    ({"widths": (2, 2), "bias": 1}, r"bias must be True or False"),
])
def test_spec_validation(kwargs, pattern):
    with pytest.raises(InvalidInputError, match=pattern):
        MLPSpec(**kwargs)


def test_activation_lookup():
    assert set(ACTIVATIONS) == {"tanh", "sigmoid", "softplus", "gelu", "identity", "relu"}
    with pytest.raises(InvalidInputError, match=r"Got activation='swish', but valid values are"):
        activation("swish")
    with pytest.raises(TypeError):
        ACTIVATIONS["new"] = torch.tanh  # type: ignore[index]


def test_softplus_is_exact_and_smooth_at_extremes():
    sp = activation("softplus")
    z = torch.tensor([-800.0, -30.0, 0.0, 30.0, 800.0], dtype=F64)
    expected = torch.tensor([0.0, math.log1p(math.exp(-30.0)), math.log(2.0), 30.0 + math.log1p(math.exp(-30.0)),
                             800.0], dtype=F64)
    torch.testing.assert_close(sp(z), expected, rtol=4.5e-16, atol=1e-300)  # within 2 ulp of the exact value
    d1 = vmap(grad(sp))(z)
    d2 = vmap(grad(grad(sp)))(z)
    torch.testing.assert_close(d1, torch.sigmoid(z), rtol=1e-14, atol=0)
    assert torch.isfinite(d2).all()
    assert d2[2] == 0.25


def test_flatten_unflatten_roundtrip_and_views():
    spec = MLPSpec((3, 4, 2))
    theta = init_params(spec, seed=1)
    layers = unflatten(spec, theta)
    assert [tuple(w.shape) for w, _ in layers] == [(4, 3), (2, 4)]
    assert layers[0][0].data_ptr() == theta.data_ptr()  # a view, no copy
    torch.testing.assert_close(flatten(spec, layers), theta, rtol=0, atol=0)
    # row-major: theta[1] is W1[0, 1]
    assert layers[0][0][0, 1] == theta[1]
    assert layers[0][1][0] == theta[12]


def test_unflatten_keeps_autograd():
    spec = MLPSpec((2, 2))
    theta = init_params(spec).requires_grad_(True)
    (weight, bias), = unflatten(spec, theta)
    (weight.sum() + 2 * bias.sum()).backward()
    torch.testing.assert_close(theta.grad, torch.tensor([1.0, 1, 1, 1, 2, 2], dtype=F64))


def test_flatten_rejects_bad_layers():
    spec = MLPSpec((3, 4, 2))
    layers = unflatten(spec, init_params(spec))
    with pytest.raises(InvalidInputError, match="depth 2"):
        flatten(spec, layers[:1])
    with pytest.raises(InvalidInputError, match=r"W1 of shape \(3, 4\).*transpose"):
        flatten(spec, [(layers[0][0].T, layers[0][1]), layers[1]])
    with pytest.raises(InvalidInputError, match=r"b2 of shape None"):
        flatten(spec, [layers[0], (layers[1][0], None)])
    with pytest.raises(InvalidInputError, match="bias=False"):
        flatten(MLPSpec((3, 4, 2), bias=False), layers)


def test_unflatten_and_forward_reject_bad_shapes():
    spec = MLPSpec((3, 4, 2))
    theta = init_params(spec)
    with pytest.raises(InvalidInputError, match=r"theta of shape \(25,\).*\(26,\)"):
        unflatten(spec, theta[:-1])
    with pytest.raises(InvalidInputError, match="1-D torch.Tensor"):
        unflatten(spec, theta.tolist())  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"x of shape \(5, 2\)"):
        mlp_forward(spec, theta, torch.ones(5, 2, dtype=F64))
    with pytest.raises(InvalidInputError, match="must match"):
        mlp_forward(spec, theta, torch.ones(3, dtype=torch.float32))


def test_init_params_seeded_and_device_dtype_independent():
    spec = MLPSpec((4, 8, 3))
    a, b = init_params(spec, seed=5), init_params(spec, seed=5)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, init_params(spec, seed=6))
    assert a.dtype == F64 and a.shape == (spec.n_params,)
    a32 = init_params(spec, seed=5, dtype="float32")
    torch.testing.assert_close(a32, a.float(), rtol=0, atol=0)
    torch.testing.assert_close(init_params(spec, seed=5, scale=3.0), 3 * a, rtol=1e-15, atol=0)
    assert torch.count_nonzero(init_params(spec, scale=0.0)) == 0
    with pytest.raises(InvalidInputError, match="scale"):
        init_params(spec, scale=-1.0)


def test_init_params_glorot_std():
    spec = MLPSpec((200, 300))
    w = unflatten(spec, init_params(spec, seed=0))[0][0]
    assert abs(float(w.std()) / (2 / 500) ** 0.5 - 1) < 0.02


@pytest.mark.parametrize(("widths", "act", "bias"), SPECS)
def test_torch_func_transforms(widths, act, bias):
    spec = MLPSpec(widths, act, bias)
    theta = init_params(spec, seed=2)
    X = torch.randn(6, widths[0], dtype=F64, generator=torch.Generator().manual_seed(0))
    # vmap over examples equals the batched call
    torch.testing.assert_close(vmap(lambda x: mlp_forward(spec, theta, x))(X), mlp_forward(spec, theta, X),
                               rtol=1e-14, atol=1e-15)
    # vmap over parameter vectors
    thetas = torch.stack([init_params(spec, seed=s) for s in range(3)])
    out = vmap(lambda t: mlp_forward(spec, t, X))(thetas)
    torch.testing.assert_close(out[1], mlp_forward(spec, thetas[1], X), rtol=1e-14, atol=1e-15)
    # forward- and reverse-mode Jacobians agree (input and parameter)
    with _quiet_torch_func():
        jf = jacfwd(lambda x: mlp_forward(spec, theta, x))(X[0])
        jr = jacrev(lambda x: mlp_forward(spec, theta, x))(X[0])
        pf = jacfwd(lambda t: mlp_forward(spec, t, X[0]))(theta)
    torch.testing.assert_close(jf, jr, rtol=1e-12, atol=1e-14)
    pr = jacrev(lambda t: mlp_forward(spec, t, X[0]))(theta)
    torch.testing.assert_close(pf, pr, rtol=1e-12, atol=1e-14)
    g = grad(lambda t: mlp_forward(spec, t, X).sum())(theta)
    assert g.shape == (spec.n_params,)
