r"""Matrix-free curvature measures beyond :math:`\lambda_{\max}`: top-k eigenpairs, trace, spectral density.

Every function takes a symmetric operator by its product (a Hessian or GGN product of
:mod:`verify.numeric.ggn` / :meth:`FunctionalModel.hvp_operator`), says how many products it used, and
reports its own error:

* :func:`top_eigenpairs` — the k largest eigenpairs by Lanczos (ARPACK, the wanted end shifted away from 0 as
  in :func:`~verify.numeric.extreme_eigenvalue`), each with its residual :math:`\|Hv - \lambda v\|` (one more
  product per pair): by Weyl/Bauer–Fike an eigenvalue of H lies within the residual of :math:`\lambda`;
* :func:`hutchinson` — :math:`\frac1m\sum_i z_i^\top H z_i` with Rademacher or Gaussian probes (unbiased;
  variance :math:`2(\|H\|_F^2 - \sum_i H_{ii}^2)` per Rademacher probe, :math:`2\|H\|_F^2` per Gaussian one);
* :func:`hutch_plus_plus` — Hutch++ (Meyer, Musco, Musco, Woodruff 2021): the trace of a rank-m/3 sketch
  exactly plus Hutchinson on the rest;
* :func:`xtrace` — XTrace (Epperly, Tropp, Webber 2024): the exchangeable average over the m/2 probes of
  "the trace on the span of the others' sketch plus Hutchinson with this probe on the rest", from one QR and
  the leave-one-out downdating of the projector (each term is unbiased);
* :func:`spectral_density` — stochastic Lanczos quadrature: the Ritz values and squared first components of
  Lanczos runs from random unit probes, a quadrature for the spectral density (``Density.on_grid``).

The trace estimators' ``error`` is one standard error estimated from their own samples (0 where the sketch
provably spans the operator's range); it is an estimate, not a bound.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse.linalg as spla
import torch

from verify.errors import InvalidInputError, NumericError, UserCodeError
from verify.numeric.spectrum import _DENSE_FALLBACK_LIMIT, _check_common, _Counted, extreme_eigenvalue

__all__ = ["Density", "Eigenpairs", "TraceEstimate", "hutch_plus_plus", "hutchinson", "spectral_density",
           "top_eigenpairs", "xtrace"]

Matvec = Callable[[torch.Tensor], torch.Tensor]
Distribution = Literal["rademacher", "gaussian"]


@dataclass(frozen=True)
class TraceEstimate:
    """A trace estimate: ``value`` ± ``error`` (one estimated standard error), its cost and method."""

    value: float
    error: float
    matvecs: int
    method: str
    samples: tuple[float, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class Eigenpairs:
    """The k largest eigenpairs, largest first: ``values`` (k,), ``vectors`` (n, k), ``residuals`` (k,); ``rest``:
    the largest eigenvalue Lanczos found outside their span (−∞ for the dense route, NaN where not checked)."""

    values: np.ndarray
    vectors: np.ndarray = field(repr=False)
    residuals: np.ndarray
    matvecs: int
    method: str
    rest: float = -math.inf


@dataclass(frozen=True)
class Density:
    """Stochastic Lanczos quadrature: per probe, Ritz values ``nodes`` and weights (summing to 1)."""

    nodes: np.ndarray
    weights: np.ndarray
    matvecs: int

    def on_grid(self, grid: np.ndarray, sigma: float) -> np.ndarray:
        """The density smoothed by a Gaussian of width ``sigma``, averaged over the probes (integrates to 1)."""
        grid = np.asarray(grid, dtype=np.float64)[:, None]
        kernel = np.exp(-0.5 * ((grid - self.nodes.reshape(1, -1)) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
        return (kernel * self.weights.reshape(1, -1)).sum(axis=1) / self.nodes.shape[0]


def _budget(value: int, name: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise InvalidInputError(f"Got {name}={value!r}, but {name} must be an integer >= {least}.")
    return value


def _probes(n: int, count: int, distribution: str, generator: torch.Generator) -> torch.Tensor:
    """``(n, count)`` float64 probes on the CPU (drawn there so that every device sees the same ones)."""
    if distribution == "rademacher":
        return torch.randint(0, 2, (n, count), generator=generator, dtype=torch.int64).to(torch.float64) * 2 - 1
    if distribution == "gaussian":
        return torch.randn(n, count, generator=generator, dtype=torch.float64)
    raise InvalidInputError(f"Got distribution={distribution!r}, but valid ones are ['gaussian', 'rademacher'].")


def _apply(op: _Counted, block: torch.Tensor) -> torch.Tensor:
    """The operator on each column of a float64 CPU block, returned the same way."""
    cols = [op(c.to(op.dtype).to(op.device)).to(device="cpu", dtype=torch.float64) for c in block.T]
    return torch.stack(cols, dim=1) if cols else block.new_zeros(block.shape)


def _mean_and_error(samples: list[float]) -> tuple[float, float]:
    m = len(samples)
    mean = math.fsum(samples) / m
    if m < 2:
        return mean, math.inf
    var = math.fsum((s - mean) ** 2 for s in samples) / (m - 1)
    return mean, math.sqrt(var / m)


def hutchinson(matvec: Matvec, n: int, probes: int, *, distribution: Distribution = "rademacher", seed: int = 0,
               dtype: str | torch.dtype = "float64", device: str | torch.device = "cpu") -> TraceEstimate:
    r"""Hutchinson's :math:`\frac1m\sum_i z_i^\top H z_i` with ``probes`` = m probes (m products).

    >>> A = torch.diag(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    >>> hutchinson(lambda v: A @ v, 3, 4).value   # diagonal: every Rademacher sample is the trace
    6.0
    """
    dt, dev = _check_common(n, dtype, device)
    op = _Counted(matvec, n, dt, dev)
    Z = _probes(n, _budget(probes, "probes", 1), distribution, torch.Generator().manual_seed(int(seed)))
    samples = [float(z @ az) for z, az in zip(Z.T, _apply(op, Z).T)]
    value, error = _mean_and_error(samples)
    return TraceEstimate(value, error, op.count, f"hutchinson-{distribution}", tuple(samples))


def hutch_plus_plus(matvec: Matvec, n: int, matvecs: int, *, seed: int = 0, dtype: str | torch.dtype = "float64",
                    device: str | torch.device = "cpu") -> TraceEstimate:
    r"""Hutch++ with ``matvecs`` products (≥ 3): a third sketch the range (:math:`Q = \mathrm{orth}(HS)`), a
    third give :math:`\mathrm{tr}(Q^\top H Q)`, the rest Hutchinson on :math:`(I-QQ^\top)H(I-QQ^\top)`."""
    dt, dev = _check_common(n, dtype, device)
    op = _Counted(matvec, n, dt, dev)
    k = _budget(matvecs, "matvecs", 3) // 3
    gen = torch.Generator().manual_seed(int(seed))
    Q, _ = torch.linalg.qr(_apply(op, _probes(n, k, "rademacher", gen)))
    sketched = float(torch.trace(Q.T @ _apply(op, Q)))
    G = _probes(n, matvecs - 2 * k, "rademacher", gen)
    G = G - Q @ (Q.T @ G)
    samples = [float(g @ ag) for g, ag in zip(G.T, _apply(op, G).T)]
    rest, error = _mean_and_error(samples)
    return TraceEstimate(sketched + rest, error, op.count, "hutch++", tuple(sketched + s for s in samples))


def xtrace(matvec: Matvec, n: int, matvecs: int, *, seed: int = 0, dtype: str | torch.dtype = "float64",
           device: str | torch.device = "cpu") -> TraceEstimate:
    r"""XTrace with ``matvecs`` products (≥ 4): m = matvecs/2 Gaussian probes Ω, :math:`Y = H\Omega = QR`,
    :math:`Z = HQ`. Term i: :math:`\mathrm{tr}(P_iH) + u_i^\top H u_i`, :math:`P_i` the projector on the span of
    the other columns of Y (:math:`QQ^\top - Qs_is_i^\top Q^\top`, :math:`s_i` the normalized i-th column of
    :math:`R^{-\top}`) and :math:`u_i = (I - P_i)\omega_i`; the value is their mean. Where Y has rank < m the
    sketch spans H's range and the value :math:`\mathrm{tr}(Q^\top HQ)` is exact (``error`` 0)."""
    dt, dev = _check_common(n, dtype, device)
    op = _Counted(matvec, n, dt, dev)
    m = _budget(matvecs, "matvecs", 4) // 2
    omega = _probes(n, m, "gaussian", torch.Generator().manual_seed(int(seed)))
    Y = _apply(op, omega)
    U, sv, _ = torch.linalg.svd(Y, full_matrices=False)
    rank = int((sv > sv[0] * max(n, m) * torch.finfo(torch.float64).eps).sum()) if float(sv[0]) > 0 else 0
    if rank < m:  # H has rank < m: the sketch spans its range, tr H = tr(QᵀHQ) up to the rank cutoff
        Q = U[:, :rank]
        cutoff = float(sv[0]) * max(n, m) * float(torch.finfo(torch.float64).eps)
        # an eigenvalue λ left out moved Y by about |λ|·‖Ωᵀu‖ ≈ |λ|·√m < cutoff: at most n − rank of them
        return TraceEstimate(float(torch.trace(Q.T @ _apply(op, Q))) if rank else 0.0,
                             (n - rank) * cutoff / math.sqrt(m), op.count, "xtrace (exact up to its rank cutoff)")
    Q, R = torch.linalg.qr(Y)
    Z = _apply(op, Q)
    H = Q.T @ Z
    S = torch.linalg.inv(R).T
    S = S / torch.linalg.vector_norm(S, dim=0, keepdim=True)
    W = Q.T @ omega
    samples = []
    for i in range(m):
        s, w = S[:, i], W[:, i]
        c = float(s @ w)
        u = omega[:, i] - Q @ w + (Q @ s) * c
        hu = Y[:, i] - Z @ w + (Z @ s) * c
        samples.append(float(torch.trace(H) - s @ H @ s) + float(u @ hu))
    value, error = _mean_and_error(samples)
    return TraceEstimate(value, error, op.count, "xtrace", tuple(samples))


def top_eigenpairs(matvec: Matvec, n: int, k: int = 1, *, tol: float = 1e-10, seed: int = 0,
                   dtype: str | torch.dtype = "float64", device: str | torch.device = "cpu",
                   dense_below: int = 16) -> Eigenpairs:
    r"""The ``k`` largest eigenvalues and unit eigenvectors, largest first, each with its residual
    :math:`\|Hv - \lambda v\|_2` (one more product per pair). Dense (n products, eigh) below ``dense_below``,
    where ``k`` ≥ n − 1, or where ARPACK fails and n ≤ 2000; Lanczos otherwise.

    A single Krylov run can miss copies of a repeated eigenvalue (its residuals stay small). So the Lanczos
    result is checked by deflation: Lanczos on :math:`PHP - \sigma VV^\top` (P projecting out the pairs found,
    σ pushing their span below the spectrum) must find nothing above the k-th value; whatever it finds joins a
    Rayleigh–Ritz step and the check repeats. ``rest`` is that last run's largest eigenvalue (−∞ for dense).

    >>> A = torch.diag(torch.tensor([1.0, 5.0, 3.0], dtype=torch.float64))
    >>> top_eigenpairs(lambda v: A @ v, 3, 2).values.tolist()
    [5.0, 3.0]
    """
    dt, dev = _check_common(n, dtype, device)
    k = _budget(k, "k", 1)
    if k > n:
        raise InvalidInputError(f"Got k={k}, but an operator of size n={n} has only {n} eigenvalues.")
    op = _Counted(matvec, n, dt, dev)
    found = None if n < dense_below or k >= n - 1 else _lanczos_top(op, k, tol, seed)
    if found is None:
        if n > _DENSE_FALLBACK_LIMIT:
            raise NumericError(f"Lanczos (eigsh, k={k}) failed for n={n}, too large for the dense fallback; "
                               "loosen tol or check that the operator is symmetric.")
        values, vectors = torch.linalg.eigh(op.dense().to(device="cpu", dtype=torch.float64))
        vals, vecs = values.numpy()[::-1][:k].copy(), vectors.numpy()[:, ::-1][:, :k].copy()
        method, rest = "dense", -math.inf
    else:
        vals, vecs, rest = _deflate_until_complete(op, found, tol, seed)
        method = "lanczos (deflation-checked)"
    residuals = np.array([np.linalg.norm(op.numpy(vecs[:, j]) - vals[j] * vecs[:, j]) for j in range(k)])
    return Eigenpairs(vals, vecs, residuals, op.count, method, rest)


def _lanczos_top(op: _Counted, k: int, tol: float, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """ARPACK's k largest (the top end shifted away from 0 as in extreme_eigenvalue), or None where it fails."""
    v0 = np.random.default_rng(seed).standard_normal(op.n)
    v0 /= np.linalg.norm(v0)
    hv0 = op.numpy(v0)
    size = float(np.linalg.norm(hv0))
    if size == 0.0:  # H v0 = 0 for a random v0: H = 0 almost surely, the dense route says so exactly
        return None
    shift = float(v0 @ hv0) - size
    linop = spla.LinearOperator((op.n, op.n), matvec=lambda x: op.numpy(x) - shift * np.ravel(x), dtype=np.float64)
    try:
        values, vectors = spla.eigsh(linop, k=k, which="LA", tol=tol, v0=v0, maxiter=max(100, 20 * op.n))
    except spla.ArpackError:  # includes ArpackNoConvergence
        return None
    order = np.argsort(values)[::-1]
    return values[order] + shift, vectors[:, order]


def _deflate_until_complete(op: _Counted, found: tuple[np.ndarray, np.ndarray], tol: float,
                            seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Add what Lanczos on the deflated operator finds above the k-th value (Rayleigh–Ritz), until nothing."""
    vals, vecs = found
    k = vals.size
    for attempt in range(k + 1):
        sigma = 2.0 * float(np.abs(vals).max()) + 1.0
        V = vecs

        def deflated(x: torch.Tensor, V: np.ndarray = V, sigma: float = sigma) -> torch.Tensor:
            xv = x.to(device="cpu", dtype=torch.float64).numpy()
            p = xv - V @ (V.T @ xv)
            hp = op.numpy(p)
            out = hp - V @ (V.T @ hp) - sigma * (V @ (V.T @ xv))
            return torch.as_tensor(out, dtype=op.dtype, device=op.device)

        extra = _extreme(deflated, op, tol, seed + 1 + attempt)
        if extra is None:  # the deflated run failed: the pairs stand, unchecked
            return vals, vecs, math.nan
        if extra[0] <= vals[-1] + 1e3 * tol * max(1.0, abs(float(vals[0]))):
            return vals, vecs, extra[0]
        W, _ = np.linalg.qr(np.column_stack([vecs, extra[1]]))
        T = np.column_stack([op.numpy(w) for w in W.T])
        ritz, Y = np.linalg.eigh(W.T @ T)
        vals, vecs = ritz[::-1][:k].copy(), (W @ Y)[:, ::-1][:, :k].copy()
    return vals, vecs, math.nan  # did not settle within k + 1 rounds: say so


def _extreme(fn: Matvec, op: _Counted, tol: float, seed: int) -> tuple[float, np.ndarray] | None:
    """λ_max of a matvec on op's space with its vector, or None (a zero operator, or ARPACK failing)."""
    try:
        est = extreme_eigenvalue(fn, op.n, "LA", dtype=op.dtype, device=op.device, tol=tol, seed=seed)
    except (NumericError, UserCodeError):
        return None
    op.count += est.matvecs
    return None if est.vector is None else (est.value, est.vector)


def spectral_density(matvec: Matvec, n: int, *, probes: int = 4, steps: int = 30, seed: int = 0,
                     dtype: str | torch.dtype = "float64", device: str | torch.device = "cpu") -> Density:
    r"""Stochastic Lanczos quadrature: ``probes`` Lanczos runs of ``min(steps, n)`` steps (full
    re-orthogonalization) from random unit vectors; the eigenvalues of each tridiagonal matrix are the nodes,
    the squared first components of its eigenvectors the weights. Exact for the moments up to degree
    2·steps − 1 of each probe's spectral measure."""
    dt, dev = _check_common(n, dtype, device)
    op = _Counted(matvec, n, dt, dev)
    steps = min(_budget(steps, "steps", 1), n)
    gen = torch.Generator().manual_seed(int(seed))
    nodes, weights = [], []
    for probe in _probes(n, _budget(probes, "probes", 1), "gaussian", gen).T:
        alpha, beta = _lanczos_run(op, probe / torch.linalg.vector_norm(probe), steps)
        T = np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1)
        theta, vecs = np.linalg.eigh(T)
        pad = steps - theta.size  # an invariant subspace ended the run early: pad with weight-0 nodes
        nodes.append(np.concatenate([theta, np.full(pad, theta[-1])]))
        weights.append(np.concatenate([vecs[0] ** 2, np.zeros(pad)]))
    return Density(np.array(nodes), np.array(weights), op.count)


def _lanczos_run(op: _Counted, q: torch.Tensor, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """α (diagonal) and β (off-diagonal) of the Lanczos tridiagonal, stopping early at an invariant subspace."""
    basis, alpha, beta = [q], [], []
    for j in range(steps):
        w = op(basis[-1].to(op.dtype).to(op.device)).to(device="cpu", dtype=torch.float64)
        alpha.append(float(basis[-1] @ w))
        for b in basis:  # full re-orthogonalization, twice is enough
            w = w - (b @ w) * b
        for b in basis:
            w = w - (b @ w) * b
        norm = float(torch.linalg.vector_norm(w))
        size = max(max(abs(a) for a in alpha), max(beta, default=0.0))
        if j == steps - 1 or norm <= 1e-12 * size:  # relative: an operator of any scale
            break
        beta.append(norm)
        basis.append(w / norm)
    return np.array(alpha), np.array(beta)
