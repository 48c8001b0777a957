"""Who could read what natively (store/access.py, SPEC §3): the reported
modes never let a caller in that the disk would stop, and the per-caller
answers are POSIX's.

The rule is checked against POSIX's own check written out (`native`) over
random chains of directories and random callers, and on real directories
(modes set as root; the callers are values, so nobody needs to exist).
Through a real mount, against the kernel itself: tests/e2e/test_trust_privacy.py.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clawfs.store import access
from clawfs.store.access import LIST, READ, SEARCH, Access, Caller, Mode

UIDS = [1000, 1001, 1002]
GIDS = [100, 101, 102]

modes = st.builds(Mode, st.sampled_from([0, *UIDS]), st.sampled_from([0, *GIDS]),
                  st.integers(0, 0o777))
callers = st.builds(
    Caller.of, st.sampled_from([0, *UIDS]), st.sampled_from(GIDS),
    st.frozensets(st.sampled_from(GIDS)),
)


def native(caller: Caller, own: Mode, above: list[Mode], want: int) -> bool:
    """POSIX: search on every directory on the way, then `want` on the entry;
    root may do anything."""
    if caller.uid == 0:
        return True
    def ok(mode: Mode, bits: int) -> bool:
        if caller.uid == mode.uid:
            shift = 6
        elif mode.gid in caller.groups:
            shift = 3
        else:
            shift = 0
        return (mode.bits >> shift) & bits == bits
    return all(ok(d, SEARCH) for d in above) and ok(own, want)


@given(modes, st.lists(modes, max_size=4), callers, st.sampled_from([READ, SEARCH, LIST]))
def test_a_narrowed_mode_never_lets_in_more_than_the_disk(
    own: Mode, above: list[Mode], caller: Caller, want: int
) -> None:
    shown = access.narrowed(own, above)
    if shown.allows(caller, want):
        assert native(caller, own, above, want)


@given(modes, st.lists(modes, max_size=4), callers, st.sampled_from([READ, LIST]))
def test_the_known_caller_keeps_what_it_may(
    own: Mode, above: list[Mode], known: Caller, want: int
) -> None:
    """The mounting user's class is decided with its real groups: when it owns
    the entry, it keeps exactly what it may do natively."""
    own = Mode(known.uid, own.gid, own.bits)
    shown = access.narrowed(own, above, known)
    assert shown.allows(known, want) == native(known, own, above, want)


def test_narrowing_the_usual_cases() -> None:
    alice = Mode(1000, 1000, 0)
    home_closed = Mode(1000, 1000, 0o700)
    root_dirs = [Mode(0, 0, 0o755), Mode(0, 0, 0o755)]  # / and /home
    session = Mode(1000, 1000, 0o644)
    assert access.narrowed(session, root_dirs).bits == 0o644
    assert access.narrowed(session, [*root_dirs, home_closed]).bits == 0o600
    shared_group = Mode(0, 1000, 0o750)  # group alice's may pass, others may not
    # Alice's own groups are not known: only the group class surely passes.
    assert access.narrowed(session, [shared_group]).bits == 0o040
    assert access.narrowed(session, [shared_group], Caller.of(1000, 1000)).bits == 0o640
    assert access.narrowed(Mode(1000, 1000, 0o444), [Mode(0, 0, 0o711)]).bits == 0o444
    assert access.narrowed(alice, [home_closed]).bits == 0


def test_root_may_do_anything() -> None:
    root = Caller.of(0, 0)
    assert Mode(1000, 1000, 0).allows(root, LIST)


def test_public_means_nobody_is_told_no() -> None:
    assert Mode(0, 0, 0o555).public(LIST)
    assert not Mode(0, 0, 0o505).public(LIST)  # the group is told no
    assert Mode(0, 0, 0o711).public(SEARCH) and not Mode(0, 0, 0o711).public(READ)


# --- on the disk ---------------------------------------------------------------------


@pytest.fixture
def base() -> Iterator[Path]:
    """A directory every user may reach (pytest's own tmp_path is 0700)."""
    made = Path(tempfile.mkdtemp(prefix="clawfs-access-", dir="/tmp"))
    os.chmod(made, 0o755)
    try:
        yield made
    finally:
        shutil.rmtree(made)


def tree(base: Path) -> dict[str, Path]:
    """base/open (0755) with a 0644 and a 0600 file; base/closed (0700) with a 0644 one."""
    paths = {
        "open": base / "open", "closed": base / "closed",
        "public": base / "open" / "public.jsonl", "secret": base / "open" / "secret.jsonl",
        "inner": base / "closed" / "inner.jsonl",
    }
    for name in ("open", "closed"):
        paths[name].mkdir(parents=True)
    for name in ("public", "secret", "inner"):
        paths[name].write_bytes(b"{}\n")
    os.chmod(base, 0o755)
    os.chmod(paths["open"], 0o755)
    os.chmod(paths["closed"], 0o700)
    os.chmod(paths["public"], 0o644)
    os.chmod(paths["secret"], 0o600)
    os.chmod(paths["inner"], 0o644)
    return paths


def test_a_caller_could_read_what_posix_lets_it(base: Path) -> None:
    paths = tree(base / "t")
    rules = Access(Caller.of(0, 0))
    other = Caller.of(4242, 4242)
    owner = Caller.of(os.stat(paths["secret"]).st_uid, 4242)
    assert rules.can_read(other, str(paths["public"]))
    assert not rules.can_read(other, str(paths["secret"]))
    assert not rules.can_read(other, str(paths["inner"]))  # 0644 behind 0700
    assert rules.can_read(owner, str(paths["inner"]))
    assert rules.can_list(other, str(paths["open"]))
    assert not rules.can_list(other, str(paths["closed"]))
    assert not rules.can_search(other, str(paths["closed"]))
    assert not rules.can_read(other, str(base / "t" / "missing"))


def test_what_entries_report(base: Path) -> None:
    paths = tree(base / "t")
    rules = Access(Caller.of(0, 0))
    uid = os.stat(paths["public"]).st_uid
    assert rules.shown(str(paths["public"])) == Mode(uid, os.stat(paths["public"]).st_gid, 0o444)
    assert rules.shown(str(paths["secret"])).bits == 0o400  # type: ignore[union-attr]
    assert rules.shown(str(paths["inner"])).bits == 0o400  # type: ignore[union-attr]
    assert rules.shown(str(paths["open"])).bits == 0o555  # type: ignore[union-attr]
    assert rules.shown(str(paths["closed"])).bits == 0o500  # type: ignore[union-attr]
    assert rules.shown(str(base / "t" / "missing")) is None


def test_an_acl_leaves_only_the_owner_class(base: Path) -> None:
    paths = tree(base / "t")
    target = str(paths["public"])
    os.setxattr(target, access.ACL_XATTR, _acl_denying(4242))
    rules = Access(Caller.of(0, 0))
    assert rules.shown(target).bits == 0o400  # type: ignore[union-attr]
    assert not rules.can_read(Caller.of(4242, 4242), target)
    assert not rules.can_read(Caller.of(4343, 4343), target)  # conservative: others too


def test_a_chmod_shows_within_the_ttl(base: Path) -> None:
    paths = tree(base / "t")
    now = [0.0]
    rules = Access(Caller.of(0, 0), ttl=1.0, clock=lambda: now[0])
    other = Caller.of(4242, 4242)
    assert rules.can_read(other, str(paths["public"]))
    os.chmod(paths["open"], 0o700)
    assert rules.can_read(other, str(paths["public"]))  # kept
    now[0] = 1.5
    assert not rules.can_read(other, str(paths["public"]))


def test_a_link_swapped_in_leads_nowhere(base: Path) -> None:
    paths = tree(base / "t")
    paths["open"].rename(base / "t" / "moved")
    paths["open"].symlink_to(base / "t" / "moved")
    rules = Access(Caller.of(0, 0))
    assert not rules.can_read(Caller.of(4242, 4242), str(paths["public"]))
    shown = rules.shown(str(paths["public"]))
    assert shown is not None and shown.bits == 0


def _acl_denying(uid: int) -> bytes:
    """An access ACL (the kernel's xattr form): u::rw-, u:<uid>:---, g::r--, m::r--, o::r--."""
    import struct

    entries = [(0x01, 0o6, 0xFFFFFFFF), (0x02, 0o0, uid), (0x04, 0o4, 0xFFFFFFFF),
               (0x10, 0o4, 0xFFFFFFFF), (0x20, 0o4, 0xFFFFFFFF)]
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)
