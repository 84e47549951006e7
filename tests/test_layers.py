"""Layers stay layers (docs/ARCHITECTURE.md): live trading never imports the emulator, and no
module above ``exchanges/`` names an exchange (in code: docstrings and comments may cite them as
the source of a fact) or imports an exchange's own package."""

from __future__ import annotations

import ast
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
