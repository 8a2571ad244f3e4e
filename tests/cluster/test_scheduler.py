"""A cluster started by hand (``dask scheduler`` and two ``dask worker`` processes), reached by its address,
and the pytest plugin's cluster options."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed", reason="Dask distributed is in the test extra")

DASK = Path(sys.executable).parent / "dask"
CLAIMS = textwrap.dedent("""
    import math

    import verify
    from helpers import log_sum_exp

    LSE_BOUND = verify.inequality(
        "hand-lse-bound", statement=r"\\mathrm{lse}(z) \\le \\max z + \\log k", cases=verify.logits,
        lhs=log_sum_exp, rhs=lambda z: float(z.max()) + math.log(len(z)))
    LSE_HALF = verify.inequality(
        "hand-lse-half-bound", statement=r"\\mathrm{lse}(z) \\le \\max z + \\tfrac12\\log k", cases=verify.logits,
        expected="refuted", lhs=log_sum_exp, rhs=lambda z: float(z.max()) + 0.5 * math.log(len(z)))
""")
HELPERS = "import torch\n\n\ndef log_sum_exp(z):\n    return torch.logsumexp(torch.as_tensor(z), -1)\n"


@pytest.fixture
def scheduler(tmp_path):
    """The address of a scheduler with two single-threaded workers, each a process of its own."""
    if not DASK.exists():
        pytest.skip(f"no dask command next to {sys.executable}")
    env = {**os.environ, "VERIFY_CACHE_DIR": str(tmp_path / "cache"), "VERIFY_SYMBOLIC_CACHE": "0"}
    file = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([str(DASK), "scheduler", "--scheduler-file", str(file), "--port", "0",
                               "--dashboard-address", ":0"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 60
        while not file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        procs += [subprocess.Popen([str(DASK), "worker", "--scheduler-file", str(file), "--nthreads", "1",
                                    "--nworkers", "1"], env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL) for _ in range(2)]
        from distributed import Client

        address = json.loads(file.read_text())["address"]
        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for proc in procs[1:]:
            proc.kill()  # the workers: nothing of theirs to keep
        procs[0].terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_a_scheduler_started_by_hand_runs_a_user_claim_file(scheduler, tmp_path, monkeypatch):
    from verify.cli import main

    (tmp_path / "helpers.py").write_text(HELPERS)
    (tmp_path / "my_claims.py").write_text(CLAIMS)
    monkeypatch.chdir(tmp_path)
    names = ["my_claims.py::LSE_BOUND", "my_claims.py::LSE_HALF", "seed000-ascent-update"]
    common = ["--examples", "120", "--shards", "3", "--device", "cpu", "--quiet"]
    assert main(["check", *names, *common, "--scheduler", scheduler, "--json", "cluster.json"]) == 0
    assert main(["check", *names, *common, "--json", "serial.json"]) == 0

    def untimed(data):
        if isinstance(data, dict):
            return {k: untimed(v) for k, v in data.items() if k not in ("elapsed_s", "versions")}
        return [untimed(v) for v in data] if isinstance(data, list) else data

    cluster, serial = (json.loads(Path(name).read_text())["verdicts"] for name in ("cluster.json", "serial.json"))
    assert untimed(cluster) == untimed(serial)
    assert [v["verdict"] for v in cluster] == ["verified", "refuted", "refuted"]


PLUGIN_TEST = """
import verify
from hypothesis import strategies as st

HOLDS = verify.inequality("plugin-square-nonneg", statement=r"0 \\le x^2", cases=st.floats(-3, 3),
                          lhs=lambda x: 0.0, rhs=lambda x: x * x)


def test_on_the_cluster(verify_check):
    verdict = verify_check(HOLDS, examples=40, shards=2)
    assert verdict.numeric["shards"]["count"] == 2 and verdict.numeric["examples"] == 40
"""


def test_the_pytest_plugin_runs_claims_on_a_local_cluster(pytester):
    pytester.makepyfile(test_user=PLUGIN_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning",
                                           "--verify-workers", "2")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*plugin-square-nonneg: verified*"])


def test_the_plugin_refuses_a_cluster_together_with_xdist(pytester):
    pytest.importorskip("xdist", reason="pytest-xdist is in the test extra")
    pytester.makepyfile(test_user=PLUGIN_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--verify-workers", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--verify-workers/--verify-scheduler and xdist's -n both spread the work*"])


def test_an_interrupt_cancels_the_shards_and_keeps_the_old_report(tmp_path):
    """SIGINT to ``verify report --workers 2`` once a verdict is out: exit 130, the old report untouched, what
    finished in the partial one (the rule of every writer, tests/test_interrupts.py)."""
    import signal

    from tests.test_interrupts import (
        CLAIMS,
        SLOW_CLAIMS,
        _assert_marked_partial,
        _interrupt,
        _old_report,
        _snapshot,
        _verify,
    )

    (tmp_path / "slow_claims.py").write_text(SLOW_CLAIMS)
    before = _old_report(tmp_path / "rep")
    argv = _verify("report", *CLAIMS, "--examples", "3", "--device", "cpu", "--workers", "2", "--out", "rep")
    code, out, err = _interrupt(argv, tmp_path, signal.SIGINT, "slow-a")
    assert code == 130, out + err
    assert _snapshot(tmp_path / "rep") == before
    _assert_marked_partial(tmp_path / "rep.partial")
    assert "Traceback" not in err


def test_library_items_run_concurrently_on_the_cluster(tmp_path):
    """``--verify-library`` with ``--verify-workers``: the first item runs every item's claim on the cluster at once
    (one claim at a time would keep all but one worker idle); each item still passes or fails on its own."""
    library = Path(__file__).resolve().parents[2] / "docs" / "examples" / "lse_smooth"
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--verify-examples", "20",
                             "--verify-library", str(library), "--verify-workers", "2"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "3 passed" in result.stdout and "3 of 3 verdicts match their expectation" in result.stdout
