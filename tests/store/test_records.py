"""Placement and name clashes (records.py): pure bookkeeping, so no files here."""

from __future__ import annotations

from clawfs.format.head import Head
from clawfs.store import lineage
from clawfs.store.files import FileKey
from clawfs.store.records import Records, SessionFile
from clawfs.store.roots import Root, RootKind
from clawfs.store.scan import Found, Place
from clawfs.store.versions import Rendered, Version

FIRST = Root("/r1", "/r1", RootKind.STORE, 0)
SECOND = Root("/r2", "/r2", RootKind.STORE, 1)
FP = "0123456789abcdef"


def _file(
    root: Root,
    name: str,
    updated: int = 1,
    *,
    sid: str | None = None,
    parent: str | None = None,
    path: str | None = None,
    size: int = 10,
    legacy: bool = False,
) -> SessionFile:
    directory = root.realpath if legacy else f"{root.realpath}/{FP}"
    found = Found(Place(root, None if legacy else FP, directory), name, path)
    head = Head(
        meta_found=True,
        session_id=sid or name.removesuffix(".jsonl"),
        updated_at_ms=updated,
        parent_session_id=parent,
    )
    key = FileKey(1, hash(found.path) & 0xFFFF, size, 0, 0)
    return SessionFile(found, Version.of(key, head, None, name.removesuffix(".jsonl")), FP, True)


def _names(records: Records) -> list[str]:
    space = records.spaces[FP]
    return [rec.name for rec in space.order.items()]


def test_a_clash_gives_the_later_root_its_suffix_and_dropping_gives_the_name_back() -> None:
    records = Records()
    assert records.place(_file(SECOND, "s.jsonl", 5)) == {FP}
    assert records.place(_file(FIRST, "s.jsonl", 1)) == {FP}
    assert _names(records) == [f"s{SECOND.suffix}.jsonl", "s.jsonl"]
    assert records.get(f"/r1/{FP}/s.jsonl") == records.file(FP, "s.jsonl")
    assert records.drop(f"/r1/{FP}/s.jsonl") == {FP}
    assert _names(records) == ["s.jsonl"]
    assert records.file(FP, "s.jsonl").root == SECOND


def test_a_suffix_taken_already_gets_a_number() -> None:
    records = Records()
    records.place(_file(FIRST, f"s{SECOND.suffix}.jsonl"))
    records.place(_file(FIRST, "s.jsonl"))
    records.place(_file(SECOND, "s.jsonl"))
    assert sorted(records.spaces[FP].files) == sorted(
        ["s.jsonl", f"s{SECOND.suffix}.jsonl", f"s{SECOND.suffix}~2.jsonl"]
    )


def _link(name: str, target: str, mtime_ms: int, updated: int = 1) -> SessionFile:
    """`name` in FIRST's fingerprint directory, a link to its sibling `target`
    with its own mtime (the lstat's)."""
    directory = f"{FIRST.realpath}/{FP}"
    found = Found(Place(FIRST, FP, directory), name, f"{directory}/{target}", mtime_ms * 1_000_000)
    head = Head(meta_found=True, session_id=target.removesuffix(".jsonl"), updated_at_ms=updated)
    key = FileKey(1, hash(found.path) & 0xFFFF, 10, 0, 0)
    return SessionFile(found, Version.of(key, head, None, name.removesuffix(".jsonl")), FP, True)


def test_a_file_reached_twice_is_listed_twice_each_entry_by_its_own_mtime() -> None:
    """claw lists every directory entry, a link to a sibling too, and takes
    its mtime with an lstat (session_control.rs 398)."""
    records = Records()
    target = f"{FIRST.realpath}/{FP}/a.jsonl"
    assert records.place(_file(FIRST, "a.jsonl")) == {FP}
    assert records.place(_link("link.jsonl", "a.jsonl", 7)) == {FP}
    assert records.place(_link("again.jsonl", "a.jsonl", 3)) == {FP}
    assert _names(records) == ["link.jsonl", "again.jsonl", "a.jsonl"]  # mtime 7, 3, 0
    link = records.file(FP, "link.jsonl")
    assert link.is_link and link.path == target and link.session_id == "a"
    assert link.mtime_ms == 7 and link.sort_key[1] == -7
    assert [rec.name for rec in records.backing(target)] == ["a.jsonl", "link.jsonl",
                                                              "again.jsonl"]
    assert records.backed_by(target) == records.file(FP, "a.jsonl")  # where it lies first
    # `touch -h`: only the link moves.
    assert records.place(_link("link.jsonl", "a.jsonl", 1)) == {FP}
    assert _names(records) == ["again.jsonl", "link.jsonl", "a.jsonl"]
    assert records.drop(f"{FIRST.realpath}/{FP}/a.jsonl") == {FP}
    assert records.backed_by(target) == records.file(FP, "again.jsonl")  # first placed now
    assert records.drop(f"{FIRST.realpath}/{FP}/again.jsonl") == {FP}
    assert [rec.name for rec in records.backing(target)] == ["link.jsonl"]
    assert records.drop(f"{FIRST.realpath}/{FP}/link.jsonl") == {FP}
    assert records.backing(target) == [] and records.backed_by(target) is None


def test_a_files_markdown_is_kept_on_every_entry_reaching_it() -> None:
    """The Markdown is the file's: learned through one entry, every link to
    the file at that version has it (and one at another version does not)."""
    records = Records()
    target = f"{FIRST.realpath}/{FP}/a.jsonl"
    records.place(_file(FIRST, "a.jsonl"))
    records.place(_link("link.jsonl", "a.jsonl", 7))
    plain = records.file(FP, "a.jsonl")
    revised = records.revise(target, plain.version.rendering(Rendered("hello", 42)))
    assert revised is not None and revised.name == "a.jsonl"
    for name in ("a.jsonl", "link.jsonl"):
        assert records.file(FP, name).rendered == Rendered("hello", 42)
    assert records.file(FP, "link.jsonl").session_id == "a"  # its own version, rendered
    assert records.revise(target, _file(FIRST, "a.jsonl", size=11).version) is None


def test_placing_the_same_facts_again_changes_nothing() -> None:
    records = Records()
    records.place(_file(FIRST, "a.jsonl"))
    assert records.place(_file(FIRST, "a.jsonl")) == set()
    assert records.place(_file(FIRST, "a.jsonl", size=20)) == {FP}  # it grew


def test_stamps_move_on_by_one_per_commit() -> None:
    records = Records()
    records.place(_file(FIRST, "a.jsonl"))
    records.changed({FP})
    before, everything = records.stamp(FP), records.stamp(None)
    assert before is not None and everything is not None
    records.place(_file(FIRST, "b.jsonl"))
    records.place(_file(FIRST, "c.jsonl"))
    records.changed({FP})
    assert records.stamp(FP) == (before[0], before[1] + 1)
    assert records.stamp(None) == (0, everything[1] + 1)
    assert records.stamp("ffffffffffffffff") is None


def test_an_empty_workspace_without_directories_is_forgotten_at_once() -> None:
    records = Records()
    records.place(_file(FIRST, "flat.jsonl", legacy=True))
    records.drop("/r1/flat.jsonl")
    assert records.emptied() == {}
    assert FP not in records.spaces


def test_an_empty_workspace_with_directories_is_left_to_the_caller() -> None:
    """Whether its directories are still there is a question for the disk:
    records hands them back, and forgets only what stayed as it was."""
    records = Records()
    records.place(_file(FIRST, "a.jsonl"))
    records.drop(f"/r1/{FP}/a.jsonl")
    assert records.emptied() == {FP: (f"/r1/{FP}",)}
    assert records.emptied() == {}  # asked once
    records.note_dir(FP, f"/r2/{FP}", SECOND)
    assert not records.forget(FP, (f"/r1/{FP}",))  # it changed meanwhile
    assert records.drop_dir(FP, f"/r2/{FP}") == {FP}
    assert records.forget(FP, (f"/r1/{FP}",))
    assert FP not in records.spaces


def test_a_workspace_that_got_a_file_back_is_not_emptied() -> None:
    records = Records()
    records.place(_file(FIRST, "a.jsonl"))
    records.place(_file(FIRST, "a.jsonl", size=20))  # dropped and placed again
    assert records.emptied() == {}
    assert list(records.spaces[FP].files) == ["a.jsonl"]


def test_a_new_leaf_grows_the_lineage_and_keeps_it() -> None:
    records = Records()
    records.place(_file(FIRST, "a.jsonl", 1))
    records.changed({FP})
    stamp = records.stamp(FP)
    assert stamp is not None
    records.keep_lineage(FP, stamp, lineage.build(records.members(FP)))
    records.place(_file(FIRST, "b.jsonl", 2, parent="a"))
    records.changed({FP})
    tree = records.spaces[FP].lineage
    assert tree is not None and tree.parent_of("b.jsonl") == "a.jsonl"
    records.take_changes()
    records.drop(f"/r1/{FP}/b.jsonl")  # a leaf taken away: in place too
    records.changed({FP})
    tree = records.spaces[FP].lineage
    assert tree is not None and "b.jsonl" not in tree.nodes
    changes = records.take_changes()[FP]
    assert changes.names == {"b.jsonl"} and changes.forks == {("a", "b"), ("a",)}
    records.place(_file(FIRST, "a.jsonl", 3, size=99))  # appended: the same member
    records.changed({FP})
    assert records.spaces[FP].lineage is tree
    assert records.take_changes()[FP].forks == set()
    records.drop(f"/r1/{FP}/a.jsonl")  # a leaf now: in place
    records.place(_file(FIRST, "c.jsonl", 4, sid="c", parent="a"))
    records.place(_file(FIRST, "a.jsonl", 5))
    records.changed({FP})
    assert records.spaces[FP].lineage is None  # a new owner of a waiting parent id: rebuild
    assert records.take_changes()[FP].forks is None


def test_rot_copies_whose_live_file_exists_are_not_members() -> None:
    records = Records()
    records.place(_file(FIRST, "s.jsonl", 2))
    records.place(_file(FIRST, "s.rot-5.jsonl", 1, sid="s"))
    records.place(_file(FIRST, "t.rot-5.jsonl", 1, sid="t"))
    assert [m.name for m in records.members(FP)] == ["s.jsonl", "t.rot-5.jsonl"]


def _listed(name: str, updated: int, mtime_ns: int, sid: str | None = None) -> SessionFile:
    place = Place(FIRST, FP, f"{FIRST.realpath}/{FP}")
    head = Head(meta_found=True, session_id=sid or name.removesuffix(".jsonl"),
                updated_at_ms=updated)
    key = FileKey(1, hash(name) & 0xFFFF, 10, mtime_ns, 0)
    version = Version.of(key, head, None, name.removesuffix(".jsonl"))
    return SessionFile.lying_where_listed(place, name, version, FP, True)


def test_a_listing_placed_in_bulk_is_in_claws_order() -> None:
    """`place_listing` (a remount) gives what placing one file at a time gives:
    the same order (ties on updated_at and mtime broken by session id, an
    mtime before the epoch counting as 0), and rotated copies counted."""
    recs = [
        _listed("a.jsonl", 5, 3_000_000), _listed("b.jsonl", 5, 3_000_000),
        _listed("c.jsonl", 5, 3_999_999), _listed("d.jsonl", 7, -5_000_000),
        _listed("e.jsonl", 7, 0), _listed("f.jsonl", 1, 9_000_000, sid="zzz"),
        _listed("a.rot-1.jsonl", 4, 1_000_000, sid="a"),
    ]
    one_by_one, bulk = Records(), Records()
    for rec in recs:
        one_by_one.place(rec)
    bulk.note_dir(FP, recs[0].directory, FIRST)
    assert bulk.place_listing(recs[0].directory, FP, {rec.file_name: rec for rec in recs}) == {FP}
    assert _names(bulk) == _names(one_by_one)
    assert [rec.sort_key for rec in bulk.spaces[FP].order.items()] == sorted(
        rec.sort_key for rec in recs)
    assert bulk.spaces[FP].rots == one_by_one.spaces[FP].rots == {(recs[0].directory, "a"): 1}
    assert bulk.members(FP) == one_by_one.members(FP)


def test_the_bulk_sort_reads_mtime_and_updated_where_versions_packs_them() -> None:
    """records._MTIME_UPDATED reads two fields of versions.NUMBERS by their
    offsets: a change to the layout must change both."""
    from clawfs.store import records, versions

    numbers = versions.NUMBERS.pack(1, 2, 3, 44_000_000_123, 5, 6, 77, 8, -1, 0)
    fields = versions.NUMBERS.unpack(numbers)
    assert records._MTIME_UPDATED.unpack_from(numbers) == (fields[3], fields[6])
