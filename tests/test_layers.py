"""Layers stay layers (docs/ARCHITECTURE.md): live trading never imports the emulator,
``exchanges/`` never imports ``sim/`` (the emulated venues live in ``sim/venues/``), and no
module above ``exchanges/`` names an exchange (in code: docstrings and comments may cite them as
the source of a fact) or imports an exchange's own package. One piece of code per job
(ARCHITECTURE.md, "Naming"): no module imports another's ``_private`` name, no object calls into
another class's ``_private`` members, no caller probes for a capability by catching
``NotImplementedError``, and no method is named ``get_*`` (``fetch_*`` goes over the network, a
plain name reads local state)."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "perpdex"
EXCHANGES = {"aster", "lighter", "backpack", "paradex"}
ABOVE = ("runtime", "strategies", "execution", "funding", "backtest")


def test_live_trading_does_not_import_the_emulator():
    code = ("import sys\n"
            "import perpdex.cli.main, perpdex.app, perpdex.strategies.build, perpdex.runtime.orders, perpdex.api.app\n"
            "from perpdex.exchanges import registry\n"
            "for n in ('aster', 'lighter', 'backpack', 'paradex'):\n"
            "    registry.client_class(n); registry.funding_class(n)\n"
            "print(sorted(m for m in sys.modules if m.startswith('perpdex.sim') or m.endswith('.emulator')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _code_strings(tree: ast.AST) -> list[str]:
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and id(n) not in docstrings]


def test_no_module_above_exchanges_names_an_exchange():
    offenders = []
    for pkg in ABOVE:
        for path in (SRC / pkg).rglob("*.py"):
            tree = ast.parse(path.read_text())
            for s in _code_strings(tree):
                if s.lower() in EXCHANGES:
                    offenders.append(f"{path.relative_to(SRC)}: {s!r}")
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module and any(
                        part in EXCHANGES for part in node.module.split(".")):
                    offenders.append(f"{path.relative_to(SRC)}: imports {node.module}")
    assert not offenders, offenders


def _imported_modules(path: Path) -> list[str]:
    """Absolute names of every module ``path`` imports: top level and inside functions, relative
    imports resolved against the module's own package, and module names spelled as strings (for
    ``importlib.import_module``)."""
    package = ".".join(("perpdex", *path.relative_to(SRC).with_suffix("").parts))
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = parts[:len(parts) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            out += [module] + [f"{module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("perpdex."):
            out.append(node.value)
    return out


def _is_sim(module: str) -> bool:
    return module == "perpdex.sim" or module.startswith("perpdex.sim.")


def test_exchanges_never_import_the_simulator():
    offenders = [f"{path.relative_to(SRC)}: imports {name}"
                 for path in sorted((SRC / "exchanges").rglob("*.py"))
                 for name in _imported_modules(path) if _is_sim(name)]
    assert not offenders, offenders


def test_importing_an_exchange_package_loads_no_simulator_module():
    """Each exchange package and every module in it, imported in a fresh interpreter."""
    for name in sorted(EXCHANGES):
        code = ("import importlib, pkgutil, sys\n"
                f"pkg = importlib.import_module('perpdex.exchanges.{name}')\n"
                "for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
                "    importlib.import_module(info.name)\n"
                "print(sorted(m for m in sys.modules if m == 'perpdex.sim' or m.startswith('perpdex.sim.')))\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert out.strip() == "[]", f"perpdex.exchanges.{name} loads {out.strip()}"


def test_every_exchange_has_an_emulator():
    from perpdex.exchanges import registry
    from perpdex.sim import venues

    assert venues.names() == registry.names()
    for name in venues.names():
        assert venues.emulator_class(name).__module__.startswith(f"perpdex.sim.venues.{name}.")


def _modules() -> list[tuple[str, ast.Module]]:
    return [(str(path.relative_to(SRC)), ast.parse(path.read_text())) for path in sorted(SRC.rglob("*.py"))]


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _emulated(rel: str) -> bool:
    """The simulator and the emulated venues: one unit whose modules share private helpers and
    drive the venue engine from outside by design (not trading code)."""
    return rel.startswith("sim/") or rel.endswith("emulator.py")


def test_no_module_imports_another_modules_private_name():
    offenders = [f"{rel}:{node.lineno}: from {'.' * node.level}{node.module or ''} import {alias.name}"
                 for rel, tree in _modules() if not _emulated(rel)
                 for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                 for alias in node.names if _is_private(alias.name)]
    assert not offenders, offenders


#: modules whose classes still share private state with a partner class of the same module (the
#: recording tap's session/request wrappers, the replay cursor, the writer's channels)
PRIVATE_ACCESS_KNOWN = {"recording/tap.py", "recording/transport.py", "recording/writer.py"}


def test_no_object_reaches_into_another_class_private_members():
    offenders = []
    for rel, tree in _modules():
        if rel in PRIVATE_ACCESS_KNOWN or _emulated(rel):
            continue
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and _is_private(node.attr)):
                continue
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "super":
                continue
            offenders.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
    assert not offenders, offenders


def test_no_capability_probing_with_not_implemented_error():
    """Every exchange implements the whole interface (tests/exchanges/test_registry.py), so no
    code treats NotImplementedError as "unsupported": it only ever means a programming error."""
    offenders = []
    for rel, tree in _modules():
        for node in ast.walk(tree):
            caught: list[ast.expr] = []
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                caught = list(node.type.elts) if isinstance(node.type, ast.Tuple) else [node.type]
            elif isinstance(node, ast.Call) and ast.unparse(node.func).endswith("suppress"):
                caught = list(node.args)
            if any(isinstance(c, ast.Name) and c.id == "NotImplementedError" for c in caught):
                offenders.append(f"{rel}:{node.lineno}")
    assert not offenders, offenders


def test_no_method_is_named_get():
    offenders = [f"{rel}:{fn.lineno}: {cls.name}.{fn.name}" for rel, tree in _modules()
                 for cls in ast.walk(tree) if isinstance(cls, ast.ClassDef)
                 for fn in cls.body if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and fn.name.startswith("get_")]
    assert not offenders, offenders


def _session_name(node: ast.expr) -> str | None:
    """``session`` / ``self._session`` / ``http`` ... -> that name; None for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def test_an_exchange_sends_rest_requests_only_through_its_rest_module():
    """One REST client per exchange: ``exchanges/<name>/rest.py`` subclasses the shared
    ``exchanges/http.py`` ``RestClient``, and no other module of the exchange (its emulator aside)
    creates an HTTP session, defines its own ``get_json`` or GETs through a session itself."""
    from perpdex.exchanges.http import RestClient

    offenders = []
    for name in sorted(EXCHANGES):
        rest = importlib.import_module(f"perpdex.exchanges.{name}.rest")
        if not any(isinstance(v, type) and issubclass(v, RestClient) and v.exchange == name for v in vars(rest).values()):
            offenders.append(f"exchanges/{name}/rest.py: no RestClient subclass for {name}")
        for path in sorted((SRC / "exchanges" / name).glob("*.py")):
            if path.name == "emulator.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                where = f"{path.relative_to(SRC)}:{getattr(node, 'lineno', '?')}"
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in ("get_json", "_get_json_once"):
                    offenders.append(f"{where}: defines {node.name}")
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    if node.func.attr == "ClientSession":
                        offenders.append(f"{where}: creates an aiohttp session")
                    elif node.func.attr in ("get", "post", "request") and \
                            _session_name(node.func.value) in ("session", "_session", "http", "_http"):
                        offenders.append(f"{where}: sends a request through a session")
    assert not offenders, offenders
