r"""Extreme eigenvalues of a symmetric operator given only by its matrix-vector product.

The oracle for :math:`\lambda_{\max}` and :math:`\lambda_{\min}` of a Hessian is
the Lanczos method (ARPACK through :func:`scipy.sparse.linalg.eigsh` on a
:class:`~scipy.sparse.linalg.LinearOperator` wrapping a torch HVP), with
``which="LA"`` (largest algebraic) and ``which="SA"`` (smallest algebraic).

Three deliberate choices, all from the numerics policy:

* Not power iteration. :func:`power_iteration` (kept as the baseline, the way
  PyHessian computes "the top eigenvalue") converges to the eigenvalue of largest
  *magnitude*; on an indefinite Hessian with :math:`|\lambda_{\min}| >
  \lambda_{\max}` that is the negative :math:`\lambda_{\min}`, and a smoothness
  claim checked with it would be checked against the wrong number. It is also
  slow when :math:`|\lambda_2| / |\lambda_1|` is close to one.
* The wanted end is shifted away from zero before ARPACK sees it (see
  :func:`extreme_eigenvalue`): unshifted, ``eigsh`` fails on singular Hessians.
* Small sizes go dense. ``eigsh`` needs :math:`k < n` and raises for
  :math:`n = 1` (the width-1 networks that make claim C3 tight), and for tiny
  :math:`n` the dense route is cheaper anyway: below ``dense_below`` the matrix is
  built column by column (:math:`H e_i`, :math:`n` products) and
  :func:`torch.linalg.eigvalsh` gives every eigenvalue to round-off.

Every estimate says how many products it used, so benchmarks and evidence can
report the cost.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse.linalg as spla
import torch

from verify.errors import InvalidInputError, NumericError, UserCodeError
from verify.numeric.policy import resolve_device, resolve_dtype

__all__ = [
    "EigenEstimate",
    "extreme_eigenvalue",
    "extreme_eigenvalues",
    "power_iteration",
]

Matvec = Callable[[torch.Tensor], torch.Tensor]
Which = Literal["LA", "SA"]
_WHICH = ("LA", "SA")

#: Largest size for which a Lanczos run that did not converge falls back to the
#: dense route (n products and an O(n^3) eigvalsh).
_DENSE_FALLBACK_LIMIT = 2000


@dataclass(frozen=True)
class EigenEstimate:
    """One eigenvalue estimate and what it cost.

    Attributes:
        value: the eigenvalue.
        matvecs: number of operator products used (the dense build's ``n``
            products are reported on both estimates of :func:`extreme_eigenvalues`
            when they share it).
        method: ``"lanczos"``, ``"dense"``, ``"lanczos->dense"`` (Lanczos did not
            converge and the dense route answered) or ``"power"``.
        converged: whether the method met its stopping criterion.
        vector: the Ritz vector (numpy, unit norm) when Lanczos found it: a warm start for a nearby operator.
    """

    value: float
    matvecs: int
    method: str
    converged: bool
    vector: np.ndarray | None = field(default=None, repr=False, compare=False)


class _Counted:
    """A torch matvec with argument/result checks and a product counter."""

    def __init__(self, matvec: Matvec, n: int, dtype: torch.dtype, device: torch.device) -> None:
        self.matvec, self.n, self.dtype, self.device = matvec, n, dtype, device
        self.count = 0

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        self.count += 1
        out = self.matvec(v)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (self.n,):
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise UserCodeError(
                f"matvec returned {got}, but for n={self.n} it must return a tensor of shape ({self.n},)."
            )
        if not bool(torch.isfinite(out).all()):
            bad = int((~torch.isfinite(out)).sum())
            raise UserCodeError(
                f"matvec returned {bad} non-finite entries out of {self.n} (product #{self.count}); "
                "the operator (e.g. the loss at theta) is not finite there."
            )
        return out.detach()

    def numpy(self, x: np.ndarray) -> np.ndarray:
        v = torch.as_tensor(np.asarray(x, dtype=np.float64).reshape(-1), dtype=self.dtype, device=self.device)
        return self(v).to(device="cpu", dtype=torch.float64).numpy()

    def dense(self) -> torch.Tensor:
        """The symmetrized dense matrix ``(n, n)`` from ``n`` products ``H e_i``: one vmap call where the matvec
        allows it (an HVP does; one call instead of n costs a fraction of the time on small operators), else one
        product at a time. Either way n products are counted and checked."""
        eye = torch.eye(self.n, dtype=self.dtype, device=self.device)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rows = torch.func.vmap(self.matvec)(eye)
        except Exception:  # noqa: BLE001 - any matvec vmap cannot batch (data-dependent code, .item(), a user's)
            rows = None
        if isinstance(rows, torch.Tensor) and tuple(rows.shape) == (self.n, self.n) and bool(
                torch.isfinite(rows).all()):
            self.count += self.n
            columns = rows.detach().T
        else:  # the checks and messages of one product at a time
            columns = torch.stack([self(eye[i]) for i in range(self.n)], dim=1)
        return 0.5 * (columns + columns.T)


def _check_common(n: int, dtype: str | torch.dtype, device: str | torch.device) -> tuple[torch.dtype, torch.device]:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidInputError(f"Got n={n!r}, but the operator size n must be an integer >= 1.")
    return resolve_dtype(dtype), resolve_device(device)


def _default_maxiter(n: int) -> int:
    """ARPACK restarts allowed before giving up: about ``2n`` products when the dense fallback exists."""
    if n > _DENSE_FALLBACK_LIMIT:
        return 10 * n  # scipy's own default; there is no cheaper way out
    return max(10, -(-2 * n // 19))  # a restart costs about ncv - 1 = 19 products


def _lanczos(op: _Counted, which: str, tol: float, maxiter: int | None, seed: int,
             start: np.ndarray | None = None) -> tuple[float | None, str, np.ndarray | None]:
    """Lanczos extreme eigenvalue of the shifted operator, or ``(None, why)`` if ARPACK failed.

    ARPACK's stopping test is relative, ``||r|| <= tol * max(eps^(2/3), |theta|)``, so a
    wanted eigenvalue at (or near) zero, the normal case for the singular Hessians of
    claims C1 and C7, can never be accepted: measured here, ``eigsh(which="SA")`` on
    singular PSD matrices did not converge in a quarter of the cases and returned the
    *second* smallest eigenvalue, flagged as converged, in several others. The wanted
    end is therefore shifted at least ``s = ||H v0||`` away from zero (``v0`` the unit
    start vector, ``rho = v0^T H v0``): ``H - c I`` with ``c = rho + s`` for ``"SA"``
    (then ``lambda_min - c <= rho - c = -s``) and ``c = rho - s`` for ``"LA"``. Krylov
    spaces are shift invariant, so this costs one product and changes only the
    stopping test, which becomes relative to the spectrum's size instead of to the
    eigenvalue.
    """
    v0 = np.random.default_rng(seed).standard_normal(op.n) if start is None else np.array(start, dtype=np.float64)
    v0 /= np.linalg.norm(v0)
    hv0 = op.numpy(v0)
    rho, size = float(v0 @ hv0), float(np.linalg.norm(hv0))
    if size == 0.0:  # a random vector in the null space: H = 0 with probability one
        return None, "H v0 = 0 for the random start vector v0 (is the operator zero?)", None
    c = rho + size if which == "SA" else rho - size
    linop = spla.LinearOperator((op.n, op.n), matvec=lambda x: op.numpy(x) - c * np.ravel(x), dtype=np.float64)
    try:
        values, vectors = spla.eigsh(linop, k=1, which=which, tol=tol, v0=v0,
                                     maxiter=_default_maxiter(op.n) if maxiter is None else maxiter)
    except spla.ArpackError as exc:  # includes ArpackNoConvergence
        return None, f"ARPACK: {exc}", None
    return float(values[0]) + c, "", vectors[:, 0]


def extreme_eigenvalue(matvec: Matvec, n: int, which: Which = "LA", *,
                       dtype: str | torch.dtype = "float64", device: str | torch.device = "cpu",
                       tol: float = 1e-10, dense_below: int = 16, maxiter: int | None = None,
                       seed: int = 0, start: np.ndarray | None = None) -> EigenEstimate:
    r"""Largest (``"LA"``) or smallest (``"SA"``) algebraic eigenvalue of a symmetric operator.

    Lanczos (:func:`scipy.sparse.linalg.eigsh`, ``k=1``) on the operator
    :math:`v \mapsto Hv`; for :math:`n <` ``dense_below`` (always for
    :math:`n \le 2`) the dense route :math:`\operatorname{eigvalsh}(\tfrac12(H + H^\top))`
    with :math:`H` built from :math:`n` products. If ARPACK does not converge,
    the dense route answers when :math:`n \le 2000`.

    ARPACK's stopping test is relative to the Ritz value, so it can never accept
    an eigenvalue at zero (the singular Hessians of C1 and C7): Lanczos runs on
    :math:`H - cI`, with :math:`c` chosen from one product so that the wanted end
    is at least :math:`\|Hv_0\|` away from zero; the accuracy is then
    ``tol`` relative to the size of the spectrum, not to the eigenvalue (the
    Ritz value is within :math:`\|r\| \le 3\,\mathrm{tol}\,\rho(H)` of an eigenvalue).

    Args:
        matvec: ``(n,) -> (n,)`` tensor function, symmetric (e.g. :func:`hvp_operator`).
        n: operator size.
        which: ``"LA"`` (:math:`\lambda_{\max}`) or ``"SA"`` (:math:`\lambda_{\min}`).
        dtype: dtype of the vectors passed to ``matvec`` (``"float64"`` default).
        device: device of the vectors passed to ``matvec`` (``"cpu"`` default).
        tol: ARPACK's relative accuracy (``0`` = machine precision), relative to
            the size of the spectrum (see above).
        dense_below: sizes below this use the dense route.
        maxiter: ARPACK's maximum number of restarts (each about 19 products).
            Default: about ``2n`` products' worth when ``n <= 2000`` (past that the
            dense fallback is cheaper), scipy's ``10 n`` restarts otherwise.
        seed: seed of the Lanczos start vector (ARPACK's default is not reproducible).
        start: a start vector instead (e.g. the ``vector`` of an estimate at a nearby point: Lanczos then
            converges in a fraction of the products).

    Returns:
        The :class:`EigenEstimate`.

    Raises:
        InvalidInputError: for a bad ``n``, ``which``, ``dtype``, ``device`` or ``tol``.
        UserCodeError: if ``matvec`` returns a wrong shape or non-finite entries.
        NumericError: if Lanczos did not converge and ``n > 2000``.

    >>> A = torch.tensor([[2.0, 1.0], [1.0, -3.0]], dtype=torch.float64)
    >>> round(extreme_eigenvalue(lambda v: A @ v, 2, "SA").value, 6)   # (-1 - sqrt(29)) / 2
    -3.192582
    """
    if which not in _WHICH:
        raise InvalidInputError(
            f"Got which={which!r}, but valid values are {list(_WHICH)} (largest / smallest algebraic)."
        )
    if not (tol >= 0.0):
        raise InvalidInputError(f"Got tol={tol!r}, but tol must be >= 0 (0 means machine precision).")
    resolved_dtype, resolved_device = _check_common(n, dtype, device)
    op = _Counted(matvec, n, resolved_dtype, resolved_device)
    if n <= 2 or n < dense_below:
        values = torch.linalg.eigvalsh(op.dense())
        value = values[-1] if which == "LA" else values[0]
        return EigenEstimate(float(value), op.count, "dense", True)
    result, why, vector = _lanczos(op, which, tol, maxiter, seed, start)
    if result is not None:
        return EigenEstimate(result, op.count, "lanczos", True, vector)
    if n > _DENSE_FALLBACK_LIMIT:
        raise NumericError(
            f"Lanczos (eigsh, which={which!r}, tol={tol:g}, maxiter={maxiter}) failed after {op.count} "
            f"products for n={n} ({why}), and n > {_DENSE_FALLBACK_LIMIT} is too large for the dense "
            "fallback; raise maxiter, loosen tol, or check that the operator is symmetric."
        )
    values = torch.linalg.eigvalsh(op.dense())
    value = values[-1] if which == "LA" else values[0]
    return EigenEstimate(float(value), op.count, "lanczos->dense", True)


def extreme_eigenvalues(matvec: Matvec, n: int, *, dtype: str | torch.dtype = "float64",
                        device: str | torch.device = "cpu", tol: float = 1e-10, dense_below: int = 16,
                        maxiter: int | None = None, seed: int = 0) -> tuple[EigenEstimate, EigenEstimate]:
    r"""Both ends of the spectrum, :math:`(\lambda_{\max}, \lambda_{\min})`.

    Two Lanczos runs (``"LA"`` and ``"SA"``), or one shared dense build below
    ``dense_below`` (its ``n`` products are reported on both estimates).

    Args:
        matvec: ``(n,) -> (n,)`` symmetric operator.
        n: operator size.
        dtype: dtype of the vectors passed to ``matvec``.
        device: device of the vectors passed to ``matvec``.
        tol: ARPACK's relative accuracy.
        dense_below: sizes below this use the dense route.
        maxiter: ARPACK's iteration limit.
        seed: seed of the Lanczos start vectors.

    Returns:
        ``(largest, smallest)`` as :class:`EigenEstimate`.

    Raises:
        InvalidInputError: for bad arguments.
        UserCodeError: if ``matvec`` returns a wrong shape or non-finite entries.
        NumericError: if Lanczos did not converge and ``n > 2000``.

    >>> hi, lo = extreme_eigenvalues(lambda v: torch.tensor([3.0, -5.0], dtype=torch.float64) * v, 2)
    >>> hi.value, lo.value
    (3.0, -5.0)
    """
    resolved_dtype, resolved_device = _check_common(n, dtype, device)
    if n <= 2 or n < dense_below:
        op = _Counted(matvec, n, resolved_dtype, resolved_device)
        values = torch.linalg.eigvalsh(op.dense())
        return (EigenEstimate(float(values[-1]), op.count, "dense", True),
                EigenEstimate(float(values[0]), op.count, "dense", True))
    kwargs = dict(dtype=resolved_dtype, device=resolved_device, tol=tol, dense_below=dense_below,
                  maxiter=maxiter, seed=seed)
    return (extreme_eigenvalue(matvec, n, "LA", **kwargs),  # type: ignore[arg-type]
            extreme_eigenvalue(matvec, n, "SA", **kwargs))  # type: ignore[arg-type]


def power_iteration(matvec: Matvec, n: int, *, tol: float = 1e-6, max_iter: int = 10000, seed: int = 0,
                    dtype: str | torch.dtype = "float64", device: str | torch.device = "cpu") -> EigenEstimate:
    r"""Power iteration as PyHessian runs it: the BASELINE, not an oracle.

    Start from a random unit vector, iterate :math:`v \leftarrow Hv / \|Hv\|` with
    the Rayleigh quotient :math:`\lambda = v^\top H v` as the estimate, and stop when
    :math:`|\lambda_{k} - \lambda_{k-1}| / (|\lambda_{k-1}| + 10^{-12}) <` ``tol``.

    It converges to the eigenvalue of largest MAGNITUDE, at rate
    :math:`|\lambda_2/\lambda_1|` per product. On an indefinite matrix with
    :math:`|\lambda_{\min}| > \lambda_{\max}` it returns the negative
    :math:`\lambda_{\min}`, not :math:`\lambda_{\max}`; that is why the oracles use
    :func:`extreme_eigenvalue` instead.

    Args:
        matvec: ``(n,) -> (n,)`` symmetric operator.
        n: operator size.
        tol: relative change of the estimate at which to stop.
        max_iter: maximum number of products.
        seed: seed of the start vector (drawn on the CPU in float64, then cast).
        dtype: dtype of the vectors passed to ``matvec``.
        device: device of the vectors passed to ``matvec``.

    Returns:
        The :class:`EigenEstimate` (``method="power"``; ``converged=False`` when
        ``max_iter`` products did not meet ``tol``).

    Raises:
        InvalidInputError: for bad arguments.
        UserCodeError: if ``matvec`` returns a wrong shape or non-finite entries.

    >>> A = torch.diag(torch.tensor([1.0, -4.0], dtype=torch.float64))
    >>> round(power_iteration(lambda v: A @ v, 2).value, 6)   # largest magnitude, not largest
    -4.0
    """
    resolved_dtype, resolved_device = _check_common(n, dtype, device)
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise InvalidInputError(f"Got max_iter={max_iter!r}, but max_iter must be an integer >= 1.")
    if not (tol > 0.0):
        raise InvalidInputError(f"Got tol={tol!r}, but tol must be > 0.")
    op = _Counted(matvec, n, resolved_dtype, resolved_device)
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    v = torch.randn(n, generator=generator, dtype=torch.float64).to(resolved_dtype).to(resolved_device)
    v = v / torch.linalg.vector_norm(v)
    estimate: float | None = None
    for _ in range(max_iter):
        hv = op(v)
        current = float(torch.dot(v, hv))
        norm = float(torch.linalg.vector_norm(hv))
        if norm == 0.0:  # v is in the null space: H v = 0 exactly
            return EigenEstimate(0.0, op.count, "power", True)
        v = hv / norm
        if estimate is not None and abs(current - estimate) / (abs(estimate) + 1e-12) < tol:
            return EigenEstimate(current, op.count, "power", True)
        estimate = current
    assert estimate is not None
    return EigenEstimate(estimate, op.count, "power", False)
