r"""Check a new regularizer before training with it: :func:`check_regularizer`.

Signature of a regularizer (detected from its signature with :mod:`inspect`), either

* ``fn(model: torch.nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor``: ``model`` is the task's
  network (``nn.Sequential`` of ``nn.Linear``/``nn.Tanh`` by default, or the user's own ``model=``)
  whose trainable parameters the checker replaces
  by the point being examined, ``batch = (X, y)`` with ``X`` of shape ``(m, d)`` and integer labels
  ``y`` of shape ``(m,)``; use ``model(X)``, ``model.parameters()``, ``model.named_parameters()``,
  and :func:`torch.autograd.grad` with ``create_graph=True`` freely; or
* ``fn(params: dict[str, Tensor]) -> Tensor``: the parameters alone, keyed like
  ``model.named_parameters()`` (``"0.weight"``, ``"0.bias"``, …).

It returns a 0-dim real floating-point tensor :math:`R(\theta)`, built from the tensors it receives
with differentiable torch operations. A stochastic regularizer (dropout, random projections) is
allowed: every call runs with the same fixed seed (in a forked RNG), so the checks see one fixed
realization of its noise. Optional user derivatives: ``grad`` takes the same arguments and returns
:math:`\nabla R` as a dict name → Tensor or a flat vector; ``hvp`` takes the same arguments plus ``v``
(a dict name → Tensor shaped like the parameters) and returns :math:`\nabla^2 R\,v` the same way.
Both are checked against autograd.

The task (``task="mlp"``, default): 64 seeded Gaussian examples in :math:`\mathbb{R}^5`, 3 classes
from a noisy linear teacher, a tanh MLP 5 → 8 → 3 (75 parameters), loss :math:`L` the mean softmax
cross-entropy. ``task="softmax"``: softmax regression 5 → 3 (18 parameters, convex); ``cnn``,
``resnet``, ``attention``: see :mod:`verify.regularizers.tasks`; or the user's own ``model=``, ``batch=``,
``loss=`` (any ``nn.Module``: :class:`verify.numeric.FunctionalModel`). The checks
(one :class:`verify.Verdict` each, ``verdict.claim`` the id, expected ``holds``):

1. ``well-formed`` — a finite real scalar, not dominated by round-off, a gradient reaching the
   parameters, double backward; otherwise ``error`` with cause and fix (later checks report
   themselves blocked);
2. ``gradient`` — autograd vs central finite differences (error-model tolerance), user grad/hvp;
3. ``smoothness`` — Lanczos curvature of R and L + λR, kinks from one-sided differences, M and 2/M;
4. ``descent`` — gradient descent with α = 1/M obeys the descent lemma (C2); α = 2.5/M reported;
5. ``constraint`` — C4 on the convex task: KKT residual (sampled subgradient when kinked), an
   SLSQP oracle, k(λ) monotone; ``not-applicable`` when R is not convex or stochastic (or, on the
   user's model, J is not convex);
6. ``curvature-effect`` — training with and without R: sharpness, input/parameter gradients, C3 ratio;
   ``numeric["sharpness_effect"]`` is ``"raises"``, ``"lowers"`` or ``"mixed"`` (R's local effect on the
   sharpness and the comparison at equal training loss disagree; the message and summary say so).

λ (``lam``) of checks 3, 4 and 6 defaults to 1e-2, or, when only the grid ``lams`` of check 5 is
given, to the grid's middle value (the card's settings and summary say which). A regularizer that
modifies its inputs in place (``p.data.mul_(…)``, ``X.clamp_(…)``) is a well-formed ``error``.

>>> from verify.regularizers import check_regularizer, examples
>>> card = check_regularizer(examples.l2, device="cpu", checks=["well-formed", "gradient"])
>>> [(v.claim, v.verdict.value) for v in card.checks]
[('well-formed', 'verified'), ('gradient', 'verified')]
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from verify.errors import InvalidInputError, UnknownClaimError
from verify.regularizers.checker import CHECKS, check_regularizer
from verify.regularizers.examples import BUILTIN_EXAMPLES

__all__ = ["BUILTIN_EXAMPLES", "CHECKS", "check_regularizer", "load_object", "load_regularizer"]


def load_regularizer(name: str) -> Callable[..., Any]:
    """Resolve ``path/to/file.py::fn``, ``package.module:fn`` or a built-in example's name.

    Raises:
        InvalidInputError: the file is missing or does not import (a syntax error names the file and
            line), the module is not importable, the name is missing (the message lists the callables
            the module defines) or not callable.
    """
    if isinstance(name, str) and "::" not in name and ":" not in name and name in BUILTIN_EXAMPLES:
        return BUILTIN_EXAMPLES[name]
    if isinstance(name, str) and name and "::" not in name and ":" not in name:
        raise InvalidInputError(f"Got {name!r}; name a regularizer as FILE.py::FN or package.module:FN, or one of "
                                f"the built-in examples {sorted(BUILTIN_EXAMPLES)}.")
    return load_object(name, "the regularizer")


def load_object(name: str, what: str, callable_only: bool = True) -> Any:
    """Resolve ``path/to/file.py::NAME`` or ``package.module:NAME`` (``what`` names the option in messages).

    ``callable_only``: a function is required (a model or a batch may also be an object).

    Raises:
        InvalidInputError: as :func:`load_regularizer`.
    """
    from verify.claims.registry import _import_path

    if not isinstance(name, str) or not name or (":" not in name):
        raise InvalidInputError(f"Got {name!r} for {what}; name it as FILE.py::NAME or package.module:NAME.")
    if "::" in name:
        path_text, _, attr = name.partition("::")
        try:
            module = _import_path(Path(path_text))
        except UnknownClaimError as exc:
            cause = exc.__cause__
            if isinstance(cause, SyntaxError):
                raise InvalidInputError(
                    f"Syntax error in {cause.filename or path_text}, line {cause.lineno}: {cause.msg}. "
                    "Fix the file and run again.") from None
            raise InvalidInputError(str(exc)) from None
    else:
        module_name, _, attr = name.partition(":")
        try:
            module = importlib.import_module(module_name)
        except SyntaxError as exc:
            raise InvalidInputError(f"Syntax error in {exc.filename}, line {exc.lineno}: {exc.msg}.") from None
        except ImportError as exc:
            raise InvalidInputError(f"Cannot import module {module_name!r} for {name!r}: {exc}. Check the module "
                                    "name and that its package is on sys.path.") from None
        except Exception as exc:
            raise InvalidInputError(f"Importing {module_name!r} raised {type(exc).__name__}: {exc}") from None
    if not attr:
        raise InvalidInputError(f"Got {name!r} with no function name after the separator.")
    obj = getattr(module, attr, None)
    if obj is None:
        found = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_")
                       and getattr(v, "__module__", None) == module.__name__)
        raise InvalidInputError(f"{name!r}: the module has no attribute {attr!r}. Functions it defines: "
                                f"{found or 'none'}.")
    if callable_only and not callable(obj):
        raise InvalidInputError(f"{name!r} ({what}) is a {type(obj).__name__}, not a function.")
    return obj
