"""The repository explains itself: what the code and tests cite is in the repository.

* nothing under ``src/``, ``tests/``, ``docs/``, ``configs/``, ``benchmarks/`` or the README points
  at the design notes kept outside the repository (a clone does not have them);
* every acceptance id a test is named after (``test_d03_...``, "E06" in a docstring) is defined in
  ``docs/ADDING_AN_EXCHANGE.md``;
* every protocol section a module or test of an exchange or of its emulator cites (``§4.3``) is a
  numbered heading of ``docs/exchanges/<exchange>.md``, and every exchange of the registry has
  that document;
* every parser fixture has its provenance row in ``tests/fixtures/README.md``.
"""

from __future__ import annotations

import re
from pathlib import Path

from perpdex.exchanges import registry

ROOT = Path(__file__).resolve().parents[1]
TEXT_SUFFIXES = {".py", ".md", ".yml", ".yaml", ".toml", ".cfg", ".ini", ".txt", ".json", ".sh"}
# spelled in pieces so that this file does not match itself
OUTSIDE = ["../" + "shared", "shared" + "/docs", "shared" + "/protocols", "shared" + "/seeds"]
ACCEPTANCE_ID = re.compile(r"(?:^|[^0-9A-Za-z])([DEFdef]\d{2})(?=[^0-9A-Za-z]|$)")
SECTION = re.compile(r"§(\d+(?:\.\d+)?)")
CITED_SECTION = re.compile(r"docs/exchanges/(\w+)\.md`{0,2},? §(\d+(?:\.\d+)?)")
HEADING = re.compile(r"^#{2,4} (\d+(?:\.\d+)?)[.\s]", re.M)


def _files(*parts: str) -> list[Path]:
    out: list[Path] = []
    for part in parts:
        p = ROOT / part
        if p.is_file():
            out.append(p)
        elif p.is_dir():
            out += [f for f in p.rglob("*") if f.is_file() and f.suffix in TEXT_SUFFIXES
                    and "__pycache__" not in f.parts]
    return out


def _sections(exchange: str) -> set[str]:
    return set(HEADING.findall((ROOT / "docs" / "exchanges" / f"{exchange}.md").read_text()))


def test_nothing_cites_files_outside_the_repository():
    offenders = []
    for f in _files("src", "tests", "docs", "configs", "benchmarks", "README.md", "Makefile", "pyproject.toml"):
        text = f.read_text(errors="replace")
        for n, line in enumerate(text.splitlines(), 1):
            if any(s in line for s in OUTSIDE):
                offenders.append(f"{f.relative_to(ROOT)}:{n}: {line.strip()[:100]}")
    assert not offenders, "cite docs/ instead:\n" + "\n".join(offenders)


def test_every_acceptance_id_used_by_a_test_is_defined():
    doc = (ROOT / "docs" / "ADDING_AN_EXCHANGE.md").read_text()
    defined = set(re.findall(r"^\s*\d+\.\s+\*\*([DEF]\d{2})\*\*", doc, re.M))
    used: dict[str, str] = {}
    for f in _files("tests"):
        if f.suffix == ".py":
            for m in ACCEPTANCE_ID.finditer(f.read_text()):
                used.setdefault(m.group(1).upper(), str(f.relative_to(ROOT)))
    assert used, "no acceptance id found in tests/: the pattern is wrong"
    missing = {i: f for i, f in used.items() if i not in defined}
    assert not missing, f"ids used by tests but not defined in docs/ADDING_AN_EXCHANGE.md: {missing}"


def test_every_exchange_has_its_protocol_document():
    for name in registry.names():
        doc = ROOT / "docs" / "exchanges" / f"{name}.md"
        assert doc.is_file(), f"docs/exchanges/{name}.md missing"
        text = doc.read_text()
        assert "https://" in text and "ccxt" in text, f"{doc.name}: links to the official docs and ccxt expected"


def test_cited_protocol_sections_exist():
    missing = []
    for name in registry.names():
        sections = _sections(name)
        for f in _files(f"src/perpdex/exchanges/{name}", f"tests/exchanges/{name}",
                        f"src/perpdex/sim/venues/{name}", f"tests/sim/venues/{name}"):
            for sec in SECTION.findall(f.read_text()):
                if sec not in sections:
                    missing.append(f"{f.relative_to(ROOT)}: §{sec} not a heading of docs/exchanges/{name}.md")
    for f in _files("src", "tests", "benchmarks", "docs"):
        for name, sec in CITED_SECTION.findall(f.read_text()):
            if sec not in _sections(name):
                missing.append(f"{f.relative_to(ROOT)}: docs/exchanges/{name}.md §{sec} is not a heading")
    assert not missing, "\n".join(sorted(set(missing)))


def test_every_fixture_has_its_provenance():
    readme = (ROOT / "tests" / "fixtures" / "README.md").read_text()
    fixtures = sorted((ROOT / "tests" / "fixtures").glob("*/*.json"))
    assert fixtures
    undocumented = [f"{f.parent.name}/{f.name}" for f in fixtures
                    if not re.search(rf"^## .*\(`{f.parent.name}/`\)$(?:(?!^## ).)*`{re.escape(f.name)}`",
                                     readme, re.M | re.S)]
    assert not undocumented, f"fixtures without a row in tests/fixtures/README.md: {undocumented}"
