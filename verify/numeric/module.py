r"""A functional view of any ``torch.nn.Module`` + batch + loss: :class:`FunctionalModel`.

:math:`\theta \in \mathbb{R}^n` is the concatenation of the module's *trainable* parameters
(``requires_grad=True``; frozen ones stay constants of the module and are listed in
:attr:`FunctionalModel.frozen`). Every quantity is a function of :math:`\theta` through
:func:`torch.func.functional_call`, so autograd, Hessian-vector products (both routes, with the
double-backward fallback of :func:`verify.numeric.hvp_operator`), per-example gradients and
Lanczos apply to any module.

What is promised:

* the user's module is never changed: an instance is deep-copied, a factory is called under the
  run's seed, and the copy is cast to the run's dtype and device;
* BatchNorm and other buffers are used in eval mode (running statistics fixed) unless
  ``train_mode=True``; then an example's output may depend on the rest of the batch, and the
  per-example quantities say they are not defined (:attr:`per_example_why`) instead of computing
  something else;
* every forward pass runs under one fixed RNG state (forked: the caller's state is untouched), so a
  model with train-mode randomness (dropout) is one fixed function of :math:`\theta`;
  :attr:`stochastic` says whether two seeds give two values;
* memory is :math:`O(n)` except per-example gradients, computed in chunks of
  :func:`per_example_chunk` examples so that a chunk stays under ``MEMORY_BUDGET`` bytes; dense
  Hessians only for :math:`n \le` ``DENSE_LIMIT``.

A module that cannot be used (the batch rejected, a non-tensor output, a loss that is not a scalar,
a gradient stopped by a non-differentiable op, a backward broken by an in-place op) raises
:class:`~verify.errors.UserCodeError` naming the layer and the fix (:mod:`verify.numeric._module_checks`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from verify.errors import InvalidInputError
from verify.numeric._module_checks import check_module, coupled_examples
from verify.numeric._module_runtime import differentiable_attention, loss_of, seeded, seeded_state, user_call
from verify.numeric.autodiff import hvp_operator
from verify.numeric.spectrum import EigenEstimate, extreme_eigenvalue, extreme_eigenvalues

__all__ = ["DENSE_LIMIT", "EXACT_EIGEN_LIMIT", "LOSSES", "MEMORY_BUDGET", "FunctionalModel", "differentiable_attention",
           "per_example_chunk"]

LOSSES = ("cross-entropy", "mse")
#: largest n for which a dense Hessian is built (n² float64 entries: 128 MiB at 4096)
DENSE_LIMIT = 4096
#: largest n for which :meth:`FunctionalModel.lambda_max` builds the dense Hessian
EXACT_EIGEN_LIMIT = 512
#: bytes one chunk of per-example gradients may use (the gradients and vmap's copies of them)
MEMORY_BUDGET = 256 * 2 ** 20
#: vmap's working copies per gradient entry (the gradient, its cotangents, the parameters it broadcasts)
_VMAP_COPIES = 4


def _has_tied_tensors(module: nn.Module) -> bool:
    """Whether a parameter or buffer is reachable under two names (``remove_duplicate=False`` lists both)."""
    tensors = [*module.named_parameters(remove_duplicate=False), *module.named_buffers(remove_duplicate=False)]
    return len({id(t) for _, t in tensors}) < len(tensors)


def per_example_chunk(n: int, m: int, itemsize: int, budget: int = MEMORY_BUDGET) -> int:
    """Examples per chunk so that ``chunk × n`` gradients and vmap's copies fit in ``budget`` bytes."""
    return max(1, min(m, budget // max(1, _VMAP_COPIES * n * itemsize)))


class FunctionalModel:
    r"""``model`` + ``batch`` + ``loss`` as functions of a flat parameter vector :math:`\theta`.

    Args:
        model: an ``nn.Module`` (deep-copied) or a function returning one (called under ``seed``).
        batch: ``(X, y)`` tensors with the examples along dimension 0, or a function returning them.
        loss: ``"cross-entropy"`` (integer labels), ``"mse"`` (mean over all entries), a function
            ``fn(output, y) -> 0-dim tensor`` with mean reduction, or ``None``: cross-entropy for integer
            ``y``, MSE for floating ``y``.
        seed: the seed of the factories and of every forward pass's RNG.
        dtype, device: where the copy and the batch live (integer tensors keep their dtype).
        train_mode: keep train-mode behaviour (batch statistics, dropout); default eval mode.
        name: how messages name the model.
        _diagnose: internal, for the networks verify builds itself (:func:`verify.functional` of a case): the
            module is checked once for what would make the numbers wrong (:mod:`verify.numeric._module_checks`)
            unless this is False; on a generated boundary case (a saturated sigmoid, a ReLU at a kink) the
            diagnosis would reject a network whose numbers are right. A user's module is always diagnosed.
        _fresh: internal, for the same networks: the module was built for this model alone, so it is used as is
            rather than deep-copied (a user's module is always copied: verify never changes it).

    Raises:
        InvalidInputError: a bad batch, loss name, or a model without trainable parameters.
        UserCodeError: the model, the batch or the loss fails (the message names the layer and the fix).
    """

    def __init__(self, model: Any, batch: Any, loss: Any = None, *, seed: int = 0,
                 dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu",
                 train_mode: bool = False, name: str = "the model", _diagnose: bool = True,
                 _fresh: bool = False) -> None:
        self.seed, self.dtype, self.device = int(seed), dtype, torch.device(device)
        self.train_mode, self.name = bool(train_mode), name
        #: verify's own networks draw no random numbers and compute attention by its formula: no RNG state or
        #: attention backend to fix around each forward pass (a third of a small network's forward time)
        self._fixed_run = _diagnose or self.train_mode
        self._rng = seeded_state(self.seed, self.device)
        self.module = (model if _fresh else self._instantiate(model)).to(dtype=dtype, device=self.device)
        self.module.train(self.train_mode)
        self.X, self.y = self._batch(batch)
        trainable = [(k, p) for k, p in self.module.named_parameters() if p.requires_grad]
        self.frozen = [k for k, p in self.module.named_parameters() if not p.requires_grad]
        if not trainable:
            raise InvalidInputError(f"{self.name} has no trainable parameters (all {len(self.frozen)} have "
                                    "requires_grad=False); there is nothing to differentiate. Fix: leave at "
                                    "least one parameter trainable.")
        self.names = [k for k, _ in trainable]
        self.shapes = [p.shape for _, p in trainable]
        self.theta0 = torch.cat([p.detach().reshape(-1) for _, p in trainable]).clone()
        #: whether a tensor sits under two names (tied weights): only then must functional_call tie them (its
        #: untying pass is a quarter of a small network's forward overhead)
        self._tied = _has_tied_tensors(self.module)
        self.loss_name, self._loss = _resolve_loss(loss, self.y)
        if _diagnose:
            self.unreached = check_module(self)
            self.per_example_why = coupled_examples(self)
            self.stochastic = self._differs_by_seed()
        else:  # a network verify built itself (verify.functional of a case): nothing of the user's to diagnose
            self.unreached, self.per_example_why, self.stochastic = [], "", False

    # --- construction -------------------------------------------------------------------------
    def _instantiate(self, model: Any) -> nn.Module:
        if isinstance(model, nn.Module):
            try:
                return copy.deepcopy(model)
            except Exception as exc:
                raise InvalidInputError(f"{self.name} cannot be deep-copied ({type(exc).__name__}: {exc}); verify "
                                        "never changes your module, so it works on a copy. Fix: pass a function "
                                        "that builds the model instead of the instance.") from None
        if not callable(model):
            raise InvalidInputError(f"Got {type(model).__name__} as the model; give an nn.Module or a function "
                                    "returning one.")
        built = user_call(model, (), self._rng, f"building {self.name}")
        if not isinstance(built, nn.Module):
            raise InvalidInputError(f"The model function returned a {type(built).__name__}, not a torch.nn.Module. "
                                    "Fix: return the network (an nn.Module instance).")
        return self._instantiate(built)  # it may return a module the caller holds: work on a copy of it too

    def _batch(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if callable(batch) and not isinstance(batch, torch.Tensor):
            batch = user_call(batch, (), self._rng, "loading the batch")
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2
                and all(isinstance(t, torch.Tensor) for t in batch)):
            got = (f"a {type(batch).__name__} of {len(batch)}" if isinstance(batch, (tuple, list))
                   else f"a {type(batch).__name__}")
            raise InvalidInputError(f"The batch must be a pair (X, y) of tensors with the examples along dimension "
                                    f"0; got {got}. Fix: return `X, y` from the data function.")
        X, y = batch
        if X.dim() == 0 or y.dim() == 0 or X.shape[0] != y.shape[0] or X.shape[0] == 0:
            raise InvalidInputError(f"The batch's X {tuple(X.shape)} and y {tuple(y.shape)} must have the same "
                                    "number of examples (dimension 0), at least one.")
        def cast(t: torch.Tensor) -> torch.Tensor:
            t = t.detach().to(self.device)
            return t.to(self.dtype) if t.dtype.is_floating_point else t.clone()
        return cast(X), cast(y)

    def _differs_by_seed(self) -> bool:
        """Whether the loss at θ0 changes with the RNG state (train-mode dropout, random augmentation)."""
        if not self.train_mode:
            return False
        other = seeded_state(self.seed + 1, self.device)
        with torch.no_grad():
            a = self.loss(self.theta0)
            saved, self._rng = self._rng, other
            try:
                b = self.loss(self.theta0)
            finally:
                self._rng = saved
        return not bool(torch.equal(a, b))

    # --- θ ↔ named tensors --------------------------------------------------------------------
    @property
    def n(self) -> int:
        return int(self.theta0.numel())

    @property
    def m(self) -> int:
        return int(self.X.shape[0])

    @property
    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        return (self.X, self.y)

    def params(self, theta: torch.Tensor, prefix: str = "") -> dict[str, torch.Tensor]:
        """Views of ``theta`` shaped like the trainable parameters, keyed by name."""
        out, i = {}, 0
        for name, shape in zip(self.names, self.shapes):
            size = math.prod(shape)
            out[prefix + name] = theta[i:i + size].view(shape)
            i += size
        return out

    def flat(self, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
        """Concatenate a name -> tensor dict in parameter order (the inverse of :meth:`params`)."""
        return torch.cat([tensors[k].reshape(-1) for k in self.names])

    def coordinate(self, index: int) -> str:
        """``"0.weight[2, 1]"`` for a flat index."""
        i = 0
        for name, shape in zip(self.names, self.shapes):
            size = math.prod(shape)
            if index < i + size:
                local, idx = index - i, []
                for s in reversed(shape):
                    idx.append(local % s)
                    local //= s
                return f"{name}[{', '.join(str(j) for j in reversed(idx))}]"
            i += size
        return f"theta[{index}]"

    # --- functions of θ -------------------------------------------------------------------------
    def output(self, theta: torch.Tensor, X: torch.Tensor | None = None) -> torch.Tensor:
        """The module's output at ``theta`` on ``X`` (default the batch), under the fixed RNG state."""
        X = self.X if X is None else X
        if not self._fixed_run:
            return functional_call(self.module, self.params(theta), (X,), tie_weights=self._tied)
        with seeded(self._rng, self.device):
            return functional_call(self.module, self.params(theta), (X,), tie_weights=self._tied)

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        """The mean loss over the batch, a 0-dim tensor."""
        return self._loss(self.output(theta), self.y)

    def output_loss(self, out: torch.Tensor) -> torch.Tensor:
        """The loss as a function of the outputs on the batch (the Gauss-Newton split: verify.numeric.ggn)."""
        return self._loss(out, self.y)

    def example_losses(self, theta: torch.Tensor) -> torch.Tensor:
        """``(m,)`` the loss of each example alone (mean reduction within an example)."""
        out = self.output(theta)
        return torch.stack([self._loss(out[i:i + 1], self.y[i:i + 1]) for i in range(self.m)])

    def grad(self, theta: torch.Tensor) -> torch.Tensor:
        """:math:`\\nabla L(\\theta)` by reverse mode."""
        leaf = theta.detach().requires_grad_(True)
        with torch.enable_grad():
            (g,) = torch.autograd.grad(self.loss(leaf), leaf)
        return g

    def hvp_operator(self, theta: torch.Tensor, route: str = "double_backward") -> Callable[[torch.Tensor],
                                                                                              torch.Tensor]:
        """``v -> ∇²L(θ) v`` (see :func:`verify.numeric.hvp_operator`)."""
        return hvp_operator(self.loss, theta.detach(), route=route)  # type: ignore[arg-type]

    def hvp(self, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """:math:`\\nabla^2 L(\\theta)\\, v` (one product; use :meth:`hvp_operator` for many at one θ)."""
        return self.hvp_operator(theta)(v)

    def lambda_max(self, theta: torch.Tensor) -> float:
        """λ_max(∇²L(θ)): from the dense Hessian up to ``EXACT_EIGEN_LIMIT`` parameters (exact to round-off),
        by Lanczos beyond (ARPACK's relative tolerance 1e-10 on the Ritz value; an estimate, not a bound)."""
        if self.n <= EXACT_EIGEN_LIMIT:
            return float(torch.linalg.eigvalsh(self.dense_hessian(theta))[-1])
        return float(self.extreme_eigenvalue(theta, tol=1e-10).value)

    def extreme_eigenvalues(self, theta: torch.Tensor, *, tol: float = 1e-8) -> tuple[EigenEstimate,
                                                                                        EigenEstimate]:
        """(λ_max, λ_min) of ∇²L(θ) by Lanczos on Hessian-vector products."""
        return extreme_eigenvalues(self.hvp_operator(theta), self.n, dtype=self.dtype, device=self.device,
                                   tol=tol, seed=self.seed)

    def extreme_eigenvalue(self, theta: torch.Tensor, which: str = "LA", *, tol: float = 1e-8,
                           start: Any = None) -> EigenEstimate:
        """λ_max (``"LA"``) or λ_min (``"SA"``) of ∇²L(θ), one Lanczos run (``start``: a warm-start vector)."""
        return extreme_eigenvalue(self.hvp_operator(theta), self.n, which, dtype=self.dtype,  # type: ignore[arg-type]
                                  device=self.device, tol=tol, seed=self.seed, start=start)

    def dense_hessian(self, theta: torch.Tensor) -> torch.Tensor:
        """``(n, n)`` from n products; only for n ≤ ``DENSE_LIMIT``."""
        if self.n > DENSE_LIMIT:
            raise InvalidInputError(f"A dense Hessian of n = {self.n} parameters is not built (limit {DENSE_LIMIT}); "
                                    "use hvp_operator or extreme_eigenvalues, which never store it.")
        op = self.hvp_operator(theta)
        eye = torch.eye(self.n, dtype=self.dtype, device=self.device)
        H = torch.stack([op(eye[i]) for i in range(self.n)])
        return 0.5 * (H + H.T)

    # --- per-example quantities ---------------------------------------------------------------
    def _require_per_example(self) -> None:
        if self.per_example_why:
            raise InvalidInputError(f"Per-example quantities are not defined for {self.name}: "
                                    f"{self.per_example_why}")

    def input_grads(self, theta: torch.Tensor) -> torch.Tensor:
        r"""``(m, ...)`` :math:`\nabla_{x_i}\ell_i`: one backward of :math:`\sum_i \ell_i = mL` (examples
        are independent, so the gradient of the sum in :math:`x_i` is example i's own)."""
        self._require_per_example()
        if not self.X.dtype.is_floating_point:
            raise InvalidInputError(f"The inputs X are {self.X.dtype} (e.g. token ids): input gradients are not "
                                    "defined.")
        X = self.X.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            total = self._loss(self.output(theta.detach(), X), self.y) * self.m
            (gx,) = torch.autograd.grad(total, X)
        return gx

    def _example_loss(self, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with seeded(self._rng, self.device):
            out = functional_call(self.module, self.params(theta), (x[None],), tie_weights=self._tied)
        return self._loss(out, y[None])

    def per_example_grad_chunks(self, theta: torch.Tensor, budget: int = MEMORY_BUDGET):
        """Yield ``(chunk, n)`` per-example gradients, chunk by chunk (vmap; a loop where vmap cannot run)."""
        self._require_per_example()
        theta = theta.detach()
        size = per_example_chunk(self.n, self.m, theta.element_size(), budget)
        batched = vmap(grad(self._example_loss), in_dims=(None, 0, 0))
        for start in range(0, self.m, size):
            xs, ys = self.X[start:start + size], self.y[start:start + size]
            try:
                yield batched(theta, xs, ys)
            except (RuntimeError, NotImplementedError, ValueError):  # an op vmap does not batch: one at a time
                yield torch.stack([self._loop_grad(theta, x, y) for x, y in zip(xs, ys)])

    def _loop_grad(self, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        leaf = theta.detach().requires_grad_(True)
        with torch.enable_grad():
            (g,) = torch.autograd.grad(self._example_loss(leaf, x, y), leaf)
        return g

    def per_example_grads(self, theta: torch.Tensor) -> torch.Tensor:
        """``(m, n)`` (O(m·n) memory: prefer :meth:`per_example_grad_sq_norms` for large models)."""
        return torch.cat(list(self.per_example_grad_chunks(theta)))

    def per_example_grad_sq_norms(self, theta: torch.Tensor) -> torch.Tensor:
        r"""``(m,)`` :math:`\|\nabla_\theta \ell_i\|^2`, never holding more than one chunk."""
        return torch.cat([(g ** 2).sum(dim=1) for g in self.per_example_grad_chunks(theta)])

    def describe(self) -> str:
        frozen = f", {len(self.frozen)} frozen parameter tensors excluded ({', '.join(self.frozen[:4])}" + (
            " …)" if len(self.frozen) > 4 else ")") if self.frozen else ""
        if self.unreached:
            frozen += f"; no gradient reaches {', '.join(self.unreached[:4])} at θ0"
        mode = "train mode" if self.train_mode else "eval mode"
        return (f"{type(self.module).__name__}, n = {self.n} trainable parameters{frozen}, m = {self.m} examples "
                f"(X {tuple(self.X.shape)}), {self.loss_name} loss, {mode}")


def _resolve_loss(loss: Any, y: torch.Tensor) -> tuple[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]:
    if loss is None:
        loss = "mse" if y.dtype.is_floating_point else "cross-entropy"
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise InvalidInputError(f"Got loss={loss!r}; valid names are {list(LOSSES)}, or give a function "
                                    "fn(output, y) -> 0-dim tensor.")
        return loss, loss_of(loss)
    if not callable(loss):
        raise InvalidInputError(f"Got loss of type {type(loss).__name__}; give {list(LOSSES)} or a function "
                                "fn(output, y) -> 0-dim tensor.")
    return getattr(loss, "__qualname__", "custom"), loss
