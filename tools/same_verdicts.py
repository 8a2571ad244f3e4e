"""Do two commits give the same verdicts? ``verify check --json`` at several seeds on both, diffed.

A refactor that "changes how the code is laid out, not what it computes" must leave every verdict's
JSON as it was, apart from what cannot be the same: timings and the recorded versions (and, when
asked, fields a change rewrites on purpose, such as ``source``). Run from the repository root::

    .venv/bin/python tools/same_verdicts.py                       # this tree vs f5dbfd0, seeds 0 1 2
    .venv/bin/python tools/same_verdicts.py --baseline HEAD~3 --seeds 0 --examples 50
    .venv/bin/python tools/same_verdicts.py --repeat              # also: this tree twice (determinism)
    .venv/bin/python tools/same_verdicts.py --ignore source       # a field rewritten on purpose

The baseline is checked out with ``git worktree`` into a temporary folder and run with the same
interpreter (``PYTHONPATH`` puts its ``verify`` and ``proofs`` first); its JSON is cached under
``.cache/same_verdicts/<commit>/`` since a commit's output never changes. Torch runs on one thread,
on the CPU. Exit status 0 iff every compared pair is identical after the ignored fields are removed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "same_verdicts"
#: fields that differ between two runs of the same code by nature: wall-clock times and library versions
ALWAYS_IGNORED = ("elapsed_s", "versions")


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def run_check(tree: Path, seed: int, examples: int, out: Path, claims: list[str] | None = None) -> None:
    """``verify check --json`` of the built-in claims (all, or ``claims``), with ``tree``'s code first on the path."""
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    code = ("import sys, verify, proofs; from verify.cli import main; "
            f"assert verify.__file__.startswith({str(tree)!r}), verify.__file__; sys.exit(main(sys.argv[1:]))")
    cmd = [sys.executable, "-c", code, "check", *(claims or []), "--seed", str(seed), "--examples", str(examples),
           "--device", "cpu", "--threads", "1", "--quiet", "--json", str(out)]
    result = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    if not out.exists():
        raise SystemExit(f"`verify check` in {tree} wrote no JSON (exit {result.returncode}):\n{result.stderr[-3000:]}")


def _strip(value: Any, ignored: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v, ignored) for k, v in value.items() if k not in ignored}
    if isinstance(value, list):
        return [_strip(v, ignored) for v in value]
    return value


def differences(a: Any, b: Any, path: str = "") -> Iterator[str]:
    """The paths where two JSON values differ (``numeric.worst_case.comparison.lhs`` …)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            where = f"{path}.{key}" if path else key
            if key not in a or key not in b:
                yield f"{where} (only in {'the baseline' if key in a else 'this tree'})"
            else:
                yield from differences(a[key], b[key], where)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            yield from differences(x, y, f"{path}[{i}]")
    elif a != b or type(a) is not type(b):
        yield path


def compare(old: Path, new: Path, ignored: set[str], claims: list[str] | None = None) -> dict[str, list[str]]:
    """Claim id -> differing paths, over the verdicts of two ``--json`` files (only ``claims`` if given)."""
    wanted = (lambda c: c in claims) if claims else (lambda c: True)
    before = {v["claim"]: _strip(v, ignored) for v in json.loads(old.read_text())["verdicts"] if wanted(v["claim"])}
    after = {v["claim"]: _strip(v, ignored) for v in json.loads(new.read_text())["verdicts"] if wanted(v["claim"])}
    out: dict[str, list[str]] = {}
    for claim in sorted(set(before) | set(after)):
        if claim not in before or claim not in after:
            out[claim] = [f"the claim exists only in {'the baseline' if claim in before else 'this tree'}"]
        else:
            paths = list(differences(before[claim], after[claim]))
            if paths:
                out[claim] = paths
    return out


def baseline_json(commit: str, seed: int, examples: int) -> Path:
    """The cached JSON of ``commit`` at ``seed``, computed in a temporary worktree when missing."""
    target = CACHE / commit / f"seed{seed}-examples{examples}.json"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="same_verdicts_") as tmp:
        tree = Path(tmp) / "tree"
        _git("worktree", "add", "--detach", str(tree), commit)
        try:
            run_check(tree, seed, examples, target.with_suffix(".tmp"))
            target.with_suffix(".tmp").rename(target)
        finally:
            _git("worktree", "remove", "--force", str(tree))
    return target


def report(label: str, diff: dict[str, list[str]]) -> bool:
    if not diff:
        print(f"{label}: identical")
        return True
    print(f"{label}: {len(diff)} claim(s) differ")
    for claim, paths in diff.items():
        shown = ", ".join(paths[:8]) + (f" … ({len(paths)} paths)" if len(paths) > 8 else "")
        print(f"    {claim}: {shown}")
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="f5dbfd0", help="the commit to compare with (default f5dbfd0)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--ignore", nargs="*", default=[], metavar="FIELD",
                        help="more JSON keys to leave out of the comparison (e.g. source)")
    parser.add_argument("--claims", nargs="+", default=None, metavar="ID",
                        help="compare only these claims (the baseline still runs all of them once, then is cached)")
    parser.add_argument("--repeat", action="store_true", help="also run this tree twice and compare the two runs")
    args = parser.parse_args(argv)
    commit = _git("rev-parse", args.baseline)
    ignored = set(ALWAYS_IGNORED) | set(args.ignore)
    print(f"baseline {commit[:10]} vs this tree ({ROOT}); seeds {args.seeds}, {args.examples} examples; "
          f"ignoring {sorted(ignored)}")
    same = True
    with tempfile.TemporaryDirectory(prefix="same_verdicts_") as tmp:
        for seed in args.seeds:
            old = baseline_json(commit, seed, args.examples)
            new = Path(tmp) / f"seed{seed}.json"
            run_check(ROOT, seed, args.examples, new, args.claims)
            same &= report(f"seed {seed}: baseline vs this tree", compare(old, new, ignored, args.claims))
            if args.repeat:
                again = Path(tmp) / f"seed{seed}-again.json"
                run_check(ROOT, seed, args.examples, again, args.claims)
                same &= report(f"seed {seed}: this tree vs this tree", compare(new, again, ignored, args.claims))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
