"""The man page and the bash and zsh completions are generated from the
parser (scripts/gendocs.py) and checked in: they must be what the parser
gives now, name every subcommand and option, and work in their tools."""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path

import pytest

from clawfs.cli.main import build_parser

import gendocs


def test_the_checked_in_files_are_what_the_parser_gives() -> None:
    assert gendocs.stale() == [], "run: .venv/bin/python scripts/gendocs.py"


def test_check_mode_names_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "clawfs.1"
    stale.write_text("old\n")
    monkeypatch.setattr(gendocs, "OUTPUTS", {stale: gendocs.man_page})
    assert gendocs.main(["--check"]) == 1
    assert f"stale: {stale}" in capsys.readouterr().err


def every_option() -> list[tuple[str, str]]:
    """(subcommand, option string) for every option of every parser."""
    top = build_parser()
    found = [("", s) for a in top._actions for s in a.option_strings]
    for name, sub in top.commands().items():
        found += [(name, s) for a in sub._actions for s in a.option_strings]
    return found


@pytest.mark.parametrize("path", list(gendocs.OUTPUTS), ids=lambda p: p.name)
def test_every_subcommand_and_option_is_in_each_file(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    if path == gendocs.MAN_PAGE:
        text = text.replace("\\-", "-")  # roff escapes hyphens
    for name in build_parser().commands():
        assert name in text, name
    missing = [(sub, option) for sub, option in every_option() if option not in text]
    if path == gendocs.MAN_PAGE:  # a man page does not list -h/--help
        missing = [(sub, option) for sub, option in missing if option not in ("-h", "--help")]
    assert missing == []


def test_the_man_page_renders(tmp_path: Path) -> None:
    done = subprocess.run(["man", "-l", str(gendocs.MAN_PAGE)], capture_output=True, text=True,
                          env={**os.environ, "MANWIDTH": "100", "MAN_KEEP_FORMATTING": ""},
                          check=False)
    assert done.returncode == 0, done.stderr
    for heading in ("NAME", "SYNOPSIS", "EXAMPLES", "FSTAB", "FILES", "ENVIRONMENT",
                    "SEE ALSO"):
        assert f"\n{heading}\n" in done.stdout, heading
    assert "clawfs - mount claw's session store as a filesystem" in done.stdout
    assert "warning" not in done.stderr.lower()


def test_bash_completion_completes_subcommands_and_options() -> None:
    """Source it in bash and ask it, as bash-completion would."""
    script = (
        f"source {gendocs.BASH}\n"
        "COMP_WORDS=(clawfs mo); COMP_CWORD=1; _shtab_clawfs; echo \"${COMPREPLY[*]}\"\n"
        "COMP_WORDS=(clawfs umount --f); COMP_CWORD=2; _shtab_clawfs; echo \"${COMPREPLY[*]}\"\n"
    )
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["mount", "--force"]


def test_zsh_completion_defines_its_function() -> None:
    text = gendocs.ZSH.read_text()
    assert text.startswith("#compdef clawfs")
    assert "_shtab_clawfs()" in text or "_shtab_clawfs ()" in text


def test_generation_is_independent_of_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    assert gendocs.man_page() == gendocs.MAN_PAGE.read_text()
    assert os.environ["COLUMNS"] == "40"


def test_path_arguments_complete_paths() -> None:
    bash = gendocs.BASH.read_text()
    assert "_shtab_clawfs_mount_pos_0_COMPGEN=_shtab_compgen_dirs" in bash
    assert "_shtab_clawfs_path_pos_0_COMPGEN=_shtab_compgen_files" in bash
    assert isinstance(gendocs.parser(), argparse.ArgumentParser)
