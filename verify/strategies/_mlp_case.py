r""":class:`MLPCase`, the generated case of claim C3: an MLP's parameters and an input batch.

Private to :mod:`verify.strategies`; import it from :mod:`verify.strategies.cases` (or
:mod:`verify.strategies`), which also registers it as a case type. Its ``tags`` are the
boundary cases of :data:`~verify.strategies.cases.TAGS` that its arrays hit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from verify.errors import InvalidInputError
from verify.strategies._case_base import (
    MLP_ACTIVATIONS,
    TAGS,
    _canonical_tags,
    _Case,
    _frozen,
    _is_large,
    _is_rank_one,
    _is_tiny,
)
from verify.strategies._serialize import (
    array_from_json,
    array_to_json,
    check_mapping,
    int_tuple,
    str_tuple,
)

__all__ = ["MLPCase"]


@dataclass(frozen=True, eq=False, repr=False)
class MLPCase(_Case):
    r"""A multilayer perceptron with its parameters and an input batch (claim C3).

    Layer :math:`t = 1..l` computes :math:`z^{(t+1)} = W^{(t)} h^{(t)} + b^{(t)}`,
    :math:`h^{(t+1)} = g(z^{(t+1)})` with :math:`W^{(t)}` of shape ``(out, in)``
    as :class:`torch.nn.Linear` stores it (whether :math:`g` follows the last
    layer is the oracle's choice; see :mod:`verify.numeric.mlp`).

    Attributes:
        widths: ``(d_in, d_1, ..., d_out)``, length ``depth + 1``, all ``>= 1``.
        activation: one of :data:`MLP_ACTIVATIONS`.
        bias: whether the layers have biases.
        weights: ``W⁽ᵗ⁾`` of shape ``(widths[t+1], widths[t])``, one per layer.
        biases: ``b⁽ᵗ⁾`` of shape ``(widths[t+1],)`` when ``bias`` is true; the
            empty tuple ``()`` when it is false (there are no bias arrays at all).
        x: inputs, ``(batch, d_in)``.
        tags: the boundary cases hit (see :mod:`verify.strategies.cases`); ``None`` (the
            default) computes them from the arrays.

    Example:
        >>> case = MLPCase((2, 1), "tanh", True, (np.array([[3.0, 4.0]]),),
        ...                (np.array([5.0]),), np.array([[1.0, 0.0]]))
        >>> case.flat_params().tolist()
        [3.0, 4.0, 5.0]
        >>> case.tags
        ('width-1', 'rank-one', 'single-example')
    """

    widths: tuple[int, ...]
    activation: str
    bias: bool
    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    x: np.ndarray
    tags: tuple[str, ...] | None = None

    _TYPE: ClassVar[str] = "MLPCase"

    def __post_init__(self) -> None:
        widths = tuple(self.widths)
        if len(widths) < 2 or not all(
            isinstance(w, (int, np.integer)) and not isinstance(w, bool) and w >= 1 for w in widths
        ):
            raise InvalidInputError(
                f"Got widths={self.widths!r}, but widths must be at least two integers >= 1 "
                "(d_in, ..., d_out)."
            )
        widths = tuple(int(w) for w in widths)
        if self.activation not in MLP_ACTIVATIONS:
            raise InvalidInputError(
                f"Got activation={self.activation!r}, but valid values are {list(MLP_ACTIVATIONS)}."
            )
        if not isinstance(self.bias, (bool, np.bool_)):
            raise InvalidInputError(f"Got bias={self.bias!r}, but it must be True or False.")
        depth = len(widths) - 1
        if len(self.weights) != depth:
            raise InvalidInputError(
                f"Got {len(self.weights)} weight matrices for widths={widths}, but it needs {depth}."
            )
        weights = tuple(_frozen(W, f"weights[{t}]", ndim=2) for t, W in enumerate(self.weights))
        for t, W in enumerate(weights):
            if W.shape != (widths[t + 1], widths[t]):
                raise InvalidInputError(
                    f"Got weights[{t}] of shape {W.shape}, but widths={widths} needs "
                    f"{(widths[t + 1], widths[t])} (out, in)."
                )
        if self.bias:
            if len(self.biases) != depth:
                raise InvalidInputError(
                    f"Got {len(self.biases)} bias vectors with bias=True, but it needs {depth}."
                )
            biases = tuple(_frozen(b, f"biases[{t}]", ndim=1) for t, b in enumerate(self.biases))
            for t, b in enumerate(biases):
                if b.shape != (widths[t + 1],):
                    raise InvalidInputError(
                        f"Got biases[{t}] of shape {b.shape}, but widths={widths} needs {(widths[t + 1],)}."
                    )
        else:
            if len(self.biases) != 0:
                raise InvalidInputError(
                    f"Got {len(self.biases)} bias vectors with bias=False, but biases must be () then."
                )
            biases = ()
        x = _frozen(self.x, "x", ndim=2)
        if x.shape[1] != widths[0]:
            raise InvalidInputError(
                f"Got x of shape {x.shape}, but widths={widths} needs (batch, {widths[0]})."
            )
        object.__setattr__(self, "widths", widths)
        object.__setattr__(self, "bias", bool(self.bias))
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "biases", biases)
        object.__setattr__(self, "x", x)
        tags = self._compute_tags() if self.tags is None else _canonical_tags(self.tags)
        object.__setattr__(self, "tags", tags)

    def _compute_tags(self) -> tuple[str, ...]:
        found = set()
        if 1 in self.widths:
            found.add("width-1")
        if any(_is_rank_one(W) for W in (*self.weights, self.x)):
            found.add("rank-one")
        if any(not W.any() for W in self.weights):
            found.add("zero-weights")
        if any(_is_tiny(W) for W in (*self.weights, self.x)):
            found.add("tiny-scale")
        if any(_is_large(a) for a in (*self.weights, *self.biases, self.x)):
            found.add("large-scale")
        if self.batch == 1:
            found.add("single-example")
        return tuple(t for t in TAGS if t in found)

    @property
    def depth(self) -> int:
        """Number of layers ``l`` (weight matrices)."""
        return len(self.widths) - 1

    @property
    def d_in(self) -> int:
        """Input dimension ``widths[0]``."""
        return self.widths[0]

    @property
    def d_out(self) -> int:
        """Output dimension ``widths[-1]``."""
        return self.widths[-1]

    @property
    def batch(self) -> int:
        """Number of input rows."""
        return int(self.x.shape[0])

    @property
    def n_params(self) -> int:
        """Length of :meth:`flat_params`."""
        return sum(W.size for W in self.weights) + sum(b.size for b in self.biases)

    def flat_params(self) -> np.ndarray:
        """All parameters as one float64 vector: row-major ``W1, b1, W2, b2, …``.

        The layout of ``verify.numeric.mlp.flatten`` (biases skipped when
        ``bias`` is false). Returns a new writable array of length :attr:`n_params`.
        """
        parts: list[np.ndarray] = []
        for t, W in enumerate(self.weights):
            parts.append(W.reshape(-1))
            if self.bias:
                parts.append(self.biases[t])
        return np.concatenate(parts).astype(np.float64, copy=True)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_json` rebuilds an identical case."""
        return {
            "type": self._TYPE,
            "widths": list(self.widths),
            "activation": self.activation,
            "bias": self.bias,
            "weights": [array_to_json(W) for W in self.weights],
            "biases": [array_to_json(b) for b in self.biases],
            "x": array_to_json(self.x),
            "tags": list(self.tags or ()),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MLPCase:
        """Inverse of :meth:`to_json` (``tags`` may be omitted: then recomputed).

        Raises:
            InvalidInputError: ``data`` is not what :meth:`to_json` writes.
        """
        check_mapping(data, cls._TYPE, ["widths", "activation", "bias", "weights", "biases", "x"], ["tags"])
        if not isinstance(data["weights"], list) or not isinstance(data["biases"], list):
            raise InvalidInputError("Got MLPCase JSON whose 'weights'/'biases' are not lists.")
        tags = data.get("tags")
        return cls(
            widths=int_tuple(data["widths"], "widths"),
            activation=data["activation"],
            bias=data["bias"],
            weights=tuple(array_from_json(W, where=f"weights[{t}]", dtype="float64", ndim=2)
                          for t, W in enumerate(data["weights"])),
            biases=tuple(array_from_json(b, where=f"biases[{t}]", dtype="float64", ndim=1)
                         for t, b in enumerate(data["biases"])),
            x=array_from_json(data["x"], where="x", dtype="float64", ndim=2),
            tags=None if tags is None else str_tuple(tags, "tags"),
        )
