"""A small sample store in claw's exact format, for the demo.

Someone trying clawfs on a machine where claw never ran still needs
something to look at. This writes three projects the way claw lays them
out (`<project>/.claw/sessions/<fingerprint>/<id>.jsonl`, rendered by the
format layer exactly as claw's save renders them), with the shapes worth
seeing in a mount:

* webapp: a session forked twice (`oauth`, then `oauth-tests` from that)
  and once more from the root (`bugfix`); a newer meta-only session that
  `latest` skips (claw skips empty sessions); a legacy flat
  `session-<ms>.json` whole-file JSON in the store's top directory, as
  claw builds before 2026-04-11 wrote them.
* cli-tool: a compacted session with prompt history, and a tool error.
* notes: a session with a thinking block; the newest of all, so it is
  what the top-level `latest` names.

Times are fixed relative to `now_ms` so the lineage and aliases are known
in advance (tests check them); file mtimes match `updated_at_ms`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from clawfs.format import clawjson
from clawfs.format.clawjson import JsonObject
from clawfs.format.fingerprint import fingerprint
from clawfs.format.session import Compaction, PromptEntry, Session, new_session_id
from clawfs.format.snapshot import render_snapshot

MODEL = "claude-sonnet-4-5"
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS


@dataclass
class SampleStore:
    """What `generate` wrote: the projects, and every session file by name."""

    base: Path
    projects: list[Path] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    """Short name used in this module (e.g. "oauth") -> the file written."""

    def mount_args(self) -> list[str]:
        """Store options that mount exactly this sample."""
        args = ["--no-discover"]
        for project in self.projects:
            args += ["--workspace", str(project)]
        return args


def text(role: str, words: str) -> JsonObject:
    return {"role": role, "blocks": [{"type": "text", "text": words}]}


def reply(words: str, tokens: int = 120) -> JsonObject:
    message = text("assistant", words)
    message["usage"] = {
        "input_tokens": tokens * 4,
        "output_tokens": tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": tokens * 2,
    }
    return message


def tool_call(
    call_id: str, name: str, command: str, output: str, error: bool = False
) -> list[JsonObject]:
    """An assistant tool_use and the tool's result, as claw records them."""
    return [
        {"role": "assistant", "blocks": [
            {"type": "tool_use", "id": call_id, "name": name,
             "input": clawjson.render({"command": command})},
        ]},
        {"role": "tool", "blocks": [
            {"type": "tool_result", "tool_use_id": call_id, "tool_name": name,
             "output": output, "is_error": error},
        ]},
    ]


class _Writer:
    """Writes sessions into one project's store, with claw's ids and times."""

    def __init__(self, sample: SampleStore, project: Path, counter: list[int]) -> None:
        self.sample = sample
        self.root = os.path.realpath(project)
        self.store = project / ".claw" / "sessions"
        self.dir = self.store / fingerprint(self.root)
        self.counter = counter

    def new(
        self,
        at_ms: int,
        messages: list[JsonObject],
        *,
        updated_ms: int | None = None,
        compaction: Compaction | None = None,
        prompt_history: list[PromptEntry] | None = None,
    ) -> Session:
        # claw reads the clock, then makes the id: created_at is the id's ms - 1.
        return Session(
            version=1,
            session_id=new_session_id(at_ms + 1, self._count()),
            created_at_ms=at_ms,
            updated_at_ms=at_ms if updated_ms is None else updated_ms,
            messages=messages,
            compaction=compaction,
            prompt_history=prompt_history or [],
            workspace_root=self.root,
            model=MODEL,
        )

    def fork(self, parent: Session, at_ms: int, branch: str, more: list[JsonObject]) -> Session:
        """claw's fork of `parent`, then a turn in the fork saved 20 minutes later."""
        child = parent.forked(new_session_id(at_ms, self._count()), at_ms, branch)
        return replace(child, messages=[*child.messages, *more],
                       updated_at_ms=at_ms + 20 * MINUTE_MS)

    def save(self, short: str, session: Session) -> Path:
        path = self.dir / f"{session.session_id}.jsonl"
        write_file(path, render_snapshot(session), session.updated_at_ms)
        self.sample.files[short] = path
        return path

    def save_legacy(self, short: str, at_ms: int, messages: list[JsonObject]) -> Path:
        """A pre-2026-04-11 flat file: whole-file JSON, no id, no final newline."""
        path = self.store / f"session-{at_ms}.json"
        body = clawjson.render({"messages": messages, "version": 1})  # type: ignore[dict-item]
        write_file(path, body.encode("utf-8"), at_ms)
        self.sample.files[short] = path
        return path

    def _count(self) -> int:
        self.counter[0] += 1
        return self.counter[0]


def generate(base: Path, now_ms: int | None = None) -> SampleStore:
    """Write the sample projects under `base` (created; must not hold them yet)."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    sample = SampleStore(base)
    counter = [0]
    start = now - 3 * 24 * HOUR_MS
    for name, build in (("webapp", _webapp), ("cli-tool", _cli_tool), ("notes", _notes)):
        project = base / "projects" / name
        (project / "src").mkdir(parents=True, exist_ok=True)
        sample.projects.append(project)
        build(_Writer(sample, project, counter), start)
    return sample


def _webapp(w: _Writer, t: int) -> None:
    w.save_legacy("legacy", t - 30 * 24 * HOUR_MS, [
        text("user", "Sketch a project layout for a small web app."),
        text("assistant", "src/ for code, tests/ for tests, and a README."),
    ])
    login = w.new(t, [
        text("user", "Add a login form to the web app."),
        *tool_call("toolu_01", "bash", "ls src", "app.py\ntemplates\n"),
        reply("I added `templates/login.html` and a `/login` route in `app.py`. TODO: rate limit."),
    ], updated_ms=t + 10 * MINUTE_MS)
    w.save("login", login)
    oauth = w.fork(login, t + 2 * HOUR_MS, "oauth", [
        text("user", "Use OAuth instead of passwords."),
        reply("Switched the form to an OAuth redirect; the callback stores the token."),
    ])
    w.save("oauth", oauth)
    tests = w.fork(oauth, t + 4 * HOUR_MS, "oauth-tests", [
        text("user", "Write tests for the OAuth callback."),
        *tool_call("toolu_02", "bash", "pytest -q", "3 passed in 0.12s\n"),
        reply("Added three tests for the callback; all pass."),
    ])
    w.save("oauth-tests", tests)
    bugfix = w.fork(login, t + 5 * HOUR_MS, "bugfix", [
        text("user", "The login form submits twice on Enter. Fix it."),
        reply("Fixed: the submit handler was bound twice."),
    ])
    w.save("bugfix", bugfix)
    w.save("empty", w.new(t + 6 * HOUR_MS, []))


def _cli_tool(w: _Writer, t: int) -> None:
    w.save("verbose", w.new(
        t + 24 * HOUR_MS,
        [
            text("system", "Summary of the earlier conversation: argument parsing is done."),
            text("user", "Add a --verbose flag."),
            *tool_call("toolu_03", "bash", "cargo test", "error: could not compile\n", True),
            reply("The build failed on a missing import; fixed it and added --verbose."),
        ],
        updated_ms=t + 25 * HOUR_MS,
        compaction=Compaction(count=1, removed_message_count=12,
                              summary="Argument parsing is done; next: flags."),
        prompt_history=[PromptEntry(t + 24 * HOUR_MS, "Add a --verbose flag.")],
    ))
    w.save("release", w.new(t + 26 * HOUR_MS, [
        text("user", "Draft release notes for 0.2."),
        reply("0.2 adds --verbose and fixes the exit code on errors."),
    ]))


def _notes(w: _Writer, t: int) -> None:
    w.save("ideas", w.new(t + 48 * HOUR_MS, [
        text("user", "Summarize what we did this week."),
        {"role": "assistant", "blocks": [
            {"type": "thinking", "thinking": "List the sessions by project first.",
             "signature": "sig-demo"},
            {"type": "text", "text": "webapp: login, OAuth, tests, a bugfix. cli-tool: --verbose."},
        ]},
    ]))


def main() -> None:
    """`python -m clawfs.samplestore DIR`: write the sample, print mount options."""
    import sys

    sample = generate(Path(sys.argv[1]))
    print("\n".join(sample.mount_args()))


if __name__ == "__main__":
    main()


def set_mtime(path: Path, mtime_ms: int) -> None:
    """Set both atime and mtime of `path` to `mtime_ms` (milliseconds).

    claw orders sessions by mtime, so generated stores (this one, and the
    tests' and the bench's) set it exactly; this is the one helper for it.
    """
    ns = mtime_ms * 1_000_000
    os.utime(path, ns=(ns, ns))


def write_file(path: Path, data: bytes, mtime_ms: int | None = None) -> Path:
    """Write `data` to `path` (parents created), then set its mtime if given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime_ms is not None:
        set_mtime(path, mtime_ms)
    return path
