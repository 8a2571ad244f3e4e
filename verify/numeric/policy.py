"""Device, dtype and thread policy for the torch oracles.

Every numeric routine in :mod:`verify.numeric` takes its device and dtype by
name and resolves them here, so the rules live in one place:

* ground truth is computed in ``float64``; ``float32`` only where a claim is
  about float32 (see the "Numerics policy" of the architecture notes);
* ``device="auto"`` means CUDA when a device is present, the CPU otherwise;
  asking for CUDA explicitly on a machine without one is an error, never a
  silent fallback (a verdict must say where it was computed);
* torch's intra-op thread count changes the order of reductions, hence the last
  bits of results: it is fixed with :func:`set_torch_threads` and recorded with
  :func:`torch_threads`.

This module also holds the one filter for the ``DeprecationWarning`` that
``torch.func`` emits in torch 2.13 (it breaks ``-W error``).
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from verify.errors import InvalidInputError

__all__ = [
    "as_tensor",
    "blas_threads",
    "dtype_name",
    "resolve_device",
    "resolve_dtype",
    "set_torch_threads",
    "torch_threads",
]

#: dtype names accepted by :func:`resolve_dtype`, in order of preference.
_DTYPES: dict[str, torch.dtype] = {"float64": torch.float64, "float32": torch.float32}

_CUDA_RE = re.compile(r"^cuda(:(\d+))?$")

#: The messages of the warnings torch 2.13 emits from inside ``torch.func``
#: (forward-mode AD loads decompositions through ``torch.jit.script``).
_TORCH_FUNC_WARNINGS = (r"`torch\.jit\.script` is deprecated",)


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """Turn a device name into a :class:`torch.device`.

    Args:
        name: ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"``
            or ``"cuda:N"``; a :class:`torch.device` is accepted as well.

    Returns:
        The device.

    Raises:
        InvalidInputError: for an unknown name, or a CUDA device on a machine
            without CUDA (or with fewer than ``N + 1`` CUDA devices).

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(name, torch.device):
        name = str(name)
    if not isinstance(name, str):
        raise InvalidInputError(
            f"Got device={name!r} of type {type(name).__name__}, but a device is given by name: "
            "valid values are 'auto', 'cpu', 'cuda', 'cuda:N'."
        )
    key = name.strip().lower()
    if key == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if key == "cpu":
        return torch.device("cpu")
    match = _CUDA_RE.match(key)
    if match is None:
        raise InvalidInputError(
            f"Got device={name!r}, but valid values are 'auto', 'cpu', 'cuda', 'cuda:N'."
        )
    if not torch.cuda.is_available():
        raise InvalidInputError(
            f"Got device={name!r}, but CUDA is not available on this machine "
            f"(torch {torch.__version__}, torch.cuda.is_available() is False). "
            "Use device='cpu', or device='auto' to take CUDA only where it exists."
        )
    if match.group(2) is not None:
        index = int(match.group(2))
        count = torch.cuda.device_count()
        if index >= count:
            raise InvalidInputError(
                f"Got device={name!r}, but this machine has {count} CUDA device(s): "
                f"valid indices are 0..{count - 1}."
            )
    return torch.device(key)


def resolve_dtype(name: str | torch.dtype = "float64") -> torch.dtype:
    """Turn a dtype name into a :class:`torch.dtype` (float64 or float32 only).

    Args:
        name: ``"float64"`` or ``"float32"``, or the torch dtype itself.

    Returns:
        The dtype.

    Raises:
        InvalidInputError: for any other dtype (half precisions are not oracles).

    >>> resolve_dtype("float64")
    torch.float64
    """
    if isinstance(name, torch.dtype):
        if name in _DTYPES.values():
            return name
        raise InvalidInputError(
            f"Got dtype={name}, but valid values are {list(_DTYPES)}; "
            "the oracles compute in float64 (or float32 for claims about float32)."
        )
    if isinstance(name, str):
        key = name.strip().lower().removeprefix("torch.")
        if key in _DTYPES:
            return _DTYPES[key]
    raise InvalidInputError(
        f"Got dtype={name!r}, but valid values are {list(_DTYPES)}; "
        "the oracles compute in float64 (or float32 for claims about float32)."
    )


def dtype_name(dtype: str | torch.dtype) -> str:
    """Name of a supported dtype as used in evidence and tolerances.

    Args:
        dtype: a torch dtype or a name accepted by :func:`resolve_dtype`.

    Returns:
        ``"float64"`` or ``"float32"`` (the keys of
        :data:`verify.claims.tolerance.EPS`).

    Raises:
        InvalidInputError: for an unsupported dtype.

    >>> dtype_name(torch.float32)
    'float32'
    """
    resolved = resolve_dtype(dtype)
    return next(key for key, value in _DTYPES.items() if value == resolved)


def set_torch_threads(n: int) -> int:
    """Fix torch's intra-op thread count.

    Reductions are split across threads, so the thread count changes the last
    bits of a result; a reproducible run fixes it and records it.

    Args:
        n: the number of threads, ``>= 1``.

    Returns:
        The previous thread count, so a caller can restore it.

    Raises:
        InvalidInputError: if ``n`` is not a positive integer.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidInputError(
            f"Got n={n!r}, but the thread count must be an integer >= 1 "
            f"(this machine reports {torch.get_num_threads()} torch threads now)."
        )
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    return previous


def torch_threads() -> int:
    """Torch's current intra-op thread count (recorded in every verdict)."""
    return torch.get_num_threads()


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[int | None]:
    """Limit the BLAS libraries numpy and scipy load (OpenBLAS, MKL) to ``n`` threads inside the block.

    ``torch.set_num_threads`` does not reach them: scipy's ``eigsh`` and numpy's matmul ran on every core and
    made Lanczos 2.3–3.2× slower on a busy machine. Yields ``n`` when a BLAS library was limited (the value a
    verdict records), None where threadpoolctl found none.
    """
    import warnings

    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n, user_api="blas") as limiter:
        with warnings.catch_warnings():  # two BLAS libraries that started with different counts: both limited now
            warnings.filterwarnings("ignore", "Multiple values possible", UserWarning)
            found = limiter.get_original_num_threads().get("blas") is not None
        yield n if found else None


def as_tensor(array_like: Any, dtype: str | torch.dtype = "float64",
              device: str | torch.device = "cpu") -> torch.Tensor:
    """Convert numbers, lists, numpy arrays or tensors to a tensor of the policy dtype.

    A tensor already of the right dtype and device is returned as is (it keeps
    its autograd graph).

    Args:
        array_like: anything :func:`torch.as_tensor` accepts.
        dtype: ``"float64"`` (default) or ``"float32"``.
        device: a device name for :func:`resolve_device`; default ``"cpu"``.

    Returns:
        The tensor, same shape as ``array_like``.

    Raises:
        InvalidInputError: for a bad dtype or device, or data that is not numeric.

    >>> as_tensor([1, 2]).dtype
    torch.float64
    """
    resolved_dtype = resolve_dtype(dtype)
    resolved_device = resolve_device(device)
    if isinstance(array_like, np.ndarray) and not array_like.flags.writeable:
        array_like = array_like.copy()  # torch warns on read-only arrays (frozen cases are read-only)
    try:
        return torch.as_tensor(array_like, dtype=resolved_dtype, device=resolved_device)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InvalidInputError(
            f"Got array_like of type {type(array_like).__name__} that cannot become a "
            f"{dtype_name(resolved_dtype)} tensor ({exc}); pass numbers, nested lists, "
            "a numpy array or a tensor."
        ) from exc


@contextlib.contextmanager
def _quiet_torch_func() -> Iterator[None]:
    """Silence the known torch 2.13 ``DeprecationWarning`` s raised inside ``torch.func``.

    Filtered by message, so any other warning still surfaces.
    """
    with warnings.catch_warnings():
        for message in _TORCH_FUNC_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=DeprecationWarning)
        yield
