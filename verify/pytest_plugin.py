"""The pytest plugin of :mod:`verify` (loaded through the ``pytest11`` entry point).

Kept light: loading it imports neither torch nor sympy. It adds

* options ``--verify-examples``, ``--verify-seed``, ``--verify-device``, ``--verify-dtype``,
  ``--verify-workers K`` / ``--verify-scheduler ADDRESS`` (each claim's shards on a Dask cluster: a local one
  of K processes, or an existing one; not combined with xdist's ``-n``), ``--verify-report DIR`` (write the
  proof report of every verdict of the run) and
  ``--verify-library PKG`` (collect one test per claim of a claim library: a family package
  exporting ``CLAIMS``, or a package of them, by dotted name or folder);
* the ``verify_check`` fixture: ``verify_check(claim_or_name)`` runs a claim with those
  options, records its verdict and fails the test with a readable account (what was
  expected, the worst numbers, the counterexample and how to replay it) when the verdict
  does not match the claim's expectation;
* fixtures ``verify_options``, ``verify_device``, ``verify_dtype``; the ``verify_claim`` marker;
* a terminal summary of verdicts.

Under pytest-xdist each worker attaches its verdicts (as JSON) to the test reports, which
travel to the controller; the controller alone prints the summary and writes the report,
so ``pytest -n 2 --verify-report DIR`` gives one report with every verdict (a verdict
recorded by a fixture, in setup or teardown, too).

An interrupted session (Ctrl-C, or SIGTERM, which the plugin turns into an interrupt when a
report is asked for) leaves ``DIR`` untouched: the verdicts that finished go to ``DIR.partial``,
marked interrupted, and pytest exits with 130 (SIGINT) or 143 (SIGTERM), as ``verify report`` does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

__all__ = ["ClaimItem", "record_verdict"]

_VERDICTS_KEY = pytest.StashKey[list]()
_PROPERTY = "verify_verdict"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("verify", "verify: symbolic-numeric claim checking")
    group.addoption("--verify-examples", type=int, default=None,
                    help="generated cases per claim (default: each test's own modest count)")
    group.addoption("--verify-seed", type=int, default=0, help="seed of the case search (default 0)")
    group.addoption("--verify-device", default="cpu", help="auto, cpu or cuda (default cpu)")
    group.addoption("--verify-dtype", default="float64", choices=["float64", "float32"])
    group.addoption("--verify-report", default=None, metavar="DIR",
                    help="write the proof report (HTML, Markdown, verdicts.json) of the run's verdicts to DIR")
    group.addoption("--verify-workers", type=int, default=None, metavar="K",
                    help="run each claim's shards on a local Dask cluster of K worker processes (not with xdist's -n)")
    group.addoption("--verify-scheduler", default=None, metavar="ADDRESS",
                    help="run each claim's shards on the Dask cluster at ADDRESS (not with xdist's -n)")
    group.addoption("--verify-library", action="append", default=[], metavar="PKG",
                    help="collect one test per claim of this claim library (a family package exporting CLAIMS, or a "
                         "package of them; dotted name or folder); repeatable")


def _validate_options(config: pytest.Config) -> None:
    """Bad --verify-* values stop the session at once, not in every test."""
    examples = config.getoption("--verify-examples")
    if examples is not None and examples < 1:
        raise pytest.UsageError(f"--verify-examples {examples}: give a whole number >= 1.")
    device = str(config.getoption("--verify-device"))
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
        raise pytest.UsageError(f"--verify-device {device!r}: valid values are auto, cpu, cuda and cuda:N.")
    _validate_cluster_options(config)
    report = config.getoption("--verify-report")
    if report:
        target = Path(report)
        if target.exists() and not target.is_dir():
            raise pytest.UsageError(f"--verify-report {report!r} is a file; give a folder for the report.")
        from verify.errors import VerifyError
        from verify.report.outputs import check_output_folder

        try:
            check_output_folder(report, "--verify-report")
        except VerifyError as exc:
            raise pytest.UsageError(str(exc)) from None


def _validate_cluster_options(config: pytest.Config) -> None:
    workers, scheduler = config.getoption("--verify-workers"), config.getoption("--verify-scheduler")
    if workers is not None and workers < 1:
        raise pytest.UsageError(f"--verify-workers {workers}: give a whole number >= 1.")
    if workers is not None and scheduler is not None:
        raise pytest.UsageError("Give --verify-workers K (a local cluster) or --verify-scheduler ADDRESS, not both.")
    if (workers is not None or scheduler is not None) and (getattr(config.option, "numprocesses", None)
                                                           or _is_xdist_worker(config)):
        raise pytest.UsageError("--verify-workers/--verify-scheduler and xdist's -n both spread the work: use one "
                                "or the other (with a cluster, run pytest without -n).")


def _cluster(config: pytest.Config) -> Any:
    """The session's Dask client (opened at the first claim), or None without --verify-workers/--verify-scheduler."""
    workers, scheduler = config.getoption("--verify-workers"), config.getoption("--verify-scheduler")
    if workers is None and scheduler is None:
        return None
    if _CLIENT_KEY not in config.stash:
        import contextlib

        from verify.cluster import open_cluster
        from verify.errors import VerifyError

        stack = contextlib.ExitStack()
        try:
            config.stash[_CLIENT_KEY] = stack.enter_context(open_cluster(workers, scheduler))
        except VerifyError as exc:
            pytest.exit(f"verify: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
        config.add_cleanup(stack.close)
    return config.stash[_CLIENT_KEY]


def pytest_configure(config: pytest.Config) -> None:
    _validate_options(config)
    config.addinivalue_line("markers", "verify_claim(id): the test checks the named verify claim")
    config.stash[_VERDICTS_KEY] = []
    config.pluginmanager.register(_Collector(config), "verify-verdict-collector")
    if config.getoption("--verify-report") and not _is_xdist_worker(config):
        from verify.report.outputs import catch_signals

        config.stash[_RESTORE_KEY] = catch_signals()  # SIGTERM too ends the session through the partial report


def pytest_unconfigure(config: pytest.Config) -> None:
    config.stash.get(_RESTORE_KEY, lambda: None)()


def _options(config: pytest.Config) -> dict[str, Any]:
    options: dict[str, Any] = {
        "seed": config.getoption("--verify-seed"),
        "device": config.getoption("--verify-device"),
        "dtype": config.getoption("--verify-dtype"),
    }
    examples = config.getoption("--verify-examples")
    if examples is not None:
        options["examples"] = examples
    return options


@pytest.fixture
def verify_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Options for :func:`verify.run_claim` taken from the command line."""
    return _options(request.config)


@pytest.fixture
def verify_device(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--verify-device"))


@pytest.fixture
def verify_dtype(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--verify-dtype"))


@pytest.fixture
def verify_check(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Run a claim (a ``verify.Claim``, a claim id, ``FILE.py::NAME`` or ``pkg.mod:NAME``).

    ``verify_check(claim, examples=30)`` returns the Verdict; options given here are
    defaults that the command line (``--verify-examples`` …) overrides. The test fails with
    :meth:`verify.Verdict.explain` when the verdict does not match the expectation.
    """

    def run(claim: Any, **defaults: Any) -> Any:
        from verify.claims import Claim, get_claim

        name = claim if isinstance(claim, str) else None
        claim_obj = get_claim(claim) if isinstance(claim, str) else claim
        if not isinstance(claim_obj, Claim):
            raise TypeError(f"verify_check() takes a verify.Claim or a claim name, got {type(claim).__name__}.")
        node = request.node if isinstance(request.node, pytest.Item) else None
        return _run_and_record(request.node, claim_obj, name, defaults, node)

    return run


def _run_and_record(item: pytest.Node, claim: Any, name: str | None, defaults: dict[str, Any],
                    node: pytest.Item | None, batch: list[Any] | None = None) -> Any:
    """Run ``claim`` (on the session's cluster, if any, with the claims of ``batch`` — the library items still
    to run — so that they run concurrently there), record its verdict, fail the test when it does not match."""
    options = {**defaults, **_options(item.config)}
    client = _cluster(item.config)
    if client is None:
        from verify.check import run_claim

        verdict = run_claim(claim, **options)
    else:
        verdict = _cluster_verdict(item, client, claim, batch or [], options)
    record_verdict(item.config, verdict, node=node)
    if not verdict.matches_expectation:
        pytest.fail(verdict.explain(name), pytrace=False)
    return verdict


def _cluster_verdict(item: pytest.Node, client: Any, claim: Any, batch: list[Any], options: dict[str, Any]) -> Any:
    """The claim's verdict from the cluster; the first library item runs every library item's claim at once."""
    from verify.cluster import run_claims_on_cluster

    done = item.config.stash.setdefault(_BATCH_KEY, {})
    if id(claim) not in done:
        claims = list({id(c): c for c in (claim, *batch) if id(c) not in done}.values())
        done.update({id(c): v for c, v in zip(claims, run_claims_on_cluster(claims, client=client, **options))})
    if id(claim) not in done:
        raise KeyboardInterrupt  # interrupted before this claim finished: the run's own way of saying so
    return done[id(claim)]


class ClaimItem(pytest.Item):
    """One claim of a ``--verify-library`` library, run as a test (passes iff its verdict matches)."""

    def __init__(self, *, claim: Any, library: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.claim, self.library = claim, library
        self.add_marker(pytest.mark.verify_claim(claim.id))

    def runtest(self) -> None:
        from verify.claims import claim_ref

        library = [i.claim for i in self.session.items if isinstance(i, ClaimItem)]
        _run_and_record(self, self.claim, claim_ref(self.claim), {}, self, batch=library)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"verify claim {self.claim.id} (library {self.library})"


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    from verify.errors import VerifyError

    for library in config.getoption("--verify-library"):
        from verify.claims import library_claims

        try:
            claims = library_claims(library)
        except VerifyError as exc:
            raise pytest.UsageError(f"--verify-library {library}: {exc}") from None
        items += [ClaimItem.from_parent(session, name=f"verify[{claim.id}]", claim=claim, library=library)
                  for claim in claims]


def record_verdict(config: pytest.Config, verdict: Any, node: pytest.Item | None = None) -> None:
    """Remember a verdict for the summary and the report.

    With ``node`` (the test item) the verdict rides on the test report, which also works
    under pytest-xdist; without it, it is kept in this process only.
    """
    if node is not None:
        node.user_properties.append((_PROPERTY, json.dumps(verdict.to_json())))
    else:
        config.stash[_VERDICTS_KEY].append(verdict)


class _Collector:
    """Collects verdicts from test reports (this process's, or xdist workers' on the controller).

    A test's ``user_properties`` accumulate over its setup, call and teardown reports, so each
    report adds only the verdicts its test's earlier reports did not carry (a fixture's come in setup).
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.taken: dict[str, int] = {}  # nodeid -> verdicts already taken from its reports

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        payloads = [value for key, value in getattr(report, "user_properties", ()) if key == _PROPERTY]
        new = payloads[self.taken.get(report.nodeid, 0):]
        if not new:
            return
        self.taken[report.nodeid] = len(payloads)
        from verify.claims import Verdict

        for payload in new:
            self.config.stash[_VERDICTS_KEY].append(Verdict.from_json(json.loads(payload)))

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        from verify.report.outputs import received_signal

        stop = received_signal(excinfo.value) if isinstance(excinfo.value, KeyboardInterrupt) else 0
        self.config.stash[_STOP_KEY] = stop  # 0: pytest.exit(), a partial report but pytest's own status


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    out = config.getoption("--verify-report")
    if not out or _is_xdist_worker(config):
        return
    from verify.report.html import verdict_order

    verdicts = sorted(config.stash.get(_VERDICTS_KEY, []), key=verdict_order)
    stop = config.stash.get(_STOP_KEY, None)
    if stop:
        session.exitstatus = 128 + stop
    if not verdicts:
        return
    from verify.errors import VerifyError
    from verify.report import write_report

    try:
        index = write_report(verdicts, Path(out), interrupted=stop is not None)
        config.stash[_REPORT_KEY] = str(index) + (f" (interrupted: partial, {out} untouched)" if stop is not None
                                                  else "")
    except KeyboardInterrupt:  # a second interrupt: the partial report is not written either, DIR is untouched
        config.stash[_REPORT_KEY] = f"NOT written: interrupted again; {out} untouched"
    except (VerifyError, OSError) as exc:
        config.stash[_REPORT_KEY] = f"NOT written: {exc}"
        session.exitstatus = pytest.ExitCode.TESTS_FAILED if exitstatus == 0 else exitstatus


_REPORT_KEY = pytest.StashKey[str]()
_CLIENT_KEY = pytest.StashKey[Any]()
_BATCH_KEY = pytest.StashKey[dict]()  # id(claim) -> its verdict, run with the first library item on a cluster
_STOP_KEY = pytest.StashKey[int]()
_RESTORE_KEY = pytest.StashKey[Callable[[], None]]()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    verdicts = config.stash.get(_VERDICTS_KEY, [])
    if not verdicts or _is_xdist_worker(config):
        return
    terminalreporter.section("verify verdicts")
    from verify.report.html import verdict_order

    for v in sorted(verdicts, key=verdict_order):
        terminalreporter.write_line(v.summary())
    matched = sum(v.matches_expectation for v in verdicts)
    terminalreporter.write_line(f"{matched} of {len(verdicts)} verdicts match their expectation")
    report = config.stash.get(_REPORT_KEY, None)
    if report:
        terminalreporter.write_line(f"verify report: {report}")
