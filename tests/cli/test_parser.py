"""The command line's parsing rules: no abbreviations anywhere, a typo gets
its subcommand's usage and the closest option, `-o` options applied in
order, and mount.fuse3's calling form (issue 15)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from clawfs.cli import main as cli
from clawfs.cli import mountopts


def all_parsers() -> list[argparse.ArgumentParser]:
    top = cli.build_parser()
    return [top, *top.commands().values()]


def test_no_parser_allows_abbreviations() -> None:
    parsers = all_parsers()
    assert {p.prog for p in parsers} == {
        "clawfs", "clawfs mount", "clawfs umount", "clawfs path", "clawfs tree",
        "clawfs workspaces", "clawfs show", "clawfs demo",
    }
    assert all(p.allow_abbrev is False for p in parsers)


@pytest.mark.parametrize(
    ("argv", "usage", "hint"),
    [
        (["mount", "/m", "--stor", "/s"], "usage: clawfs mount", "--stor: did you mean --store?"),
        (["tree", "--no-discovr"], "usage: clawfs tree", "did you mean --no-discover?"),
        (["workspaces", "--jsn"], "usage: clawfs workspaces", "did you mean --json?"),
        (["umount", "/m", "--lazzy"], "usage: clawfs umount", "did you mean --lazy?"),
    ],
)
def test_a_typo_shows_the_subcommands_usage_and_the_closest_option(
    argv: list[str], usage: str, hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        cli.parse(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(usage) and hint in err, err


def test_an_abbreviation_is_refused_not_taken(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.parse(["mount", "/m", "--allow", "--read"])
    assert "unrecognized arguments: --allow --read" in capsys.readouterr().err


def test_dash_o_ro_is_parsed() -> None:
    args = cli.parse(["mount", "/m", "-o", "ro"])
    assert args.read_only is True and args.mountpoint == Path("/m")


def test_dash_o_is_applied_where_it_stands() -> None:
    args = cli.parse(["mount", "/m", "--store", "/a", "-o", "store=/b,workspace=/w",
                      "--store", "/c", "-o", "data_dir=/d,discover=/x,discover-depth=2"])
    assert args.stores == ["/a", "/b", "/c"]
    assert (args.workspaces, args.data_dirs, args.discover_dirs) == (["/w"], ["/d"], ["/x"])
    assert args.discover_depth == 2


def test_dash_o_poll_interval() -> None:
    assert cli.parse(["mount", "/m", "-o", "poll-interval=0.5"]).poll_interval == 0.5
    assert cli.parse(["mount", "/m"]).poll_interval == 2.0


def test_dash_o_flags_and_the_last_of_ro_and_rw_wins() -> None:
    args = cli.parse(["mount", "/m", "-o", "allow_other,no-discover,debug,log-file=/l",
                      "-o", "ro,rw"])
    assert args.allow_other and args.no_discover and args.debug
    assert args.log_file == Path("/l") and args.read_only is False
    assert cli.parse(["mount", "/m", "-o", "rw", "-o", "ro"]).read_only is True
    assert cli.parse(["mount", "/m", "-o", "allow-other"]).allow_other is True


def test_dash_o_passes_kernel_flags_and_drops_mounts_own() -> None:
    """What mount(8) and mount.fuse3 send: `rw`, `dev`, `suid` always."""
    args = cli.parse(["mount", "/m", "-o",
                      "rw,nosuid,nodev,noatime,relatime,dev,suid,defaults,noauto,user,_netdev"])
    assert args.kernel_flags == ["nosuid", "nodev", "noatime", "relatime", "dev", "suid"]
    assert args.read_only is False


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("alow_other", "unknown mount option 'alow_other' (did you mean 'allow_other'?)"),
        ("stor=/x", "unknown mount option 'stor' (did you mean 'store'?)"),
        ("store", "mount option store needs a value (store=...)"),
        ("store=", "mount option store needs a value (store=...)"),
        ("ro=1", "mount option ro takes no value"),
        ("nosuid=1", "mount option nosuid takes no value"),
        ("discover-depth=x", "not a number: 'x'"),
        ("discover-depth=-1", "must be 0 or more"),
        ("fsname=x", "fsname= is set by clawfs"),
    ],
)
def test_bad_dash_o_options_name_the_problem(
    options: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        cli.parse(["mount", "/m", "-o", options])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: clawfs mount") and message in err, err


def test_a_value_may_hold_an_escaped_comma() -> None:
    split = mountopts.split(r"store=/a\,b,ro,,log-file=/c\\d")
    assert split == ["store=/a,b", "ro", r"log-file=/c\d"]
    assert cli.parse(["mount", "/m", "-o", r"store=/a\,b"]).stores == ["/a,b"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["/srv/store", "/mnt/c", "-o", "rw,ro"], ["mount", "/mnt/c", "--store", "/srv/store",
                                                   "-o", "rw,ro"]),
        (["clawfs", "/mnt/c", "-o", "workspace=/p"], ["mount", "/mnt/c", "-o", "workspace=/p"]),
        (["/srv/store", "/mnt/c"], ["mount", "/mnt/c", "--store", "/srv/store"]),
        (["mount", "/mnt/c"], ["mount", "/mnt/c"]),
        (["tree", "--no-discover"], ["tree", "--no-discover"]),
        (["--version"], ["--version"]),
    ],
)
def test_the_mount_helper_form(argv: list[str], expected: list[str]) -> None:
    commands = list(cli.build_parser().commands())
    assert cli.helper_form(argv, commands) == expected


def test_the_mount_helper_form_parses_like_mount() -> None:
    args = cli.parse(["/srv/store", "/mnt/c", "-o", "rw,nodev,no-discover,dev,suid"])
    assert (args.command, args.mountpoint, args.stores) == ("mount", Path("/mnt/c"),
                                                            ["/srv/store"])
    assert args.no_discover and args.kernel_flags == ["nodev", "dev", "suid"]


def test_every_name_dash_o_knows_is_documented_in_its_help() -> None:
    mount = cli.build_parser().subcommand("mount")
    (action,) = [a for a in mount._actions if a.option_strings == ["-o"]]
    ours = {*mountopts.STORE_OPTIONS, *mountopts.FLAGS, *mountopts.VALUED} - {"read-only"}
    assert action.help is not None
    assert [name for name in sorted(ours) if name not in action.help] == []
    for long_option in ("--store", "--workspace", "--data-dir", "--discover", "--no-discover",
                        "--discover-depth", "--allow-other", "--log-file", "--debug",
                        "--read-only", "--poll-interval"):
        assert any(long_option in a.option_strings for a in mount._actions), long_option


def test_umount_force_and_lazy_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.parse(["umount", "/m", "--force"]).force is True
    with pytest.raises(SystemExit):
        cli.parse(["umount", "/m", "--force", "--lazy"])
    assert "not allowed with argument" in capsys.readouterr().err
