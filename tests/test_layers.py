"""The packages are layers, and imports only go down.

    format, host  <  store  <  live  <  mount  <  cli

`format` (claw's bytes) and `host` (facts about the machine) import nothing
else of clawfs; `store` knows files and claw's rules but no FUSE and no
trio; `live` may use trio but not pyfuse3. Every import is checked, those
inside functions too, by reading the source with `ast`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from storegen import REPO

PACKAGE = REPO / "clawfs"
RANK = {"format": 0, "host": 0, "store": 1, "live": 2, "mount": 3, "cli": 4}
FORBIDDEN = {
    "format": {"pyfuse3", "trio"},
    "host": {"pyfuse3", "trio"},
    "store": {"pyfuse3", "trio"},
    "live": {"pyfuse3"},
}


def imported(source: str) -> list[str]:
    """Every module an `import` or `from ... import` in `source` names."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def violations(layer: str, source: str) -> list[str]:
    """What in `source`, a module of package `layer`, imports upward or sideways
    into a layer of the same rank, or imports what the layer must not know."""
    found = []
    for name in imported(source):
        top, _, rest = name.partition(".")
        if top in FORBIDDEN.get(layer, set()):
            found.append(f"imports {top}")
        if top != "clawfs" or not rest:
            continue
        other = rest.split(".")[0]
        if other == layer or other not in RANK:
            continue  # its own package, or a name from clawfs/__init__ (__version__)
        if RANK[other] >= RANK[layer]:
            found.append(f"imports clawfs.{other} ({name})")
    return sorted(set(found))


def modules() -> list[tuple[str, Path]]:
    return [
        (path.relative_to(PACKAGE).parts[0], path)
        for path in sorted(PACKAGE.rglob("*.py"))
        if len(path.relative_to(PACKAGE).parts) > 1
    ]


def test_every_package_is_a_layer() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(RANK)
    assert {path.name for path in PACKAGE.glob("*.py")} == {"__init__.py", "__main__.py"}


@pytest.mark.parametrize(
    ("layer", "path"), modules(), ids=[str(p.relative_to(PACKAGE)) for _, p in modules()]
)
def test_imports_only_go_down(layer: str, path: Path) -> None:
    assert violations(layer, path.read_text(encoding="utf-8")) == []


def test_the_check_catches_what_it_must() -> None:
    assert violations("format", "from clawfs.store import order") == [
        "imports clawfs.store (clawfs.store)",
        "imports clawfs.store (clawfs.store.order)",
    ]
    assert violations("store", "def f():\n    import trio\n") == ["imports trio"]
    assert violations("store", "from pyfuse3 import FUSEError") == ["imports pyfuse3"]
    upward = violations("live", "import clawfs.mount.view")
    assert upward == ["imports clawfs.mount (clawfs.mount.view)"]
    assert violations("format", "from clawfs.host import mounts") != []
    assert violations("mount", "from clawfs.store.index import StoreIndex\nimport trio") == []
    assert violations("cli", "from clawfs import __version__") == []
