"""The claim registry: built-in claims from :mod:`proofs` and claims named by users.

Users name claims three ways (the same as ``verify check``): a registered id
(``softmax-ce-hessian``), ``path/to/file.py::NAME`` or ``package.module:NAME``.

A user's file (or module) that calls ``sys.exit`` while it is imported does not end the run: each
name in it resolves to an :class:`~verify.claims.model.UnloadableClaim`, whose verdict is ``error``
naming the call, and the other claims still run. A claim library (``--library``) that exits is a
usage error (:class:`~verify.errors.UnknownClaimError`).
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import pkgutil
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from verify.claims.model import Claim, SymbolicResult, UnloadableClaim
from verify.claims.usercode import exit_site
from verify.errors import ClaimDefinitionError, UnknownClaimError

__all__ = [
    "all_claims", "claim_ref", "get_claim", "is_builtin", "library_claims", "load_builtin_claims", "register",
    "resolve_claims",
]

_REGISTRY: dict[str, Claim] = {}
#: claims of libraries named in this process (``--library``): their ids resolve, but they are not built-in
_LIBRARY: dict[str, Claim] = {}
#: id(claim) -> the name it was resolved by (``FILE.py::NAME`` / ``pkg.mod:NAME``), for replay hints
_REFS: dict[int, str] = {}
_BUILTIN_PACKAGE = "proofs"
_BUILTIN_IDS: set[str] = set()
_loaded_builtin = False


class _ImportExited(UnknownClaimError):
    """The user's file or module called ``sys.exit`` while it was imported (or its claim function was called)."""


def _exit_reason(doing: str, exc: SystemExit) -> str:
    return (f"{doing} called sys.exit({exc.code!r}) at {exit_site(exc)}. Fix: a file that verify imports must not "
            "exit; put the code that exits under `if __name__ == \"__main__\":`.")


def register(claim: Claim) -> Claim:
    """Add a claim to the registry and return it (usable as a plain call in a module).

    Raises:
        ClaimDefinitionError: if it is not a Claim, or another claim already has its id.
    """
    if not isinstance(claim, Claim):
        raise ClaimDefinitionError(f"register() takes a verify.Claim, got {type(claim).__name__}.")
    _check_free(claim)
    _REGISTRY[claim.id] = claim
    return claim


def _check_free(claim: Claim) -> None:
    other = _REGISTRY.get(claim.id) or _LIBRARY.get(claim.id)
    if other is not None and other is not claim:
        raise ClaimDefinitionError(
            f"Two claims have the id {claim.id!r}; give one of them another id."
        )


def load_builtin_claims() -> None:
    """Read the ``CLAIMS`` table of every family package of the built-in library (:mod:`proofs`)."""
    global _loaded_builtin
    if _loaded_builtin:
        return
    for claim in library_claims(_BUILTIN_PACKAGE):
        register(claim)
        _BUILTIN_IDS.add(claim.id)
    _loaded_builtin = True


def is_builtin(claim: Claim) -> bool:
    """Is this claim one of the built-in library's (so that its id finds it in any process)?"""
    load_builtin_claims()
    return claim.id in _BUILTIN_IDS and _REGISTRY.get(claim.id) is claim


def library_claims(name: str) -> list[Claim]:
    """The claims of a claim library: one family package, or a package of family packages.

    ``name`` is a dotted package name importable from the current folder (``my_families.lse``) or a
    path to the package's folder (``docs/examples/lse_smooth``). A family package exports ``CLAIMS``,
    a tuple of :class:`Claim` (see the guide "Adding a claim family"); importing it registers nothing.
    The claims are registered, so their ids resolve in the same run, and returned in table order.

    Raises:
        UnknownClaimError: the package cannot be imported or holds no ``CLAIMS`` table.
        ClaimDefinitionError: ``CLAIMS`` is malformed, or an id is taken by another claim.
    """
    package = _import_library(name)
    claims = _claims_of(package, name)
    if not claims:
        raise UnknownClaimError(
            f"{name!r} holds no claim family: a family package's __init__.py exports CLAIMS = (claim, ...), "
            "and a library package holds such packages (see the guide 'Adding a claim family').")
    if name != _BUILTIN_PACKAGE:
        separator = "::" if "/" in name or Path(name).is_dir() else ":"
        load_builtin_claims()
        for claim in claims:
            _check_free(claim)
            _LIBRARY[claim.id] = claim
            _REFS.setdefault(id(claim), f"{name}{separator}{claim.id}")  # finds it again without --library
    return claims


def _claims_of(package: ModuleType, name: str) -> list[Claim]:
    table = getattr(package, "CLAIMS", None)
    if table is not None:
        if isinstance(table, Claim) or not isinstance(table, (tuple, list)) or not all(
                isinstance(c, Claim) for c in table):
            raise ClaimDefinitionError(
                f"{package.__name__}.CLAIMS must be a tuple of verify.Claim, got {type(table).__name__}"
                f"{' with other objects in it' if isinstance(table, (tuple, list)) else ''}.")
        return list(table)
    claims: list[Claim] = []
    for info in sorted(pkgutil.iter_modules(getattr(package, "__path__", [])), key=lambda i: i.name):
        if info.ispkg and not info.name.startswith("_"):
            try:
                family = importlib.import_module(f"{package.__name__}.{info.name}")
            except SystemExit as exc:
                raise _ImportExited(_exit_reason(f"Importing {package.__name__}.{info.name}", exc)) from None
            claims += _claims_of(family, name)
    return claims


def _import_library(name: str) -> ModuleType:
    path = Path(name)
    if "/" in name or path.is_dir():
        if not (path / "__init__.py").is_file():
            raise UnknownClaimError(
                f"{name!r} is not a package folder (no __init__.py). Name a family package's folder, or its "
                "dotted name.")
        folder = str(path.resolve().parent)
        if folder not in sys.path:
            sys.path.append(folder)
        name = path.resolve().name
    elif "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.append(str(Path.cwd()))  # as `python -m` does: packages of the current folder import
    try:
        return importlib.import_module(name)
    except SystemExit as exc:
        raise _ImportExited(_exit_reason(f"Importing the claim library {name!r}", exc)) from None
    except ImportError as exc:
        raise UnknownClaimError(
            f"Cannot import the claim library {name!r}: {exc}. Give a dotted package name importable from "
            "the current folder, or the path to the package's folder.") from None
    except Exception as exc:
        raise UnknownClaimError(f"Importing the claim library {name!r} raised {type(exc).__name__}: {exc}") from exc


def all_claims() -> list[Claim]:
    """Every built-in claim (and any added with :func:`register`), sorted by id; not those of ``--library``."""
    load_builtin_claims()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def get_claim(name: str) -> Claim:
    """Look a claim up by id, ``FILE.py::NAME`` or ``package.module:NAME``.

    ``NAME`` is an attribute holding the claim, or, in a family package (``FOLDER::ID``,
    ``package:ID``), the id of a claim of its ``CLAIMS`` table. When the file or module calls
    ``sys.exit`` on import, the claim is an :class:`UnloadableClaim` (its verdict: ``error``).

    Raises:
        UnknownClaimError: naming close matches when the id is unknown.
    """
    if "::" in name or ":" in name:
        try:
            claim = _user_claim(name)
        except _ImportExited as exc:
            claim = _unloadable(name, str(exc))
        _REFS[id(claim)] = name
        return claim
    load_builtin_claims()
    if name in _REGISTRY or name in _LIBRARY:
        return _REGISTRY.get(name) or _LIBRARY[name]
    close = difflib.get_close_matches(name, [*_REGISTRY, *_LIBRARY], n=5, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise UnknownClaimError(
        f"Unknown claim {name!r}.{hint} Run `verify list` to see every claim id."
    )


def _user_claim(name: str) -> Claim:
    """The claim named ``FILE.py::NAME``, ``FOLDER::ID`` or ``package.module:NAME``."""
    if "::" in name:
        path_text, _, attr = name.partition("::")
        path = Path(path_text)
        module = _import_library(path_text) if path.is_dir() else _import_path(path)
        return _claim_from_module(module, attr, name)
    module_name, _, attr = name.partition(":")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.append(str(Path.cwd()))  # as `python -m` does: modules of the current folder import
    try:
        module = importlib.import_module(module_name)
    except SystemExit as exc:
        raise _ImportExited(_exit_reason(f"Importing {module_name!r}", exc)) from None
    except ImportError as exc:
        raise UnknownClaimError(
            f"Cannot import module {module_name!r} for {name!r}: {exc}. "
            "Check the module name, and run from the folder that contains it or add that folder "
            "to PYTHONPATH."
        ) from None
    return _claim_from_module(module, attr, name)


def _unloadable(name: str, reason: str) -> UnloadableClaim:
    """The stand-in for the claim ``name`` of a file that exits on import: id from ``NAME``, verdict ``error``."""
    attr = name.rpartition("::")[2] if "::" in name else name.rpartition(":")[2]
    claim_id = re.sub(r"[^A-Za-z0-9]+", "-", attr).strip("-") or "unloadable"
    return UnloadableClaim(id=claim_id, statement="", source=name, title=attr, symbolic=SymbolicResult,
                           reason=reason)


def resolve_claims(names: Iterable[str], libraries: Iterable[str] = ()) -> list[Claim]:
    """Claims for the given names; with no names, the claims of ``libraries`` (default: the built-in library).

    ``libraries`` are claim libraries (see :func:`library_claims`) whose claim ids then resolve too.

    Raises:
        ClaimDefinitionError: two of the named claims share an id, or a user claim takes the id
            of a different built-in claim (a replay by id would run the other one).
    """
    names = list(names)
    from_libraries = [c for lib in libraries for c in library_claims(lib)]
    if names:
        claims = [get_claim(n) for n in names]
    else:
        claims = list({id(c): c for c in from_libraries}.values()) if libraries else all_claims()
    seen: dict[str, str] = {}
    for name, claim in zip(names, claims):
        if claim.id in seen and seen[claim.id] != name:
            raise ClaimDefinitionError(
                f"{seen[claim.id]!r} and {name!r} both have the id {claim.id!r}; give one of them another id "
                "(ids name the pages of the report and the claims in --replay).")
        seen[claim.id] = name
        if ("::" in name or ":" in name) and not isinstance(claim, UnloadableClaim):
            load_builtin_claims()
            other = _REGISTRY.get(claim.id)
            if other is not None and other is not claim:
                raise ClaimDefinitionError(
                    f"{name!r} has the id {claim.id!r}, which is a built-in claim's id; give it another id.")
    return claims


def claim_ref(claim: Claim) -> str:
    """The name that finds this claim again from the command line (for replay hints).

    The ``FILE.py::NAME``, ``pkg.mod:NAME`` or library reference it was resolved by; a built-in claim's id;
    else a module attribute holding it (``path/to/file.py::NAME``); else its id.
    """
    if id(claim) in _REFS:
        return _REFS[id(claim)]
    if _REGISTRY.get(claim.id) is claim:
        return claim.id
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not path or not str(path).endswith(".py"):
            continue
        try:
            attrs = vars(module)
        except TypeError:
            continue
        for attr, value in list(attrs.items()):
            if value is claim and not attr.startswith("_"):
                return f"{path}::{attr}"
    return claim.id


def load_shipped_claim(path: Path, attr: str, key: str) -> Claim:
    """The claim ``attr`` of a file shipped to this process (a cluster's worker), imported afresh for each ``key``:
    the digest of the file and of the modules shipped with it, so an edited neighbour is seen too."""
    return _claim_from_module(_import_path(path, key), attr, f"{path}::{attr}")


def _import_path(path: Path, key: str | None = None):  # type: ignore[no-untyped-def]
    if not path.is_file():
        raise UnknownClaimError(f"No such file: {str(path)!r}. Give FILE.py::NAME with an existing file.")
    # keyed by path and content: an edited file is imported afresh in a long-lived process
    digest = key or hashlib.sha1(str(path.resolve()).encode() + b"\0" + path.read_bytes()).hexdigest()[:16]
    module_name = f"_verify_user_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UnknownClaimError(f"Cannot load {str(path)!r} as a Python module.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.append(folder)  # the file may import its neighbours, as it would when run as a script
    try:
        spec.loader.exec_module(module)
    except SystemExit as exc:
        del sys.modules[module_name]
        raise _ImportExited(_exit_reason(f"Importing {str(path)!r}", exc)) from None
    except Exception as exc:
        del sys.modules[module_name]
        raise UnknownClaimError(
            f"Importing {str(path)!r} raised {type(exc).__name__}: {exc}"
        ) from exc
    return module


def _claim_from_module(module, attr: str, name: str) -> Claim:  # type: ignore[no-untyped-def]
    obj = getattr(module, attr, None)
    if obj is None:
        by_id = {c.id: c for c in _claims_of(module, name)} if hasattr(module, "__path__") else {}
        if attr in by_id:
            return by_id[attr]
        found = sorted(k for k, v in vars(module).items() if isinstance(v, Claim)) + sorted(by_id)
        raise UnknownClaimError(
            f"{name!r}: the module has no attribute {attr!r}. Claims it defines: {found or 'none'}."
        )
    if callable(obj) and not isinstance(obj, Claim) and not isinstance(obj, type):
        try:
            obj = obj()
        except SystemExit as exc:
            raise _ImportExited(_exit_reason(f"Calling {name!r}", exc)) from None
        except Exception as exc:
            raise UnknownClaimError(
                f"{name!r} is a function, and calling it with no arguments raised {type(exc).__name__}: {exc}. "
                "Name a verify.Claim, or a function of no arguments that returns one."
            ) from None
    if not isinstance(obj, Claim):
        raise UnknownClaimError(
            f"{name!r} is of type {type(obj).__name__}, not a verify.Claim (or a function returning one)."
        )
    return obj
