"""Noisy arithmetic: every rounding operation's result perturbed by a couple of ulps (Monte Carlo arithmetic).

Running a computation several times with its roundings randomized shows how far its round-off can move
the result (Parker 1997; the idea behind Verificarlo and CADNA): a cancellation such as
``1 - tanh(x)**2`` near saturation spreads by the size of its error, a well-conditioned result barely moves.
What is perturbed:

* torch operations that round (an allowlist, :data:`ROUNDING_OPS`), through a ``TorchFunctionMode``;
  views, indexing, in-place ops, ``max``, ``abs``, comparisons and constructors are exact and left
  alone (perturbing ``torch.func``'s internals would corrupt the computation instead of measuring it);
* the rounding functions of ``math``, ``numpy`` and ``numpy.linalg`` looked up through the module at call
  time (``math.tanh(x)``, ``np.linalg.norm(x)``), patched for the duration of the context only.
  Python's own ``+ - * /`` on floats and numpy's operators cannot be reached: their round-off shows only
  through what they feed into.

A relative perturbation keeps exact zeros, and integer results are not touched.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["NOISE_ULPS", "ROUNDING_OPS", "NoisyArithmetic"]

#: Size of each perturbation, in ulps (machine epsilons) of the result's dtype.
NOISE_ULPS = 2.0

ROUNDING_OPS = frozenset("""
add sub mul div true_divide addcmul addcdiv lerp pow square sqrt rsqrt reciprocal exp exp2 expm1 log log2 log10
log1p sin cos tan tanh sinh cosh asin acos atan atan2 asinh acosh atanh sigmoid logit softplus gelu silu mish elu
selu celu erf erfc erfinv hypot logaddexp logaddexp2 xlogy sinc softmax log_softmax logsumexp sum nansum mean
nanmean prod cumsum cumprod var std var_mean std_mean norm vector_norm matrix_norm dist cdist pdist
cosine_similarity normalize matmul mm bmm mv dot vdot inner outer einsum tensordot kron addmm addmv addbmm baddbmm
linear bilinear conv1d conv2d conv3d layer_norm group_norm batch_norm trace det slogdet logdet inv pinv solve
lstsq cholesky qr eigh eigvalsh eig eigvals svd svdvals matrix_exp matrix_power cross_entropy nll_loss mse_loss
l1_loss smooth_l1_loss huber_loss binary_cross_entropy binary_cross_entropy_with_logits kl_div
""".split())
_DUNDER = {"__add__": "add", "__radd__": "add", "__iadd__": "add", "__sub__": "sub", "__rsub__": "sub",
           "__mul__": "mul", "__rmul__": "mul", "__truediv__": "div", "__rtruediv__": "div", "__pow__": "pow",
           "__rpow__": "pow", "__matmul__": "matmul", "__rmatmul__": "matmul"}
_MATH = ("exp expm1 log log1p log2 log10 sqrt pow sin cos tan sinh cosh tanh asin acos atan atan2 asinh acosh "
         "atanh erf erfc hypot fsum dist lgamma gamma cbrt exp2").split()
_NUMPY = ("exp expm1 exp2 log log1p log2 log10 sqrt cbrt power square reciprocal sin cos tan sinh cosh tanh arcsin "
          "arccos arctan arctan2 arcsinh arccosh arctanh hypot logaddexp logaddexp2 sum mean prod cumsum cumprod var "
          "std dot vdot inner outer matmul einsum tensordot kron trace divide true_divide multiply add "
          "subtract").split()
_NUMPY_LINALG = "norm vector_norm matrix_norm eigvalsh eigh eig eigvals svd svdvals inv pinv solve det slogdet".split()


class NoisyArithmetic:
    """A context in which rounding operations' results are perturbed by up to :data:`NOISE_ULPS` ulps.

    Args:
        seed: seeds the perturbations, so a run is reproducible (Hypothesis replays must agree).
    """

    def __init__(self, seed: int) -> None:
        import numpy as np
        from torch.overrides import TorchFunctionMode

        outer = self

        class _Mode(TorchFunctionMode):
            def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
                out = func(*args, **(kwargs or {}))
                return outer.perturb(out) if _rounds(func) else out

        self._mode = _Mode()
        self._numpy_rng = np.random.default_rng(1_000_003 * (seed + 1))
        self._saved: list[tuple[Any, str, Any]] = []
        #: the largest magnitude among the perturbed results (where it can be read: not inside torch.func)
        self.largest = 0.0

    def __enter__(self) -> NoisyArithmetic:
        self._patch_modules()
        self._mode.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self._mode.__exit__(*exc)
        finally:
            for module, name, original in reversed(self._saved):
                setattr(module, name, original)
            self._saved.clear()

    def _patch_modules(self) -> None:
        import numpy as np

        for module, names in ((math, _MATH), (np, _NUMPY), (np.linalg, _NUMPY_LINALG)):
            for name in names:
                original = getattr(module, name, None)
                if original is not None:
                    self._saved.append((module, name, original))
                    setattr(module, name, self._noisy(original))

    def _noisy(self, fn: Any) -> Any:
        def noisy(*args: Any, **kwargs: Any) -> Any:
            return self.perturb(fn(*args, **kwargs))

        noisy.__name__ = getattr(fn, "__name__", "noisy")
        noisy.__doc__ = getattr(fn, "__doc__", None)
        return noisy

    def perturb(self, out: Any) -> Any:
        """``out`` times ``1 + u`` with ``|u| <= NOISE_ULPS`` ulps, entrywise; exact types pass through."""
        import numpy as np
        import torch

        if isinstance(out, torch.Tensor):
            if not (out.is_floating_point() or out.is_complex()) or out.numel() == 0:
                return out
            real = out.real.dtype if out.is_complex() else out.dtype
            self._note(out)
            # drawn by numpy: inside torch.func.vmap a torch random op is an error (a constant broadcasts)
            u = torch.from_numpy(self._numpy_rng.uniform(-1.0, 1.0, tuple(out.shape)))
            return out * (1 + torch.finfo(real).eps * NOISE_ULPS * u).to(device=out.device, dtype=real)
        if isinstance(out, np.ndarray | np.floating | np.complexfloating) and np.asarray(out).dtype.kind in "fc":
            real = np.finfo(np.asarray(out).dtype)
            self._note(out)
            u = self._numpy_rng.uniform(-1.0, 1.0, np.shape(out))
            return (out * (1 + real.eps * NOISE_ULPS * u)).astype(np.asarray(out).dtype)[()]
        if isinstance(out, float | complex) and not isinstance(out, bool):
            self._note(out)
            return out * (1 + 2.0**-52 * NOISE_ULPS * self._numpy_rng.uniform(-1.0, 1.0))
        if isinstance(out, tuple) and out:  # (values, vectors) of eigh, svd, slogdet ... (structseqs too)
            items = [self.perturb(o) for o in out]
            return type(out)(*items) if hasattr(out, "_fields") else _rebuild(out, items)
        return out


    def _note(self, out: Any) -> None:
        try:
            import numpy as np

            value = float(out.detach().abs().max()) if hasattr(out, "detach") else float(np.max(np.abs(out)))
        except Exception:  # noqa: BLE001 - a functorch wrapper cannot be read: the sides' size stands in
            return
        if math.isfinite(value):
            self.largest = max(self.largest, value)


def _rebuild(out: tuple[Any, ...], items: list[Any]) -> Any:
    try:
        return type(out)(items)
    except TypeError:
        return tuple(items)


def _rounds(func: Any) -> bool:
    name = getattr(func, "__name__", "")
    name = _DUNDER.get(name, name)
    for prefix in ("linalg_", "special_", "_"):
        name = name.removeprefix(prefix)
    return name in ROUNDING_OPS
