"""FunctionalModel: any nn.Module + batch + loss as functions of θ, checked against independent routes,
and every bad-module case named by its layer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from verify.errors import InvalidInputError, UserCodeError
from verify.numeric import DENSE_LIMIT, FunctionalModel, per_example_chunk

torch.manual_seed(0)
X_IMG = torch.randn(12, 3, 8, 8)
Y_IMG = torch.randint(0, 4, (12,))
X_VEC = torch.randn(10, 5)
Y_VEC = torch.randint(0, 4, (10,))


def cnn(batchnorm: bool = False, dropout: float = 0.0) -> nn.Module:
    layers: list[nn.Module] = [nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.GELU()]
    if batchnorm:
        layers.append(nn.BatchNorm2d(4))
    layers += [nn.Flatten(), nn.Dropout(dropout), nn.Linear(64, 4)]
    return nn.Sequential(*layers)


def test_loss_gradient_and_hvp_agree_with_independent_routes():
    fm = FunctionalModel(cnn, (X_IMG, Y_IMG))
    theta = fm.theta0
    # the loss against a plain forward of a module holding θ
    plain = cnn().double()
    torch.nn.utils.vector_to_parameters(theta.clone(), plain.parameters())
    plain.eval()
    assert torch.allclose(fm.loss(theta), nn.functional.cross_entropy(plain(X_IMG.double()), Y_IMG), atol=1e-14)
    # the gradient against central differences, the Hessian against differences of gradients
    v = torch.randn(fm.n, dtype=torch.float64)
    r = 1e-6
    fd = (fm.loss(theta + r * v) - fm.loss(theta - r * v)) / (2 * r)
    assert abs(float(fm.grad(theta) @ v - fd)) < 1e-7 * (1 + abs(float(fd)))
    hv = fm.hvp_operator(theta)(v)
    fd_h = (fm.grad(theta + r * v) - fm.grad(theta - r * v)) / (2 * r)
    assert torch.linalg.vector_norm(hv - fd_h) < 1e-6 * torch.linalg.vector_norm(fd_h)
    # Lanczos against the dense Hessian
    dense = torch.linalg.eigvalsh(fm.dense_hessian(theta))
    hi, lo = fm.extreme_eigenvalues(theta, tol=1e-10)
    assert hi.value == pytest.approx(float(dense[-1]), rel=1e-7)
    assert lo.value == pytest.approx(float(dense[0]), rel=1e-6, abs=1e-9)


def test_a_wrong_gradient_route_would_be_caught_by_the_same_comparison():
    """The comparison above can fail: a gradient off by 1% in one coordinate is seen."""
    fm = FunctionalModel(cnn, (X_IMG, Y_IMG))
    theta, v = fm.theta0, torch.zeros(fm.n, dtype=torch.float64)
    g = fm.grad(theta)
    i = int(g.abs().argmax())
    v[i] = 1.0
    wrong = g.clone()
    wrong[i] *= 1.01
    r = 1e-6
    fd = (fm.loss(theta + r * v) - fm.loss(theta - r * v)) / (2 * r)
    assert abs(float(wrong @ v - fd)) > 1e-7 * (1 + abs(float(fd)))


def test_per_example_gradients_match_a_loop_in_every_chunking():
    fm = FunctionalModel(cnn, (X_IMG, Y_IMG))
    theta = fm.theta0
    loop = []
    for i in range(fm.m):
        leaf = theta.clone().requires_grad_(True)
        out = fm.output(leaf, fm.X[i:i + 1])
        (g,) = torch.autograd.grad(nn.functional.cross_entropy(out, fm.y[i:i + 1]), leaf)
        loop.append(g)
    loop_t = torch.stack(loop)
    assert torch.allclose(fm.per_example_grads(theta), loop_t, atol=1e-13)
    budget = 4 * fm.n * 8 * 5  # 5 examples per chunk
    assert per_example_chunk(fm.n, fm.m, 8, budget) == 5
    chunks = list(fm.per_example_grad_chunks(theta, budget=budget))
    assert [c.shape[0] for c in chunks] == [5, 5, 2]
    assert torch.allclose(fm.per_example_grad_sq_norms(theta), (loop_t ** 2).sum(1), rtol=1e-12)
    # the mean of the per-example gradients is the gradient
    assert torch.allclose(loop_t.mean(0), fm.grad(theta), atol=1e-14)
    # input gradients: example i's own
    gx = fm.input_grads(theta)
    x0 = fm.X[:1].clone().requires_grad_(True)
    (g0,) = torch.autograd.grad(nn.functional.cross_entropy(fm.output(theta, x0), fm.y[:1]), x0)
    assert torch.allclose(gx[:1], g0, atol=1e-14)


def test_the_users_module_is_never_changed():
    model = cnn(batchnorm=True, dropout=0.3).float()
    model.train()
    model[0].weight.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [p.requires_grad for p in model.parameters()]
    fm = FunctionalModel(model, (X_IMG, Y_IMG), train_mode=True)
    fm.grad(fm.theta0 + 0.1)
    fm.extreme_eigenvalues(fm.theta0)
    assert model.training and [p.requires_grad for p in model.parameters()] == flags
    assert next(model.parameters()).dtype == torch.float32
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_frozen_parameters_are_excluded_from_theta():
    model = cnn()
    model[0].weight.requires_grad_(False)
    fm = FunctionalModel(model, (X_IMG, Y_IMG))
    assert fm.frozen == ["0.weight"]
    assert "0.weight" not in fm.names and fm.n == sum(p.numel() for p in model.parameters()) - 3 * 4 * 9
    assert "frozen" in fm.describe() and "0.weight" in fm.describe()


def test_batchnorm_runs_in_eval_mode_unless_train_mode_and_then_per_example_is_not_defined():
    fm = FunctionalModel(lambda: cnn(batchnorm=True), (X_IMG, Y_IMG))
    assert not fm.module.training and fm.per_example_why == ""
    fm.per_example_grads(fm.theta0)
    train = FunctionalModel(lambda: cnn(batchnorm=True), (X_IMG, Y_IMG), train_mode=True)
    assert "BatchNorm" in train.per_example_why
    with pytest.raises(InvalidInputError, match="not defined.*BatchNorm"):
        train.per_example_grads(train.theta0)
    # batch statistics: the loss differs from eval mode's
    assert abs(float(train.loss(train.theta0) - fm.loss(fm.theta0))) > 1e-6


def test_dropout_is_off_in_eval_mode_and_a_fixed_function_in_train_mode():
    fm = FunctionalModel(lambda: cnn(dropout=0.5), (X_IMG, Y_IMG))
    assert not fm.stochastic
    train = FunctionalModel(lambda: cnn(dropout=0.5), (X_IMG, Y_IMG), train_mode=True)
    assert train.stochastic
    a, b = train.loss(train.theta0), train.loss(train.theta0)
    assert torch.equal(a, b)  # one fixed seed per call
    assert abs(float(a - fm.loss(fm.theta0))) > 1e-6  # and the masks are really drawn
    state = torch.get_rng_state()
    train.loss(train.theta0)
    assert torch.equal(state, torch.get_rng_state())  # the caller's RNG is untouched
    assert "depends" in train.per_example_why or "changes" in train.per_example_why


def test_a_factory_is_called_under_the_seed():
    a = FunctionalModel(cnn, (X_IMG, Y_IMG), seed=3)
    b = FunctionalModel(cnn, (X_IMG, Y_IMG), seed=3)
    c = FunctionalModel(cnn, (X_IMG, Y_IMG), seed=4)
    assert torch.equal(a.theta0, b.theta0) and not torch.equal(a.theta0, c.theta0)


def test_default_loss_is_cross_entropy_for_labels_and_mse_for_targets():
    assert FunctionalModel(nn.Linear(5, 4), (X_VEC, Y_VEC)).loss_name == "cross-entropy"
    fm = FunctionalModel(nn.Linear(5, 2), (X_VEC, torch.randn(10, 2)))
    assert fm.loss_name == "mse"
    out = fm.output(fm.theta0)
    assert torch.allclose(fm.loss(fm.theta0), ((out - fm.y) ** 2).mean())
    custom = FunctionalModel(nn.Linear(5, 2), (X_VEC, torch.randn(10, 2)),
                             loss=lambda o, y: (o - y).abs().mean())
    assert custom.loss_name.endswith("<lambda>")


def test_dense_hessians_stop_at_the_size_limit():
    fm = FunctionalModel(nn.Linear(DENSE_LIMIT, 2), (torch.randn(3, DENSE_LIMIT), torch.randint(0, 2, (3,))))
    with pytest.raises(InvalidInputError, match="dense Hessian"):
        fm.dense_hessian(fm.theta0)


# --- bad modules: each named, with the fix -------------------------------------------------------------

class Argmax(nn.Module):
    def forward(self, x):
        return nn.functional.one_hot(x.argmax(-1), 4).double()


class Round(nn.Module):
    def forward(self, x):
        return torch.round(x)


class InplaceSigmoid(nn.Module):
    def forward(self, x):
        y = torch.sigmoid(x)
        y.mul_(2)
        return y


class _Cube(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x ** 2 * g


class OnceDifferentiable(nn.Module):
    def forward(self, x):
        return _Cube.apply(x)


class TupleOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(5, 4)

    def forward(self, x):
        return self.head(x), x


class InlineRound(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(5, 4), nn.Linear(4, 4)

    def forward(self, x):
        return self.b(torch.round(self.a(x)))


def _raising_factory():
    raise RuntimeError("no weights file")


@pytest.mark.parametrize(("model", "batch", "loss", "words"), [
    (nn.Sequential(nn.Linear(5, 4), Argmax(), nn.Linear(4, 4)), None, None,
     ["layer 1 (Argmax)", "no gradient", "Fix:"]),
    (nn.Sequential(nn.Linear(5, 4), Round(), nn.Linear(4, 4)), None, None,
     ["layer 1 (Round)", "zero gradient", "Fix:"]),
    (nn.Sequential(nn.Linear(5, 4), InplaceSigmoid(), nn.Linear(4, 4)), None, None,
     ["layer 1 (InplaceSigmoid)", "inplace", "Fix:"]),
    (nn.Sequential(nn.Linear(5, 4), OnceDifferentiable(), nn.Linear(4, 4)), None, None,
     ["second derivatives", "once_differentiable", "Fix:"]),
    (TupleOut(), None, None, ["returned tuple", "Fix:"]),
    (nn.Sequential(nn.Linear(6, 4)), None, None, ["rejected the batch", "layer 0 (Linear)", "(10, 5)", "Fix:"]),
    (nn.Linear(5, 4), None, lambda o, y: (o ** 2).sum(1), ["not a scalar", "Fix:"]),
    (nn.Linear(5, 1), (X_VEC, torch.randn(10)), None, ["one shape", "(10, 1)", "Fix:"]),
    (_raising_factory, None, None, ["building", "RuntimeError", "no weights file"]),
    (nn.Linear(5, 4), lambda: X_VEC, None, ["pair (X, y)", "Fix:"]),
    (nn.Linear(5, 4).requires_grad_(False), None, None, ["no trainable parameters", "Fix:"]),
    ("not a model", None, None, ["nn.Module"]),
])
def test_bad_modules_get_an_error_naming_the_layer_and_the_fix(model, batch, loss, words):
    with pytest.raises((UserCodeError, InvalidInputError)) as info:
        FunctionalModel(model, (X_VEC, Y_VEC) if batch is None else batch, loss)
    text = str(info.value)
    for word in words:
        assert word in text, text
    assert "Traceback" not in text


def test_an_unused_branch_is_not_a_blocked_gradient():
    class Aux(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.aux = nn.Linear(5, 4), nn.Linear(4, 4), nn.Linear(4, 2)

        def forward(self, x):
            h = self.a(x)
            self.aux(h)  # an auxiliary head the loss does not use
            return self.b(torch.tanh(h))

    fm = FunctionalModel(Aux(), (X_VEC, Y_VEC))
    assert fm.unreached == ["aux.weight", "aux.bias"]
    assert "no gradient reaches aux.weight" in fm.describe()


def test_attention_has_second_derivatives_through_the_math_backend():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
            self.head = nn.Linear(8, 3)

        def forward(self, x):
            return self.head(self.attn(x, x, x, need_weights=False)[0].mean(1))

    X = torch.randn(6, 5, 8)
    fm = FunctionalModel(Block(), (X, torch.randint(0, 3, (6,))))
    v = torch.randn(fm.n, dtype=torch.float64)
    r = 1e-6
    fd = (fm.grad(fm.theta0 + r * v) - fm.grad(fm.theta0 - r * v)) / (2 * r)
    assert torch.linalg.vector_norm(fm.hvp_operator(fm.theta0)(v) - fd) < 1e-6 * torch.linalg.vector_norm(fd)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_a_relu_maxpool_net_is_not_mistaken_for_wrong_second_derivatives(dtype):
    """Differences of gradients of a piecewise-linear net cross kinks at coarse steps: with the first step
    (u^(1/3) of the scale along an unnormalized direction) they were 93–98 % off autograd in float64 and 57 %
    in float32, a false error on the commonest architecture. Float64 steps of 1e-7 along a unit direction, judged
    only where two steps agree, make no such error."""
    def relu_cnn():
        return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(32 * 16, 64), nn.ReLU(), nn.Linear(64, 10))

    gen = torch.Generator().manual_seed(0)
    batch = (torch.randn(32, 3, 16, 16, generator=gen), torch.randint(0, 10, (32,), generator=gen))
    for seed in range(2):
        FunctionalModel(relu_cnn, batch, dtype=dtype, seed=seed)


def test_once_differentiable_is_caught_in_a_float32_run_too():
    model = nn.Sequential(nn.Linear(5, 4), OnceDifferentiable(), nn.Linear(4, 4))
    with pytest.raises(UserCodeError, match="second derivatives"):
        FunctionalModel(model, (X_VEC, Y_VEC), dtype=torch.float32)


def test_zero_initialized_scales_are_not_mistaken_for_a_blocked_gradient():
    """BatchNorm γ = 0 (torchvision's zero_init_residual) and a ReZero gate stop the gradient only at θ0."""
    class ReZero(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner, self.alpha, self.head = nn.Linear(5, 5), nn.Parameter(torch.zeros(())), nn.Linear(5, 4)

        def forward(self, x):
            return self.head(x + self.alpha * torch.tanh(self.inner(x)))

    def zero_gamma():
        net = nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 4))
        nn.init.zeros_(net[1].weight)
        return net

    for model in (ReZero(), zero_gamma()):
        fm = FunctionalModel(model, (X_VEC, Y_VEC))
        assert fm.unreached  # said on the card, not refused


def test_a_gradient_stopped_between_layers_is_reported_not_refused():
    """round() in a parent's forward, or an expert behind an exactly-zero gate: the parameters before it get no
    gradient, which the card lists; it is not an error (a top-k mixture of experts is a valid model)."""
    fm = FunctionalModel(InlineRound(), (X_VEC, Y_VEC))
    assert fm.unreached == ["a.weight", "a.bias"]


def test_embedding_padding_rows_half_outputs_and_int32_labels_are_accepted():
    class Tokens(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.head = nn.Embedding(7, 4, padding_idx=0), nn.Linear(12, 3)

        def forward(self, x):
            return self.head(self.emb(x).flatten(1))

    gen = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 7, (10, 3), generator=gen)
    tokens[:, 0] = 0  # padding in every sequence: autograd gives the padding row no gradient, by design
    FunctionalModel(Tokens(), (tokens, torch.randint(0, 3, (10,), generator=gen).int()))

    class Half(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(5, 4)

        def forward(self, x):
            return self.lin(x).half().float()

    FunctionalModel(Half(), (X_VEC, Y_VEC), dtype=torch.float32)


def test_an_output_squeezed_by_the_batch_size_makes_per_example_quantities_undefined():
    class Squeezed(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(5, 1)

        def forward(self, x):
            return self.lin(x).squeeze()

    fm = FunctionalModel(Squeezed(), (X_VEC, torch.randn(10)))
    assert "one example alone" in fm.per_example_why


def test_a_factory_returning_a_module_the_caller_holds_does_not_change_it():
    held = nn.Linear(5, 4)
    fm = FunctionalModel(lambda: held, (X_VEC, Y_VEC))
    assert held.weight.dtype == torch.float32 and held.training and held.weight.requires_grad
    assert fm.module is not held


def test_transformer_padding_masks_give_one_loss_with_and_without_grad():
    """nn.MultiheadAttention's inference fast path (eval mode, no grad) zeroes padded positions; the
    functional view turns it off, so F(θ) and F(θ) inside a gradient computation are the same number."""
    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(6, 4)
            layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=8, dropout=0.0, batch_first=True)
            self.enc, self.head = nn.TransformerEncoder(layer, 1, enable_nested_tensor=True), nn.Linear(4, 3)

        def forward(self, x):
            return self.head(self.enc(self.emb(x), src_key_padding_mask=(x == 0)).mean(1))

    gen = torch.Generator().manual_seed(0)
    tokens = torch.randint(1, 6, (8, 5), generator=gen)
    tokens[:4, 3:] = 0
    fm = FunctionalModel(Encoder(), (tokens, torch.randint(0, 3, (8,), generator=gen)))
    with torch.no_grad():
        plain = fm.loss(fm.theta0)
    leaf = fm.theta0.clone().requires_grad_(True)
    assert torch.equal(plain, fm.loss(leaf).detach())
