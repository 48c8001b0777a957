"""What `pip install` gets (issue 15): an open-source licence, full metadata,
dependency ranges with a ceiling, and a wheel holding the package, its
entry point, man page, completions and systemd unit, and nothing else."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from storegen import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]


def test_an_mit_licence() -> None:
    licence = (REPO / "LICENSE").read_text()
    assert licence.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in licence
    assert (PROJECT["license"], PROJECT["license-files"]) == ("MIT", ["LICENSE"])


def test_metadata_for_an_index() -> None:
    classifiers = PROJECT["classifiers"]
    assert "Operating System :: POSIX :: Linux" in classifiers
    assert "Topic :: System :: Filesystems" in classifiers
    assert f"Programming Language :: Python :: {sys.version_info[0]}.{sys.version_info[1]}" \
        in classifiers, "the Python running this suite is a tested one"
    assert not [c for c in classifiers if c.startswith("License ::")], "PEP 639: the expression"
    assert PROJECT["requires-python"] == ">=3.11"
    assert PROJECT["scripts"] == {"clawfs": "clawfs.cli.main:main"}


def test_every_dependency_has_a_floor_and_a_ceiling() -> None:
    for requirement in PROJECT["dependencies"]:
        assert re.fullmatch(r"[a-z0-9_]+>=[0-9.]+,<[0-9]+", requirement), requirement


def test_the_docs_tools_are_pinned() -> None:
    """A regeneration of the man page and completions gives the same bytes."""
    test_extra = PROJECT["optional-dependencies"]["test"]
    assert {r.split("==")[0] for r in test_extra if "==" in r} == {"argparse-manpage", "shtab"}


def test_the_wheel_holds_the_package_and_its_share_files(tmp_path: Path) -> None:
    """Built from a copy of what the sdist needs, so the tree stays clean."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "clawfs", source / "clawfs",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "scripts" / "share", source / "scripts" / "share")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                           "-w", str(tmp_path / "dist"), str(source)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    (wheel,) = (tmp_path / "dist").glob("clawfs-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {str(p.relative_to(REPO)) for p in (REPO / "clawfs").rglob("*.py")}
    data = "clawfs-0.1.0.data/data/share/"
    assert {n for n in names if n.startswith("clawfs/")} == modules
    assert {n for n in names if n.startswith(data)} == {
        data + "man/man1/clawfs.1",
        data + "bash-completion/completions/clawfs",
        data + "zsh/site-functions/_clawfs",
        data + "systemd/user/clawfs.service",
    }
    info = "clawfs-0.1.0.dist-info/"
    assert {n for n in names if n.startswith(info)} == {
        info + n for n in ("METADATA", "RECORD", "WHEEL", "entry_points.txt",
                           "licenses/LICENSE", "top_level.txt")
    }
    assert len(names) == len(modules) + 4 + 6, sorted(names)
    metadata = zipfile.ZipFile(wheel).read(info + "METADATA").decode()
    assert "License-Expression: MIT" in metadata
    assert "Requires-Dist: inotify_simple<3,>=1.3.1" in metadata
