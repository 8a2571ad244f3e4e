r"""The networks of :func:`verify.modules` run in interval Taylor mode on a segment: a certified segment curvature.

:func:`module_enclosure` gives, for a :class:`verify.ModuleCase` at θ with a direction d, the function
``(s_lo, s_hi) ↦ (φ''(S), φ'''(S))`` that :func:`.certify.certify_curvature` subdivides, where
φ(s) = L(θ − s·d) is the case's mean cross-entropy. The forwards here are written again from the architectures'
formulas (the same parameter names and layouts as ``verify.numeric.zoo``, which builds the ``nn.Module`` s): the
MLP, the CNN (zero padding, k×k windows, a linear head on the channel-major flattening), the residual blocks
h + fc2(σ(fc1(LayerNorm(h)))) and the attention block (multi-head softmax attention, a residual, the mean over
the sequence, a head). The tests compare them at points with the torch modules, so a layout mismatch cannot
pass unnoticed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np

from proofs.descent.intervals import EPS, Iv
from proofs.descent.jets import Jet, cross_entropy, derivatives_over, softmax

__all__ = ["module_enclosure"]

#: LayerNorm's ε (``verify.numeric.zoo.LayerNorm``)
LAYER_NORM_EPS = 1e-5

Params = Mapping[str, Jet]


def _linear(h: Jet, P: Params, name: str) -> Jet:
    """h Wᵀ + b, W (out, in) broadcast over h's middle axes."""
    W, b = P[f"{name}.weight"], P[f"{name}.bias"]
    extra = h.c[0].lo.ndim - 2  # axes between the K axis and the features
    for _ in range(extra - 1):
        W, b = W.expand(1), b.expand(1)
    return h @ W.swapaxes(-1, -2) + (b.expand(1) if extra > 0 else b)


def _centring(n: int) -> Jet:
    """The constant matrix I − 11ᵀ/n, enclosed: h − mean(h) as one linear map (h − h.mean() in intervals would
    not cancel h against itself; for n = 1 the map is exactly 0, as LayerNorm's centred input is)."""
    C = np.eye(n) - 1.0 / n
    pad = 2.0 * EPS * np.abs(C)
    return Jet([Iv((C - pad)[None], (C + pad)[None]), None, None, None])


def _layer_norm(h: Jet, P: Params, name: str) -> Jet:
    centred = h @ _centring(h.c[0].lo.shape[-1])
    scale = centred.square().mean(-1, keepdims=True).shift(-LAYER_NORM_EPS).apply("rsqrt")
    weight, bias = P[f"{name}.weight"], P[f"{name}.bias"]
    for _ in range(h.c[0].lo.ndim - 2):
        weight, bias = weight.expand(1), bias.expand(1)
    return centred * scale * weight + bias


def _mlp(x: Jet, P: Params, spec: Mapping) -> Jet:
    layers = len(spec["widths"]) - 1
    h = x
    for t in range(layers):
        h = _linear(h, P, str(2 * t))
        if t < layers - 1:
            h = h.apply(spec["activation"])
    return h


def _conv(h: Jet, P: Params, name: str, kernel: int, padding: int) -> Jet:
    """(K, m, c, H, W) → (K, m, c_out, H', W'): a cross-correlation as windows times the flattened kernel."""
    W, b = P[f"{name}.weight"], P[f"{name}.bias"]
    c_out = W.c[0].lo.shape[1]
    windows = h.zero_pad(padding).patches(kernel)  # (K, m, H', W', c·k·k)
    kernel_t = W.reshape(c_out, -1).swapaxes(-1, -2).expand(1).expand(1).expand(1)  # (K, 1, 1, 1, ckk, c_out)
    out = windows.expand(-2) @ kernel_t  # (K, m, H', W', 1, c_out)
    out = out.map(lambda a: a[..., 0, :]) + b.expand(1).expand(1).expand(1)
    return out.map(lambda a: np.moveaxis(a, -1, -3))


def _cnn(x: Jet, P: Params, spec: Mapping) -> Jet:
    h = x
    for t in range(len(spec["channels"])):
        h = _conv(h, P, str(2 * t), int(spec["kernel"]), int(spec["padding"])).apply(spec["activation"])
    flat = h.map(lambda a: a.reshape(a.shape[0], a.shape[1], -1))
    return _linear(flat, P, str(2 * len(spec["channels"]) + 1))


def _residual(x: Jet, P: Params, spec: Mapping) -> Jet:
    h = x
    for i in range(int(spec["blocks"])):
        block = f"blocks.{i}"
        inner = _linear(_layer_norm(h, P, f"{block}.norm"), P, f"{block}.fc1").apply(spec["activation"])
        h = h + _linear(inner, P, f"{block}.fc2")
    return _linear(h, P, "head")


def _attention(x: Jet, P: Params, spec: Mapping) -> Jet:
    """h + out_proj(softmax(q kᵀ/√d_h) v) per head, the mean over the sequence, then the head."""
    d, heads = int(spec["dim"]), int(spec["heads"])
    dh = d // heads
    W, b = P["attn.in_proj_weight"].expand(1), P["attn.in_proj_bias"].expand(1).expand(1)
    qkv = x @ W.swapaxes(-1, -2) + b  # (K, m, t, 3d)

    def split(j: int) -> Jet:  # (K, m, heads, t, d_h)
        part = qkv.map(lambda a: a[..., j * d:(j + 1) * d])
        return part.map(lambda a: np.swapaxes(a.reshape(*a.shape[:-1], heads, dh), -2, -3))

    q, k, v = split(0), split(1), split(2)
    root = 1.0 / math.sqrt(dh)
    scores = (q @ k.swapaxes(-1, -2)).scale(Iv(root * (1.0 - 4.0 * EPS), root * (1.0 + 4.0 * EPS)))
    mixed = (softmax(scores) @ v).map(lambda a: np.swapaxes(a, -2, -3))  # (K, m, t, heads, d_h)
    mixed = mixed.map(lambda a: a.reshape(*a.shape[:-2], d))
    return _linear((x + _linear(mixed, P, "attn.out_proj")).mean(-2), P, "head")


_FORWARDS: dict[str, Callable[[Jet, Params, Mapping], Jet]] = {
    "mlp": _mlp, "cnn": _cnn, "residual": _residual, "attention": _attention}


def module_enclosure(case: object, theta: Mapping[str, np.ndarray],
                     direction: Mapping[str, np.ndarray]) -> Callable[[np.ndarray, np.ndarray], tuple[Iv, Iv]]:
    """``(s_lo, s_hi) ↦`` enclosures of φ''(S) and φ'''(S), φ(s) = L(θ − s·d), for the case's network and batch.

    ``theta`` and ``direction`` map the case's parameter names to float64 arrays of their shapes.
    """
    forward = _FORWARDS[case.arch]
    spec = case.spec_dict
    x, y = np.asarray(case.x, dtype=np.float64), np.asarray(case.y, dtype=np.int64)

    def enclose(s_lo: np.ndarray, s_hi: np.ndarray) -> tuple[Iv, Iv]:
        s = Iv(s_lo, s_hi)
        P = {name: Jet.segment(theta[name], direction[name], s) for name in theta}
        return derivatives_over(cross_entropy(forward(Jet.constant(x), P, spec), y), s_lo.shape)

    return enclose
