"""The claim registry: built-in claims from :mod:`proofs` and claims named by users.

Users name claims three ways (the same as ``verify check``): a registered id
(``softmax-ce-hessian``), ``path/to/file.py::NAME`` or ``package.module:NAME``.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import pkgutil
import sys
from collections.abc import Iterable
from pathlib import Path

from verify.claims.model import Claim
from verify.errors import ClaimDefinitionError, UnknownClaimError

__all__ = ["all_claims", "claim_ref", "get_claim", "load_builtin_claims", "register", "resolve_claims"]

_REGISTRY: dict[str, Claim] = {}
#: id(claim) -> the name it was resolved by (``FILE.py::NAME`` / ``pkg.mod:NAME``), for replay hints
_REFS: dict[int, str] = {}
_BUILTIN_PACKAGE = "proofs"
_loaded_builtin = False


def register(claim: Claim) -> Claim:
    """Add a claim to the registry and return it (usable as a plain call in a module).

    Raises:
        ClaimDefinitionError: if it is not a Claim, or another claim already has its id.
    """
    if not isinstance(claim, Claim):
        raise ClaimDefinitionError(f"register() takes a verify.Claim, got {type(claim).__name__}.")
    other = _REGISTRY.get(claim.id)
    if other is not None and other is not claim:
        raise ClaimDefinitionError(
            f"Two claims have the id {claim.id!r}; give one of them another id."
        )
    _REGISTRY[claim.id] = claim
    return claim


def load_builtin_claims() -> None:
    """Import every module of the built-in proof library (registering its claims)."""
    global _loaded_builtin
    if _loaded_builtin:
        return
    package = importlib.import_module(_BUILTIN_PACKAGE)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{_BUILTIN_PACKAGE}.{info.name}")
    _loaded_builtin = True


def all_claims() -> list[Claim]:
    """Every built-in (and registered) claim, sorted by id."""
    load_builtin_claims()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def get_claim(name: str) -> Claim:
    """Look a claim up by id, ``FILE.py::NAME`` or ``package.module:NAME``.

    Raises:
        UnknownClaimError: naming close matches when the id is unknown.
    """
    if "::" in name:
        path_text, _, attr = name.partition("::")
        claim = _claim_from_module(_import_path(Path(path_text)), attr, name)
        _REFS[id(claim)] = name
        return claim
    if ":" in name:
        module_name, _, attr = name.partition(":")
        if "" not in sys.path and str(Path.cwd()) not in sys.path:
            sys.path.append(str(Path.cwd()))  # as `python -m` does: modules of the current folder import
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise UnknownClaimError(
                f"Cannot import module {module_name!r} for {name!r}: {exc}. "
                "Check the module name, and run from the folder that contains it or add that folder "
                "to PYTHONPATH."
            ) from None
        claim = _claim_from_module(module, attr, name)
        _REFS[id(claim)] = name
        return claim
    load_builtin_claims()
    if name in _REGISTRY:
        return _REGISTRY[name]
    close = difflib.get_close_matches(name, list(_REGISTRY), n=5, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise UnknownClaimError(
        f"Unknown claim {name!r}.{hint} Run `verify list` to see every claim id."
    )


def resolve_claims(names: Iterable[str]) -> list[Claim]:
    """Claims for the given names, or every built-in claim when names is empty.

    Raises:
        ClaimDefinitionError: two of the named claims share an id, or a user claim takes the id
            of a different built-in claim (a replay by id would run the other one).
    """
    names = list(names)
    claims = [get_claim(n) for n in names] if names else all_claims()
    seen: dict[str, str] = {}
    for name, claim in zip(names, claims):
        if claim.id in seen and seen[claim.id] != name:
            raise ClaimDefinitionError(
                f"{seen[claim.id]!r} and {name!r} both have the id {claim.id!r}; give one of them another id "
                "(ids name the pages of the report and the claims in --replay).")
        seen[claim.id] = name
        if ("::" in name or ":" in name):
            load_builtin_claims()
            other = _REGISTRY.get(claim.id)
            if other is not None and other is not claim:
                raise ClaimDefinitionError(
                    f"{name!r} has the id {claim.id!r}, which is a built-in claim's id; give it another id.")
    return claims


def claim_ref(claim: Claim) -> str:
    """The name that finds this claim again from the command line (for replay hints).

    A registered claim's id; the ``FILE.py::NAME`` or ``pkg.mod:NAME`` it was resolved by;
    else a module attribute holding it (``path/to/file.py::NAME``); else its id.
    """
    if _REGISTRY.get(claim.id) is claim:
        return claim.id
    if id(claim) in _REFS:
        return _REFS[id(claim)]
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


def _import_path(path: Path):  # type: ignore[no-untyped-def]
    if not path.is_file():
        raise UnknownClaimError(f"No such file: {str(path)!r}. Give FILE.py::NAME with an existing file.")
    # keyed by path and content: an edited file is imported afresh in a long-lived process
    digest = hashlib.sha1(str(path.resolve()).encode() + b"\0" + path.read_bytes()).hexdigest()[:16]
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
    except Exception as exc:
        del sys.modules[module_name]
        raise UnknownClaimError(
            f"Importing {str(path)!r} raised {type(exc).__name__}: {exc}"
        ) from exc
    return module


def _claim_from_module(module, attr: str, name: str) -> Claim:  # type: ignore[no-untyped-def]
    obj = getattr(module, attr, None)
    if obj is None:
        found = sorted(k for k, v in vars(module).items() if isinstance(v, Claim))
        raise UnknownClaimError(
            f"{name!r}: the module has no attribute {attr!r}. Claims it defines: {found or 'none'}."
        )
    if callable(obj) and not isinstance(obj, Claim) and not isinstance(obj, type):
        try:
            obj = obj()
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
