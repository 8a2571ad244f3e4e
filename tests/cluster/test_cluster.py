"""Checking on a Dask cluster (a LocalCluster here): the verdicts are those of the same shards run in one
process, claims files travel to the workers, a killed worker costs nothing, a bad cluster stops the run before
any work, and the serial path never imports Dask."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import strategies as st

import verify
from verify.check import run_claim
from verify.claims import get_claim
from verify.errors import ClusterError

distributed = pytest.importorskip("distributed", reason="Dask distributed is in the test extra")

from verify.cluster import default_shards, open_cluster, run_claims_on_cluster  # noqa: E402

HOLDS = verify.inequality("cluster-square-nonneg", statement=r"0 \le x^2", cases=st.floats(-10, 10),
                          lhs=lambda x: 0.0, rhs=lambda x: x * x)
FALSE = verify.inequality("cluster-cube-below-square", statement=r"x^3 \le x^2", expected="refuted",
                          cases=st.floats(-3, 3), lhs=lambda x: x ** 3, rhs=lambda x: x * x)


def _untimed(data):
    """The JSON without timings (the verdict's and each symbolic step's) or versions."""
    if isinstance(data, dict):
        return {k: _untimed(v) for k, v in data.items() if k not in ("elapsed_s", "versions")}
    return [_untimed(v) for v in data] if isinstance(data, list) else data


def _plain(verdict) -> dict:
    return _untimed(verdict.to_json())


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    # the workers inherit the environment when they start: keep their caches out of the user's home
    saved = {k: os.environ.get(k) for k in ("VERIFY_CACHE_DIR", "VERIFY_SYMBOLIC_CACHE")}
    os.environ["VERIFY_CACHE_DIR"] = str(tmp_path_factory.mktemp("cluster-cache"))
    os.environ["VERIFY_SYMBOLIC_CACHE"] = "0"
    try:
        with open_cluster(workers=2) as opened:
            yield opened
    finally:
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)


def test_shard_count_depends_on_the_examples_only():
    assert [default_shards(n) for n in (1, 1000, 1001, 10**4, 10**5)] == [1, 1, 2, 10, 100]


def test_cluster_verdicts_are_the_shards_run_in_one_process(client):
    claims = [HOLDS, FALSE, get_claim("seed000-ascent-update"), get_claim("descent-lemma")]
    verdicts = run_claims_on_cluster(claims, client=client, examples=40, shards=3, device="cpu")
    assert [v.claim for v in verdicts] == [c.id for c in claims]
    for claim, verdict in zip(claims, verdicts):
        local = run_claim(claim, examples=40, shards=3, device="cpu")
        assert _plain(verdict) == _plain(local), claim.id
        assert verdict.numeric["shards"]["count"] == 3
    assert [v.matches_expectation for v in verdicts] == [True] * 4
    assert verdicts[3].numeric["figures"], "descent-lemma's figures come from the merged records of its shards"


def test_a_claim_file_travels_with_the_modules_it_imports(client, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "bounds.py").write_text("def upper(x):\n    return x * x + 1.0\n")
    (folder / "my_claims.py").write_text(textwrap.dedent("""
        from hypothesis import strategies as st
        from bounds import upper
        import verify

        BOUND = verify.inequality("cluster-shipped-bound", statement=r"x^2 \\le x^2 + 1", cases=st.floats(-5, 5),
                                  lhs=lambda x: x * x, rhs=upper)
    """))
    claim = get_claim(f"{folder / 'my_claims.py'}::BOUND")
    [verdict] = run_claims_on_cluster([claim], client=client, examples=30, shards=2, device="cpu")
    assert verdict.verdict.value == "verified" and verdict.numeric["examples"] == 30
    assert verdict.ref.endswith("my_claims.py::BOUND")


def test_a_file_the_workers_cannot_import_is_refused_before_any_work(client, tmp_path, monkeypatch):
    elsewhere, folder = tmp_path / "elsewhere", tmp_path / "claims"
    elsewhere.mkdir(), folder.mkdir()
    (elsewhere / "only_on_the_client.py").write_text("SCALE = 1.0\n")
    monkeypatch.syspath_prepend(str(elsewhere))
    (folder / "needs_it.py").write_text(textwrap.dedent("""
        from hypothesis import strategies as st
        import only_on_the_client
        import verify

        C = verify.inequality("cluster-needs-module", statement="0 \\\\le 1", cases=st.floats(0, 1),
                              lhs=lambda x: 0.0, rhs=lambda x: only_on_the_client.SCALE)
    """))
    claim = get_claim(f"{folder / 'needs_it.py'}::C")
    with pytest.raises(ClusterError, match="cannot import needs_it .*only_on_the_client"):
        run_claims_on_cluster([claim], client=client, examples=10, device="cpu")


def test_workers_with_other_versions_are_refused(client):
    from verify.claims import versions
    from verify.cluster._connect import check_workers
    from verify.cluster._tasks import code_digest

    assert check_workers(client) == 2
    other = {"versions": {**versions(), "torch": "0.0.1"}, "code": code_digest()}
    with pytest.raises(ClusterError, match=r"runs torch 2\..* the client 0\.0\.1"):
        check_workers(client, expected=other)
    edited = {"versions": versions(), "code": "0" * 64}
    with pytest.raises(ClusterError, match="other verify/proofs code"):
        check_workers(client, expected=edited)


KILLER = '''
import os
import signal

from hypothesis import strategies as st

import verify

MARKER = {marker!r}


def lhs(x):
    """Kills the worker process the first time any worker evaluates it."""
    try:
        fd = os.open(MARKER, os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        return 0.0
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)


KILLS = verify.inequality("cluster-kills-a-worker", statement=r"0 \\le x^2", cases=st.floats(-3, 3), lhs=lhs,
                          rhs=lambda x: x * x)
'''


def test_a_killed_worker_costs_nothing(tmp_path):
    """A LocalCluster of its own: the first evaluation kills its worker (SIGKILL); Dask re-runs that shard."""
    marker = tmp_path / "killed"
    path = tmp_path / "killer_claims.py"
    path.write_text(KILLER.format(marker=str(marker)))
    claim = get_claim(f"{path}::KILLS")
    with open_cluster(workers=2) as own:
        before = set(own.scheduler_info()["workers"])
        [verdict] = run_claims_on_cluster([claim], client=own, examples=60, shards=4, device="cpu")
        after = set(own.scheduler_info()["workers"])
    assert marker.exists() and before != after, "a worker was killed and replaced"
    local = run_claim(claim, examples=60, shards=4, device="cpu")  # the marker is there: nothing dies now
    assert _plain(verdict) == _plain(local)
    assert verdict.verdict.value == "verified" and verdict.numeric["examples"] == 60
    assert verdict.numeric["shards"]["decided"] == [15, 15, 15, 15]


def test_the_cli_runs_on_workers_and_matches_the_serial_shards(tmp_path):
    from verify.cli import main

    names = ["seed000-ascent-update", "softmax-ce-convex"]
    on_cluster, serial = tmp_path / "cluster.json", tmp_path / "serial.json"
    common = ["--examples", "30", "--shards", "2", "--device", "cpu", "--quiet"]
    assert main(["check", *names, *common, "--workers", "2", "--json", str(on_cluster)]) == 0
    assert main(["check", *names, *common, "--json", str(serial)]) == 0
    strip = lambda path: _untimed(json.loads(path.read_text())["verdicts"])  # noqa: E731
    assert strip(on_cluster) == strip(serial)
    # the merged output is a verdicts file as any other: its counterexample replays, its report renders
    assert main(["check", "--replay", str(on_cluster), "--device", "cpu"]) == 0
    assert main(["report", "--from", str(on_cluster), "--out", str(tmp_path / "rep")]) == 0
    assert (tmp_path / "rep" / "seed000-ascent-update.html").exists()


def test_an_unreachable_scheduler_is_a_usage_error_before_any_work(monkeypatch, capsys):
    from verify.cli import main
    from verify.cluster import _connect

    monkeypatch.setattr(_connect, "CONNECT_TIMEOUT_S", 2)
    status = main(["check", "seed000-ascent-update", "--scheduler", "tcp://127.0.0.1:9", "--quiet"])
    err = capsys.readouterr().err
    assert status == 2 and "Cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'" in err and "dask scheduler" in err


def test_the_serial_path_does_not_import_dask():
    code = ("import sys; from verify.cli import main; main(['check', 'seed000-ascent-update', '--examples', '5', "
            "'--quiet']); print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_an_edited_neighbour_module_is_seen_by_long_lived_workers(client, tmp_path):
    """The claim file unchanged, the module it imports edited between two runs on the same workers: the second
    run must check the new code (a stale import would keep the old verdict)."""
    (tmp_path / "edge.py").write_text("def upper(x):\n    return x * x + 1.0\n")
    (tmp_path / "edge_claims.py").write_text(textwrap.dedent("""
        from hypothesis import strategies as st
        from edge import upper
        import verify

        BOUND = verify.inequality("cluster-edited-bound", statement=r"x^2 \\le u(x)", cases=st.floats(-5, 5),
                                  lhs=lambda x: x * x, rhs=upper)
    """))
    claim = get_claim(f"{tmp_path / 'edge_claims.py'}::BOUND")
    [first] = run_claims_on_cluster([claim], client=client, examples=30, device="cpu")
    (tmp_path / "edge.py").write_text("def upper(x):\n    return x * x - 1.0\n")  # now false everywhere
    [second] = run_claims_on_cluster([claim], client=client, examples=30, device="cpu")
    assert (first.verdict.value, second.verdict.value) == ("verified", "refuted")


def test_two_claim_files_of_one_name_are_refused(client, tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "same_name.py").write_text(textwrap.dedent(f"""
            from hypothesis import strategies as st
            import verify

            C = verify.inequality("cluster-same-name-{folder}", statement="0 \\\\le 1", cases=st.floats(0, 1),
                                  lhs=lambda x: 0.0, rhs=lambda x: 1.0)
        """))
    claims = [get_claim(f"{tmp_path / f / 'same_name.py'}::C") for f in ("a", "b")]
    with pytest.raises(ClusterError, match="both named same_name.py"):
        run_claims_on_cluster(claims, client=client, examples=5, device="cpu")


def test_a_gpu_asked_of_workers_without_one_is_refused_before_any_work(client):
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine's workers have a GPU")
    with pytest.raises(ClusterError, match="no CUDA device 0 for --device cuda"):
        run_claims_on_cluster([HOLDS], client=client, examples=5, device="cuda")


def _broken_derivation():
    raise ValueError("the derivation is broken")


BROKEN = replace(HOLDS, id="cluster-broken-symbolic", symbolic=_broken_derivation)


def test_a_failed_symbolic_part_gives_the_verdict_of_one_process(client):
    claim = BROKEN  # a module attribute: the test file travels to the workers
    [verdict] = run_claims_on_cluster([claim], client=client, examples=200, shards=4, device="cpu")
    local = run_claim(claim, examples=200, shards=4, device="cpu")
    assert verdict.verdict.value == "error" and "the derivation is broken" in verdict.message
    assert _plain(verdict) == _plain(local) and verdict.numeric is None


def test_workers_running_several_threads_are_refused():
    from distributed import Client, LocalCluster

    from verify.cluster._connect import check_workers

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as threaded:
        with pytest.raises(ClusterError, match=r"runs 2 threads .*--nthreads 1"):
            check_workers(threaded)


def test_progress_says_shards_claims_and_the_time_left():
    import io

    from verify.cluster._progress import Progress

    out = io.StringIO()
    progress = Progress(out, shards=4, claims=2, every=0.0)
    progress.shard_done()
    progress.shard_done()
    progress.claim_done("first-claim", "verified", 2)
    progress.shard_done()
    progress.shard_done()
    progress.claim_done("second-claim", "refuted", 2)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("verify: 1/4 shards, 0/2 claims done; about ")
    assert lines[2].startswith("verify: first-claim: verified (2 shards); 2/4 shards, 1/2 claims done; about ")
    assert lines[-1] == "verify: second-claim: refuted (2 shards); 4/4 shards, 2/2 claims done"
    Progress(None, 1, 1).claim_done("quiet", "verified", 1)  # no stream: nothing written, nothing raised


ALWAYS_KILLS = '''
import os
import signal

from hypothesis import strategies as st

import verify


def lhs(x):
    os.kill(os.getpid(), signal.SIGKILL)


KILLS = verify.inequality("cluster-always-kills", statement=r"0 \\le x^2", cases=st.floats(-3, 3), lhs=lhs,
                          rhs=lambda x: x * x)
'''


def test_a_shard_that_kills_every_worker_is_an_error_not_a_verdict(tmp_path):
    """Dask gives up on a task whose workers keep dying (KilledWorker): the claim's verdict is `error`, naming
    the shard — never `verified` from the shards that did come back."""
    import dask

    path = tmp_path / "always_kills.py"
    path.write_text(ALWAYS_KILLS)
    claim = get_claim(f"{path}::KILLS")
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), open_cluster(workers=2) as own:
        [verdict] = run_claims_on_cluster([claim], client=own, examples=20, shards=2, device="cpu")
    assert verdict.verdict.value == "error" and verdict.numeric is None
    assert "died each time it was tried" in verdict.message and "shard " in verdict.message
