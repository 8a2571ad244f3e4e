"""verify.claims: Claim validation, verdict JSON round trip and schema, registry lookups."""

from __future__ import annotations

import json

import hypothesis.strategies as st
import jsonschema
import pytest

from verify import CaseResult, Claim, ClaimDefinitionError, UnknownClaimError, Verdict, compare_close, get_claim
from verify.claims import Expectation, Tolerance, VerdictKind, dump_verdicts, load_verdicts


def test_claim_validation_messages():
    with pytest.raises(ClaimDefinitionError, match="letters, digits and dashes"):
        Claim(id="Bad Id", statement="s", source="t", symbolic=lambda: None)
    with pytest.raises(ClaimDefinitionError, match="'holds' and 'refuted'"):
        Claim(id="x-y", statement="s", source="t", expected="maybe", symbolic=lambda: None)
    with pytest.raises(ClaimDefinitionError, match="neither"):
        Claim(id="x-y", statement="s", source="t")
    with pytest.raises(ClaimDefinitionError, match="both"):
        Claim(id="x-y", statement="s", source="t", check=lambda c, ctx: None)
    with pytest.raises(TypeError):  # ClaimDefinitionError is also a TypeError
        Claim(id="x-y", statement="s", source="t", symbolic=3)


def test_verdict_matches_expectation():
    assert VerdictKind.PROVED.matches(Expectation.HOLDS)
    assert VerdictKind.REFUTED.matches(Expectation.REFUTED)
    for kind in (VerdictKind.ERROR, VerdictKind.INCONCLUSIVE):
        assert not kind.matches(Expectation.HOLDS) and not kind.matches(Expectation.REFUTED)


def test_json_round_trip_and_schema(verdict_schema):
    v = Verdict(claim="a-b", verdict="refuted", expected="refuted", statement="x", source="s",
                counterexample={"case": {"W": [[1.0, float("inf")]]}}, numeric={"examples": 3},
                versions={"torch": "x"}, elapsed_s=0.5)
    text = dump_verdicts([v])
    jsonschema.validate(json.loads(text), verdict_schema)
    (again,) = load_verdicts(text)
    assert again.to_json() == v.to_json()
    assert json.loads(text)["verdicts"][0]["counterexample"]["case"]["W"] == [[1.0, "inf"]]


def test_load_verdicts_rejects_garbage():
    from verify import InvalidInputError

    with pytest.raises(InvalidInputError, match="Not JSON"):
        load_verdicts("{nope")
    with pytest.raises(InvalidInputError, match="verdicts"):
        load_verdicts("[]")


def test_unknown_claim_suggests_close_matches():
    with pytest.raises(UnknownClaimError, match="Did you mean: softmax-ce-hessian"):
        get_claim("softmax-ce-hesian")


def test_claims_named_by_file_and_module(tmp_path, monkeypatch):
    src = tmp_path / "my_claims.py"
    src.write_text(
        "import hypothesis.strategies as st\n"
        "from verify import Claim, CaseResult, Tolerance, compare_close\n"
        "MINE = Claim(id='my-claim', statement='x = x', source='me', cases=lambda: st.floats(0, 1),\n"
        "             check=lambda x, ctx: CaseResult(compare_close(x, x, 1.0, Tolerance())))\n"
    )
    assert get_claim(f"{src}::MINE").id == "my-claim"
    monkeypatch.syspath_prepend(str(tmp_path))
    assert get_claim("my_claims:MINE").id == "my-claim"
    with pytest.raises(UnknownClaimError, match="Claims it defines: \\['MINE'\\]"):
        get_claim(f"{src}::OTHER")
    with pytest.raises(UnknownClaimError, match="No such file"):
        get_claim("nowhere.py::X")


def test_case_result_carries_tolerance_text():
    tol = Tolerance("float32", depth=8)
    r = CaseResult(compare_close(1.0, 1.0, 1.0, tol), tolerance=tol.describe())
    assert "float32" in r.tolerance


def test_claim_ids_are_unique_across_builtin_claims():
    from verify import all_claims

    ids = [c.id for c in all_claims()]
    assert len(ids) == len(set(ids))
    assert {"softmax-ce-hessian", "softmax-ce-convex", "softmax-ce-smoothness",
            "seed000-diagonal-blocks-imply-psd", "seed000-hessian-is-block-diagonal"} <= set(ids)
    _ = st  # strategies are used by user claims above


def test_scale_zero_with_noise_is_undecidable_not_holds():
    from verify.claims import Tolerance, compare_leq

    assert compare_leq(1e-3, 0.0, 0.0, Tolerance(), noise=1e12).status == "undecidable"
    assert compare_leq(0.0, 0.0, 0.0, Tolerance()).status == "holds"
    assert compare_leq(1e-300, 0.0, 0.0, Tolerance()).status == "violated"


def test_within_tolerance_note_only_for_inequalities():
    from verify.claims.evidence import within_tolerance_note

    worst = {"comparison": {"atol": 1e-13, "scale": 1.0}}
    assert "exceeded by" in within_tolerance_note({"relation": "inequality", "min_slack": -1e-14, "worst_case": worst})
    assert within_tolerance_note({"relation": "equality", "min_slack": -1e-14, "worst_case": worst}) == ""
    assert within_tolerance_note({"relation": "inequality", "min_slack": 0.5, "worst_case": worst}) == ""
