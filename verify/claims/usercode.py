"""What verify catches around the code it runs for a user, and how it names a failure there.

``SystemExit`` is a ``BaseException``: an ``except Exception`` would let a claim side, a strategy or a
user's file that calls ``sys.exit()`` end the whole run silently, with no verdict and no JSON. Every
place that calls user code catches :data:`USER_FAILURES` instead (``KeyboardInterrupt`` still
propagates) and names the failure with :func:`describe_failure`.
"""

from __future__ import annotations

import sysconfig
import traceback

__all__ = ["USER_FAILURES", "describe_failure", "exit_site"]

#: what a call into user code may raise that becomes an ``error`` (never ``KeyboardInterrupt``)
USER_FAILURES = (Exception, SystemExit)


def exit_site(exc: BaseException) -> str:
    """``file:line in function`` where ``exc`` was raised: the innermost frame outside the standard library.

    For a ``SystemExit`` that is the line calling ``sys.exit()`` (or ``exit()``, ``quit()``).
    """
    stdlib = sysconfig.get_paths()["stdlib"]
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if not frame.filename.startswith(stdlib):
            return f"{frame.filename}:{frame.lineno} in {frame.name}"
    return f"{frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name}" if frames else "an unknown place"


def describe_failure(exc: BaseException) -> str:
    """``ValueError: … (at file:line in fn)``, or for ``sys.exit``: where it was called and why that is wrong.

    >>> try:
    ...     raise SystemExit(3)
    ... except SystemExit as exc:
    ...     describe_failure(exc).startswith("sys.exit(3) was called (at ")
    True
    """
    if isinstance(exc, SystemExit):
        return (f"sys.exit({exc.code!r}) was called (at {exit_site(exc)}); code that verify runs must return "
                "a value or raise, not end the process")
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"
