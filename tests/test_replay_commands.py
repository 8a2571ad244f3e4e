"""One replay-command builder: the CLI, ``Verdict.explain`` and the report print the same command."""

from __future__ import annotations

import html
import io
import re
import shlex

import pytest

from verify.claims import Verdict, load_verdicts, replay_commands, replay_line
from verify.cli import main
from verify.report import render_claim_html

USER_FILE = '''
import math
import numpy as np
import torch
import verify

half = verify.inequality(
    "lse-half", statement=r"\\log\\sum e^z \\le \\max z + \\tfrac12\\log k", cases=verify.logits,
    lhs=lambda z: torch.logsumexp(torch.as_tensor(z), -1),
    rhs=lambda z: float(np.max(z)) + 0.5 * math.log(len(z)))
'''


def _cli_line(out: str) -> str:
    (line,) = [x for x in out.splitlines() if "replay it:" in x]
    return line.split("replay it:", 1)[1].strip()


def _explain_line(verdict: Verdict, name: str | None = None) -> str:
    (line,) = [x for x in verdict.explain(name).splitlines() if x.strip().startswith("replay")]
    return line.split(":", 1)[1].strip()


def _report_line(verdict: Verdict) -> str:
    block = re.search(r'<pre class="cmd">(.*?)</pre>', render_claim_html(verdict), re.S)
    assert block, "no command block on the claim page"
    return " && ".join(html.unescape(block.group(1)).splitlines())


def _refuted(**over) -> Verdict:
    comparison = {"lhs": 1.0, "rhs": 0.0, "abs_err": 1.0, "rel_err": 1.0, "scale": 1.0, "atol": 1e-12,
                  "status": "violated", "slack": -1.0, "ratio": None}
    fields = dict(claim="c", verdict="refuted", expected="holds", statement="f \\le g", seed=7,
                  numeric={"relation": "inequality", "examples": 3, "examples_requested": 50},
                  counterexample={"case": [0.0], "comparison": comparison, "recheck": dict(comparison)})
    fields.update(over)
    return Verdict(**fields)


@pytest.mark.parametrize("over", [
    {},
    {"ref": "my claims/a b.py::c", "dtype": "float32"},
    {"ref": "pkg.mod:c", "device": "cuda:0", "torch_threads": 2},
    {"numeric": {"relation": "inequality", "examples": 100, "examples_requested": 100}},
])
def test_the_three_renderings_agree(over):
    from verify.cli import _counterexample_text

    v = _refuted(**over)
    name = v.ref or v.claim
    cli = _cli_line(_counterexample_text(v, name))
    assert cli == _explain_line(v) == _report_line(v) == replay_line(v)
    run, replay = replay_commands(v)
    argv = shlex.split(run)
    assert argv[:3] == ["verify", "check", name] and argv[-2:] == ["--json", "out.json"]
    assert ("--examples" in argv) == (v.numeric["examples_requested"] != 100)  # the default is not repeated
    assert ("--dtype" in argv) == (v.dtype != "float64") and ("--device" in argv) == (v.device != "cpu")
    assert ("--threads" in argv) == (v.torch_threads != 1)
    arithmetic = [x for o in ("--dtype", "--device") if o in argv for x in (o, argv[argv.index(o) + 1])]
    assert shlex.split(replay) == ["verify", "check", name, "--replay", "out.json", *arithmetic]


def test_a_real_run_prints_what_its_json_renders(tmp_path):
    """End to end: the line the CLI printed equals explain's and the report's, rebuilt from the JSON it wrote."""
    src = tmp_path / "mine.py"
    src.write_text(USER_FILE)
    out_json = tmp_path / "out.json"
    out, err = io.StringIO(), io.StringIO()
    code = main(["check", f"{src}::half", "--examples", "30", "--dtype", "float32", "--device", "cpu",
                 "--json", str(out_json)], out=out, err=err)
    assert code == 1, out.getvalue() + err.getvalue()
    (verdict,) = load_verdicts(out_json.read_text())
    printed = _cli_line(out.getvalue())
    assert "--examples 30" in printed and "--dtype float32" in printed
    assert printed == _explain_line(verdict) == _report_line(verdict)
