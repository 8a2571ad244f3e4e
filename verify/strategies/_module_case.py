r""":class:`ModuleCase`, a small network of one of :data:`ARCHITECTURES`: its spec, its parameters, a batch.

Private to :mod:`verify.strategies`; import it from :mod:`verify.strategies` (or :mod:`verify`). No torch
here: the case stores the architecture's spec (plain values) and the parameters by name, and
:func:`verify.numeric.module_from_case` builds the ``nn.Module`` from them. So a case serializes to JSON
and replays exactly (no pickled module), and :func:`parameter_shapes` is the one description of what each
architecture's parameters are, shared by the strategy, the case's validation and the builder's test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from verify.errors import InvalidInputError
from verify.strategies._case_base import TAGS, _canonical_tags, _Case, _frozen, _is_large, _is_rank_one, _is_tiny
from verify.strategies._serialize import array_from_json, array_to_json, check_mapping

__all__ = ["ARCHITECTURES", "MODULE_ACTIVATIONS", "ModuleCase", "input_shape", "parameter_shapes"]

#: The architectures, smallest first (shrinking moves toward the first).
ARCHITECTURES: tuple[str, ...] = ("mlp", "cnn", "residual", "attention")
#: The activation names a spec may carry (``identity`` only where a claim asks for it).
MODULE_ACTIVATIONS: tuple[str, ...] = ("tanh", "gelu", "softplus", "sigmoid", "relu", "identity")

#: the spec entries that are tuples of sizes; every other size is one integer
_TUPLE_KEYS = ("widths", "channels")
_SPEC_KEYS: dict[str, tuple[str, ...]] = {
    "mlp": ("widths", "activation"),
    "cnn": ("in_channels", "size", "channels", "kernel", "padding", "activation", "classes"),
    "residual": ("dim", "hidden", "blocks", "activation", "classes"),
    "attention": ("dim", "heads", "seq", "classes"),
}
#: the spec entries that are widths or channel counts (the ``width-1`` tag)
_WIDTH_KEYS = ("widths", "channels", "in_channels", "dim", "hidden")


def _positive_ints(spec: Mapping[str, Any], key: str, minimum: int = 1) -> tuple[int, ...]:
    """The sizes of a spec entry: a list for ``widths``/``channels``, one integer for the others."""
    value = spec[key]
    is_list = isinstance(value, (tuple, list))
    values = tuple(value) if is_list else (value,)
    what = "a non-empty list of integers" if key in _TUPLE_KEYS else "one integer"
    if is_list != (key in _TUPLE_KEYS) or not values or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= minimum for v in values):
        raise InvalidInputError(f"Got {key}={value!r} in a module spec, but it must be {what} >= {minimum}.")
    return tuple(int(v) for v in values)


def _linear(name: str, n_out: int, n_in: int) -> list[tuple[str, tuple[int, ...], str]]:
    return [(f"{name}.weight", (n_out, n_in), "weight"), (f"{name}.bias", (n_out,), "bias")]


def _cnn_shapes(spec: Mapping[str, Any]) -> list[tuple[str, tuple[int, ...], str]]:
    (c_in,), (size,), channels = _positive_ints(spec, "in_channels"), _positive_ints(spec, "size"), \
        _positive_ints(spec, "channels")
    (kernel,), (padding,) = _positive_ints(spec, "kernel"), _positive_ints(spec, "padding", 0)
    out, side = [], size
    for t, c_out in enumerate(channels):
        side = side + 2 * padding - kernel + 1
        if side < 1:
            raise InvalidInputError(f"Got a cnn spec whose conv layer {t} has no output (image side {size}, "
                                    f"kernel {kernel}, padding {padding}, {len(channels)} layers).")
        out += [(f"{2 * t}.weight", (c_out, c_in, kernel, kernel), "weight"), (f"{2 * t}.bias", (c_out,), "bias")]
        c_in = c_out
    (classes,) = _positive_ints(spec, "classes")
    return out + _linear(str(2 * len(channels) + 1), classes, c_in * side * side)


def parameter_shapes(arch: str, spec: Mapping[str, Any]) -> list[tuple[str, tuple[int, ...], str]]:
    """``(name, shape, kind)`` of every parameter, in the module's order; kind is weight, bias or norm.

    Raises:
        InvalidInputError: an unknown architecture, a missing spec entry, or sizes that do not fit.
    """
    if arch not in _SPEC_KEYS:
        raise InvalidInputError(f"Got architecture {arch!r}, but valid ones are {list(ARCHITECTURES)}.")
    missing = [k for k in _SPEC_KEYS[arch] if k not in spec]
    if missing or set(spec) - set(_SPEC_KEYS[arch]):
        raise InvalidInputError(f"A {arch} spec has the keys {list(_SPEC_KEYS[arch])}; got {sorted(spec)}.")
    if "activation" in spec and spec["activation"] not in MODULE_ACTIVATIONS:
        raise InvalidInputError(f"Got activation={spec['activation']!r}, but valid ones are "
                                f"{list(MODULE_ACTIVATIONS)}.")
    if arch == "mlp":
        widths = _positive_ints(spec, "widths")
        if len(widths) < 2:
            raise InvalidInputError(f"Got widths={widths}, but an mlp needs at least (d_in, classes).")
        return [p for t in range(len(widths) - 1) for p in _linear(str(2 * t), widths[t + 1], widths[t])]
    if arch == "cnn":
        return _cnn_shapes(spec)
    (classes,) = _positive_ints(spec, "classes")
    (dim,) = _positive_ints(spec, "dim")
    if arch == "residual":
        (hidden,), (blocks,) = _positive_ints(spec, "hidden"), _positive_ints(spec, "blocks")
        out = []
        for i in range(blocks):
            out += [(f"blocks.{i}.norm.weight", (dim,), "norm"), (f"blocks.{i}.norm.bias", (dim,), "bias")]
            out += _linear(f"blocks.{i}.fc1", hidden, dim) + _linear(f"blocks.{i}.fc2", dim, hidden)
        return out + _linear("head", classes, dim)
    (heads,), _ = _positive_ints(spec, "heads"), _positive_ints(spec, "seq")
    if dim % heads:
        raise InvalidInputError(f"Got dim={dim} and heads={heads}, but the heads must divide the dimension.")
    return [("attn.in_proj_weight", (3 * dim, dim), "weight"), ("attn.in_proj_bias", (3 * dim,), "bias"),
            *_linear("attn.out_proj", dim, dim), *_linear("head", classes, dim)]


def input_shape(arch: str, spec: Mapping[str, Any]) -> tuple[int, ...]:
    """The shape of one example's input."""
    if arch == "mlp":
        return (int(spec["widths"][0]),)
    if arch == "cnn":
        return (int(spec["in_channels"]), int(spec["size"]), int(spec["size"]))
    if arch == "residual":
        return (int(spec["dim"]),)
    return (int(spec["seq"]), int(spec["dim"]))


def classes_of(arch: str, spec: Mapping[str, Any]) -> int:
    return int(spec["widths"][-1]) if arch == "mlp" else int(spec["classes"])


def _plain(value: Any) -> Any:
    """numpy integers as ints and lists as tuples: a spec value that hashes and writes to JSON."""
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return int(value) if isinstance(value, np.integer) else value


def _frozen_spec(spec: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """Sorted (key, value) pairs with lists as tuples: hashable, and equal for equal specs."""
    if not isinstance(spec, Mapping) or not all(isinstance(k, str) for k in spec):
        raise InvalidInputError(f"Got spec={spec!r}, but a module spec is a mapping of names (strings) to values.")
    return tuple(sorted((k, _plain(v)) for k, v in spec.items()))


def _named_arrays(params: Any) -> tuple[tuple[str, Any], ...]:
    if isinstance(params, (str, bytes, Mapping)) or not isinstance(params, (list, tuple)) or not all(
            isinstance(p, (list, tuple)) and len(p) == 2 and isinstance(p[0], str) for p in params):
        raise InvalidInputError("Got params that are not a sequence of (name, array) pairs; a ModuleCase takes the "
                                "parameters in the module's order, e.g. (('0.weight', W), ('0.bias', b)).")
    return tuple((str(n), a) for n, a in params)


@dataclass(frozen=True, eq=False, repr=False)
class ModuleCase(_Case):
    r"""A small network (its architecture, spec and parameters), a batch and integer labels.

    The loss is the mean cross-entropy of the network's output on ``x`` against ``y``.
    :func:`verify.functional` turns a case into loss, gradient, Hessian-vector products, per-example
    gradients and :math:`\lambda_{\max}`; :func:`verify.numeric.module_from_case` builds the ``nn.Module``.

    Attributes:
        arch: one of :data:`ARCHITECTURES`.
        spec: the architecture's sizes and activation (see :func:`parameter_shapes`), stored as sorted
            ``(key, value)`` pairs; :attr:`spec_dict` gives the mapping.
        params: ``(name, array)`` for every parameter in the module's order.
        x: the inputs, ``(m, *input_shape)``.
        y: the labels, ``(m,)`` integers in ``[0, classes)``.
        tags: the boundary cases hit (``None`` computes them): ``width-1`` (a width, channel count or
            model dimension of 1), ``rank-one``, ``zero-weights``, ``tiny-scale``, ``large-scale``,
            ``single-example``.
    """

    arch: str
    spec: Any
    params: tuple[tuple[str, np.ndarray], ...]
    x: np.ndarray
    y: np.ndarray
    tags: tuple[str, ...] | None = None

    _TYPE: ClassVar[str] = "ModuleCase"

    def __post_init__(self) -> None:
        if not isinstance(self.arch, str):
            raise InvalidInputError(f"Got arch={self.arch!r}, but valid ones are {list(ARCHITECTURES)}.")
        spec = _frozen_spec(self.spec)
        shapes = parameter_shapes(self.arch, dict(spec))
        given = _named_arrays(self.params)
        if [n for n, _ in given] != [n for n, _, _ in shapes]:
            raise InvalidInputError(f"Got parameters {[n for n, _ in given]}, but this {self.arch} spec has "
                                    f"{[n for n, _, _ in shapes]}.")
        params = []
        for (name, value), (_, shape, _) in zip(given, shapes):
            array = _frozen(value, name, ndim=len(shape))
            if array.shape != shape:
                raise InvalidInputError(f"Got {name} of shape {array.shape}, but the spec needs {shape}.")
            params.append((name, array))
        x = _frozen(self.x, "x", ndim=1 + len(input_shape(self.arch, dict(spec))))
        y = _frozen(self.y, "y", dtype=np.int64, ndim=1)
        if x.shape[1:] != input_shape(self.arch, dict(spec)) or x.shape[0] != y.shape[0] or x.shape[0] < 1:
            raise InvalidInputError(f"Got x {x.shape} and y {y.shape}, but the spec needs x of shape (m, "
                                    f"{', '.join(map(str, input_shape(self.arch, dict(spec))))}) and y (m,), m >= 1.")
        k = classes_of(self.arch, dict(spec))
        if y.size and (y.min() < 0 or y.max() >= k):
            raise InvalidInputError(f"Got labels {y.tolist()}, but they must lie in [0, {k}).")
        object.__setattr__(self, "spec", spec)
        object.__setattr__(self, "params", tuple(params))
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)
        if self.tags is not None and not isinstance(self.tags, (tuple, list)):
            raise InvalidInputError(f"Got tags={self.tags!r}, but tags are a list of strings from {TAGS} (or None).")
        tags = self._compute_tags() if self.tags is None else _canonical_tags(self.tags)
        object.__setattr__(self, "tags", tags)

    def _key(self) -> tuple[Any, ...]:
        return (self.arch, self.spec, tuple((n, a.shape, a.tobytes()) for n, a in self.params),
                self.x.shape, self.x.tobytes(), self.y.tobytes())

    def _compute_tags(self) -> tuple[str, ...]:
        spec, kinds = self.spec_dict, {n: kind for n, _, kind in parameter_shapes(self.arch, self.spec_dict)}
        weights = [a for n, a in self.params if kinds[n] == "weight"]
        found = set()
        if any(1 in (spec[k] if isinstance(spec[k], tuple) else (spec[k],)) for k in _WIDTH_KEYS if k in spec):
            found.add("width-1")
        if any(_is_rank_one(W.reshape(W.shape[0], -1)) for W in weights):
            found.add("rank-one")
        if any(not W.any() for W in weights):
            found.add("zero-weights")
        if any(_is_tiny(W) for W in (*weights, self.x)):
            found.add("tiny-scale")
        if any(_is_large(a) for a in (*(a for _, a in self.params), self.x)):
            found.add("large-scale")
        if self.m == 1:
            found.add("single-example")
        return tuple(t for t in TAGS if t in found)

    @property
    def spec_dict(self) -> dict[str, Any]:
        return dict(self.spec)

    @property
    def m(self) -> int:
        """The number of examples."""
        return int(self.x.shape[0])

    @property
    def classes(self) -> int:
        return classes_of(self.arch, self.spec_dict)

    @property
    def n_params(self) -> int:
        return sum(a.size for _, a in self.params)

    def flat_params(self) -> np.ndarray:
        """All parameters as one float64 vector in the module's order (the θ of :func:`verify.functional`)."""
        return np.concatenate([a.reshape(-1) for _, a in self.params]).astype(np.float64, copy=True)

    def describe(self) -> str:
        """``"cnn (channels (2,), kernel 3, …): 58 parameters, 2 examples"``."""
        sizes = ", ".join(f"{k} {v}" for k, v in self.spec)
        return f"{self.arch} ({sizes}): {self.n_params} parameters, {self.m} example{'s' * (self.m != 1)}"

    def __repr__(self) -> str:
        return (f"ModuleCase.from_json({self.to_json()!r})")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_json` rebuilds an identical case."""
        return {"type": self._TYPE, "arch": self.arch,
                "spec": {k: list(v) if isinstance(v, tuple) else v for k, v in self.spec},
                "params": [{"name": n, "value": array_to_json(a)} for n, a in self.params],
                "x": array_to_json(self.x), "y": array_to_json(self.y), "tags": list(self.tags or ())}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModuleCase:
        """Inverse of :meth:`to_json` (``tags`` may be omitted: then recomputed).

        Raises:
            InvalidInputError: ``data`` is not what :meth:`to_json` writes.
        """
        check_mapping(data, cls._TYPE, ["arch", "spec", "params", "x", "y"], ["tags"])
        if not isinstance(data["params"], list) or not all(isinstance(p, Mapping) and set(p) == {"name", "value"}
                                                           for p in data["params"]):
            raise InvalidInputError("Got ModuleCase JSON whose 'params' is not a list of {name, value}.")
        params = tuple((str(p["name"]), array_from_json(p["value"], where=str(p["name"]), dtype="float64"))
                       for p in data["params"])
        tags = data.get("tags")
        return cls(arch=data["arch"], spec=data["spec"], params=params,
                   x=array_from_json(data["x"], where="x", dtype="float64"),
                   y=array_from_json(data["y"], where="y", dtype="int64"),
                   tags=None if tags is None else tags)
