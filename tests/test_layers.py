"""Layers stay layers (docs/ARCHITECTURE.md): live trading never imports the emulator, and no
module above ``exchanges/`` names an exchange (in code: docstrings and comments may cite them as
the source of a fact) or imports an exchange's own package."""

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
