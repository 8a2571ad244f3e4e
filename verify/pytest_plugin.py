"""The pytest plugin of :mod:`verify` (loaded through the ``pytest11`` entry point).

Kept light: loading it imports neither torch nor sympy. It adds the options
``--verify-examples``, ``--verify-seed``, ``--verify-device`` and
``--verify-dtype``, the ``verify_claim`` marker, the fixtures ``verify_options``,
``verify_device`` and ``verify_dtype``, and a terminal summary of verdicts
recorded with :func:`record_verdict`.
"""

from __future__ import annotations

from typing import Any

import pytest

__all__ = ["record_verdict"]

_VERDICTS_KEY = pytest.StashKey[list]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("verify", "verify: symbolic-numeric claim checking")
    group.addoption("--verify-examples", type=int, default=None,
                    help="generated cases per claim (default: each test's own modest count)")
    group.addoption("--verify-seed", type=int, default=0, help="seed of the case search (default 0)")
    group.addoption("--verify-device", default="cpu", help="auto, cpu or cuda (default cpu)")
    group.addoption("--verify-dtype", default="float64", choices=["float64", "float32"])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "verify_claim(id): the test checks the named verify claim")
    config.stash[_VERDICTS_KEY] = []


@pytest.fixture
def verify_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Options for :func:`verify.run_claim` taken from the command line."""
    config = request.config
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
def verify_device(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--verify-device"))


@pytest.fixture
def verify_dtype(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--verify-dtype"))


def record_verdict(config: pytest.Config, verdict: Any) -> None:
    """Remember a verdict for the terminal summary."""
    config.stash[_VERDICTS_KEY].append(verdict)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    verdicts = config.stash.get(_VERDICTS_KEY, [])
    if not verdicts:
        return
    terminalreporter.section("verify verdicts")
    for v in verdicts:
        terminalreporter.write_line(v.summary())
