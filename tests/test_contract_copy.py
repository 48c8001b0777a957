"""The repository carries its own copy of the contract (SPEC.md) and of claw's
format notes (claw-store-format.md), so a `SPEC §n` in a comment leads
somewhere for a reader who only has the repository. They must stay in step
with the team's originals in ../shared/."""

from __future__ import annotations

import pytest

from storegen import REPO

SHARED = REPO.parent / "shared"


@pytest.mark.parametrize("name", ["SPEC.md", "claw-store-format.md"])
def test_copy_matches_the_shared_original(name: str) -> None:
    assert (REPO / name).read_bytes() == (SHARED / name).read_bytes(), (
        f"{name} differs from ../shared/{name}: copy it again (cp ../shared/{name} .)"
    )
