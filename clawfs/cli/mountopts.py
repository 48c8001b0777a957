"""`-o OPT[,OPT...]`: mount options as sshfs, rclone and /etc/fstab write them.

`clawfs mount MNT -o store=DIR,ro` is `clawfs mount MNT --store DIR
--read-only`, and `mount.fuse3` (fstab, `mount -t fuse.clawfs`) passes every
option this way. An option is applied where it stands on the command line,
so `--store A -o store=B --store C` keeps the order A, B, C (the order is a
store root's precedence, SPEC §1), and of `ro` and `rw` the last one wins,
as with mount(8).

Three kinds of names:

- clawfs's own (`STORE_OPTIONS`, `FLAGS`, `VALUED`): the long options of
  `clawfs mount`, and FUSE's `allow_other`; `_` and `-` are the same
  (`data_dir`, `allow-other`).
- The kernel's generic mount flags (`KERNEL_FLAGS`): passed on to FUSE
  unchanged. mount(8) and mount.fuse3 always send some (`rw`, `dev`,
  `suid`, `relatime` ...), so they must be accepted.
- Options that only mean something to mount(8) (`IGNORED`): fstab habits
  such as `noauto` or `_netdev`, accepted and dropped.

A value may hold a comma written as `\\,` (and a backslash as `\\\\`), as
libfuse's own option parser allows.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Sequence
from typing import Any

STORE_OPTIONS = {
    "store": "stores",
    "workspace": "workspaces",
    "data-dir": "data_dirs",
    "discover": "discover_dirs",
}
"""Repeatable options that take a directory: name -> namespace list."""

FLAGS = {
    "allow_other": ("allow_other", True),
    "ro": ("read_only", True),
    "read-only": ("read_only", True),
    "rw": ("read_only", False),
    "no-discover": ("no_discover", True),
    "no-cache": ("no_cache", True),
    "debug": ("debug", True),
}
"""Options without a value: name -> (namespace field, value)."""

VALUED = ("discover-depth", "log-file", "poll-interval")
"""Options with one value, converted as their long option converts it."""

KERNEL_FLAGS = frozenset(
    {
        "suid", "nosuid", "dev", "nodev", "exec", "noexec", "async", "sync", "dirsync",
        "atime", "noatime", "diratime", "nodiratime", "relatime", "norelatime",
        "strictatime", "nostrictatime",
    }
)
"""Generic mount flags libfuse passes to the kernel (lib/mount.c `mount_flags`).
`ro`/`rw` are clawfs's own: read-only also turns the fork files off."""

IGNORED = frozenset(
    {
        "defaults", "auto", "noauto", "user", "nouser", "users", "owner", "nofail",
        "_netdev", "default_permissions", "auto_unmount",
    }
)
"""Accepted and dropped: mount(8)'s own options (fstab habits), and what
clawfs always sets anyway (`default_permissions`, `auto_unmount`)."""

FIXED = ("fsname", "subtype")
"""Set by clawfs so the type is always `fuse.clawfs` (SPEC §1): refused."""


class OptionError(ValueError):
    """A bad `-o` option; the message names it and suggests the fix."""


def split(text: str) -> list[str]:
    """`a,b\\,c` -> [`a`, `b,c`]: commas separate, a backslash escapes."""
    parts: list[str] = []
    current: list[str] = []
    chars = iter(text)
    for ch in chars:
        if ch == "\\":
            current.append(next(chars, "\\"))
        elif ch == ",":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p for p in parts if p]


def known_names() -> list[str]:
    """Every name `-o` accepts (for the suggestion and the help text)."""
    return sorted({*STORE_OPTIONS, *FLAGS, *VALUED, *KERNEL_FLAGS, *IGNORED})


def apply(
    namespace: argparse.Namespace, text: str, convert: dict[str, Any]
) -> None:
    """Apply one `-o` argument to `namespace`.

    `convert` holds the converters of the valued options (the long options'
    `type=`), so `-o discover-depth=x` fails exactly as `--discover-depth x`.
    """
    for option in split(text):
        name, has_value, value = option.partition("=")
        if name in KERNEL_FLAGS or name in IGNORED:
            _refuse_value(name, has_value)
            if name in KERNEL_FLAGS:
                _append(namespace, "kernel_flags", name)
            continue
        key = _canonical(name)
        if key in FIXED:
            raise OptionError(f"{name}= is set by clawfs (the type is always fuse.clawfs)")
        if key in STORE_OPTIONS:
            _append(namespace, STORE_OPTIONS[key], _needs_value(name, has_value, value))
        elif key in FLAGS:
            _refuse_value(name, has_value)
            field, flag = FLAGS[key]
            setattr(namespace, field, flag)
        elif key in VALUED:
            text_value = _needs_value(name, has_value, value)
            setattr(namespace, key.replace("-", "_"), convert[key](text_value))
        else:
            raise OptionError(f"unknown mount option {name!r}{_suggestion(name)}")


def _canonical(name: str) -> str:
    """`data_dir` -> `data-dir`, `allow-other` -> `allow_other`: one spelling each."""
    wanted = name.replace("_", "-")
    for known in (*STORE_OPTIONS, *FLAGS, *VALUED, *FIXED):
        if known.replace("_", "-") == wanted:
            return known
    return name


def _append(namespace: argparse.Namespace, field: str, value: str) -> None:
    # A copy: argparse shares a list default between parses.
    setattr(namespace, field, [*(getattr(namespace, field, None) or []), value])


def _needs_value(name: str, has_value: str, value: str) -> str:
    if not has_value or not value:
        raise OptionError(f"mount option {name} needs a value ({name}=...)")
    return value


def _refuse_value(name: str, has_value: str) -> None:
    if has_value:
        raise OptionError(f"mount option {name} takes no value")


def _suggestion(name: str) -> str:
    close = difflib.get_close_matches(name, known_names(), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class OptionsAction(argparse.Action):
    """`-o OPT[,OPT...]` as an argparse action: applied where it stands."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        self.convert: dict[str, Any] = kwargs.pop("convert")
        super().__init__(option_strings, dest, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        try:
            apply(namespace, str(values), self.convert)
        except (OptionError, argparse.ArgumentTypeError, ValueError) as e:
            raise argparse.ArgumentError(self, str(e)) from None
