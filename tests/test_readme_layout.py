"""The README's "How it is built" table names exactly the modules there are.

A newcomer reads the architecture from that table; a module added, moved
or removed without it changing makes the table lie. So every package of
`clawfs/` has a row, and each row's modules column names (as `name.py`)
exactly the modules of that package (`__init__.py` aside).
"""

from __future__ import annotations

import re

from storegen import REPO

PACKAGE = REPO / "clawfs"
SECTION = "## How it is built"
ROW = re.compile(r"^\| `clawfs/(?P<package>\w+)/` \| (?P<modules>.*?) \|[^|]*\|$")
MODULE = re.compile(r"`(\w+\.py)`")


def table(readme: str) -> dict[str, set[str]]:
    """package -> the modules its row names, from the README's section."""
    _, found, rest = readme.partition(SECTION)
    assert found, f"the README has no {SECTION!r} section"
    section = rest.split("\n## ", 1)[0]
    rows: dict[str, set[str]] = {}
    for line in section.splitlines():
        match = ROW.match(line)
        if match is not None:
            assert match["package"] not in rows, f"two rows for {match['package']}"
            rows[match["package"]] = set(MODULE.findall(match["modules"]))
    return rows


def on_disk() -> dict[str, set[str]]:
    """package -> its modules, from the tree."""
    return {
        package.name: {m.name for m in package.glob("*.py") if m.name != "__init__.py"}
        for package in sorted(PACKAGE.iterdir())
        if (package / "__init__.py").is_file()
    }


def differences(rows: dict[str, set[str]], tree: dict[str, set[str]]) -> list[str]:
    """What the table and the tree disagree on, one line each."""
    found = []
    for package in sorted(rows.keys() | tree.keys()):
        if package not in rows:
            found.append(f"clawfs/{package}/ has no row")
            continue
        if package not in tree:
            found.append(f"the table names clawfs/{package}/, which does not exist")
            continue
        found += [f"clawfs/{package}/{m} is missing from the table"
                  for m in sorted(tree[package] - rows[package])]
        found += [f"the table names clawfs/{package}/{m}, which does not exist"
                  for m in sorted(rows[package] - tree[package])]
    return found


def test_the_table_names_every_module_and_only_those() -> None:
    rows = table((REPO / "README.md").read_text(encoding="utf-8"))
    assert differences(rows, on_disk()) == []


def test_a_missing_module_or_a_stale_name_is_found() -> None:
    readme = (
        "# x\n\n## How it is built\n\n| package | modules | knows |\n|---|---|---|\n"
        "| `clawfs/store/` | `index.py` (the façade), `gone.py` | files |\n\n## Next\n"
        "| `clawfs/mount/` | `view.py` | not this section |\n"
    )
    rows = table(readme)
    assert rows == {"store": {"index.py", "gone.py"}}
    tree = {"store": {"index.py", "commits.py"}, "mount": {"view.py"}}
    assert differences(rows, tree) == [
        "clawfs/mount/ has no row",
        "clawfs/store/commits.py is missing from the table",
        "the table names clawfs/store/gone.py, which does not exist",
    ]
