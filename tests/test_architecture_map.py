"""docs/architecture.md's package map names every module of tide/, and only modules that exist."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "tide"


def _map_section() -> str:
    text = (REPO / "docs" / "architecture.md").read_text()
    start = text.index("## Package map")
    return text[start:text.index("\n## ", start + 1)]


def _named(section: str) -> set[str]:
    """Module paths relative to tide/ in the map: `tide/x.py` rows and `pkg/x.py` rows."""
    names = set()
    for token in re.findall(r"`([\w/]+\.py)`", section):
        if not token.startswith("tests/"):
            names.add(token.removeprefix("tide/"))
    return names


def test_every_module_of_tide_is_in_the_map_and_every_entry_exists():
    modules = {p.relative_to(PKG).as_posix() for p in PKG.rglob("*.py")
               if "tasks" not in p.relative_to(PKG).parts}  # eval/tasks: lm-eval's task files
    # a subpackage's __init__ is its docstring; the map's table heading says the same
    required = {m for m in modules if not m.endswith("/__init__.py")}
    named = _named(_map_section())
    missing = sorted(required - named)
    assert not missing, f"modules missing from docs/architecture.md: {missing}"
    assert not named - modules, f"map entries with no such module: {sorted(named - modules)}"
