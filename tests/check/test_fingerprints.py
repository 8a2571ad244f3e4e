"""Case fingerprints: a digest of the case's JSON form, the same for equal cases, different for different ones."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from verify.check._tally import case_fingerprint
from verify.claims import to_plain


@dataclass(frozen=True)
class _Case:
    data: Any

    def to_json(self) -> Any:
        return self.data


class _Broken:
    def to_json(self) -> Any:
        raise ValueError("no JSON form")


def test_equal_cases_share_a_fingerprint_and_different_ones_do_not():
    a = _Case({"w": [[0.5, -1.0], [2.0, 0.0]], "k": 3, "act": "tanh"})
    b = _Case({"act": "tanh", "k": 3, "w": [[0.5, -1.0], [2.0, 0.0]]})  # another key order: the same JSON
    c = _Case({"w": [[0.5, -1.0], [2.0, 1e-300]], "k": 3, "act": "tanh"})
    assert case_fingerprint(a) == case_fingerprint(b) != case_fingerprint(c)
    assert case_fingerprint(_Case([1.0, math.nan])) == case_fingerprint(_Case([1.0, math.nan]))
    assert case_fingerprint(_Case([1.0, math.nan])) != case_fingerprint(_Case([1.0, math.inf]))


def test_arrays_and_odd_keys_fall_back_to_the_plain_form():
    arr = _Case({"x": np.arange(3.0), "n": np.int64(2)})
    assert case_fingerprint(arr) == case_fingerprint(_Case({"x": [0.0, 1.0, 2.0], "n": 2}))
    mixed = _Case({1: "a", "b": 2})  # keys json cannot sort together: to_plain stringifies them
    assert json.dumps(to_plain(mixed), sort_keys=True) == '{"1": "a", "b": 2}'
    assert case_fingerprint(mixed) == case_fingerprint(_Case({"1": "a", "b": 2}))


def test_a_case_whose_json_form_fails_counts_as_unhashable_not_as_an_error():
    assert case_fingerprint(_Broken()) is None
