"""The README is executed: its walkthrough blocks run in order, with the real curl through bash, against a platform
started as ``make run`` starts it, in a folder of its own; every answer must match what the README shows. It walks
on the embedded default (SQLite files) and on PostgreSQL (the settings of the README's PostgreSQL section).

The folder looks like a fresh clone to the commands (``.venv`` and ``sample`` are links to the real ones), so the
platform keeps its files under ``./var/`` as for a reader. Two things differ from a reader's terminal, and only
these: the platform and the receiver listen on free ports instead of 8000 and 9000, and ``curl`` also writes each
answer's status line and headers to a file (``-D``), so the test can see the statuses a reader sees with ``-i``.
How blocks are marked and answers shown is written in ``tests/readme_blocks.py``.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapters.telemetry.objectives import slo_table_markdown
from tests.readme_blocks import Answer, Block, Matcher, blocks

REPO = Path(__file__).resolve().parents[2]
PREAMBLE = """set -a
source "$READMEWALK/state"
set -eo pipefail
_walk_n=0
curl() {
  _walk_n=$((_walk_n + 1))
  command curl -D "$READMEWALK/out/$_walk_n.head" "$@" | tee "$READMEWALK/out/$_walk_n.body"
}
"""
EPILOGUE = '\nexport -p > "$READMEWALK/state"\n'
RETRY_FOR = 60.0
"""Seconds a ``sh run retry`` block is run again until its answer matches."""
STARTUP_WITHIN = 60.0
"""Seconds the platform may take to answer /health (a loaded machine starts it slowly)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_run() -> list[str]:
    """The command of the Makefile's ``run`` target (after its ``env`` prerequisite), with the venv in place."""
    lines = (REPO / "Makefile").read_text().splitlines()
    recipe = lines[lines.index(next(line for line in lines if line.startswith("run:"))) + 1]
    return shlex.split(recipe.strip().replace("$(VENV)", ".venv"))


class Walk:
    """A reader's terminal and the platform they started, in a folder of their own."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.api_port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORM_")}
        self.env |= {"PLATFORM_PORT": str(self.api_port), "READMEWALK": str(folder / ".walk")}
        (folder / ".walk" / "out").mkdir(parents=True)
        (folder / ".walk" / "state").write_text("")
        (folder / ".venv").symlink_to(Path(sys.prefix))
        (folder / "sample").symlink_to(REPO / "sample")
        self.server: subprocess.Popen[bytes] | None = None
        self.background: list[subprocess.Popen[bytes]] = []
        self.matcher = Matcher({})

    # --- the platform

    def serve(self, block: Block) -> None:
        """(Re)starts the platform as the block says: ``[VAR=value ...] make run``."""
        words = shlex.split(block.script, comments=True)
        settings = dict(word.split("=", 1) for word in words if "=" in word and not word.startswith("-"))
        assert words[len(settings) :] == ["make", "run"], f"README line {block.line}: a serve block runs make run"
        self.stop_server()
        with (self.folder / ".walk" / "serve.log").open("ab") as log:
            self.server = subprocess.Popen(make_run(), cwd=self.folder, env=self.env | settings, stdout=log, stderr=log)
        self._wait_until_up()

    def _wait_until_up(self) -> None:
        assert self.server is not None
        deadline = time.monotonic() + STARTUP_WITHIN
        while time.monotonic() < deadline:
            assert self.server.poll() is None, self.log()
            try:
                if httpx.get(f"http://127.0.0.1:{self.api_port}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        pytest.fail(f"the platform did not come up within {STARTUP_WITHIN} s\n{self.log()}")

    def stop_server(self) -> None:
        if self.server is not None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
            self.server = None

    def log(self) -> str:
        path = self.folder / ".walk" / "serve.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    # --- the reader's shell

    def start_background(self, block: Block) -> None:
        """A process the reader starts in another terminal; ready once it printed the line the README shows."""
        out = self.folder / ".walk" / f"background-{len(self.background)}.out"
        with out.open("wb") as sink:
            process = subprocess.Popen(
                ["bash", "-c", block.script], cwd=self.folder, env=self.env, stdout=sink, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.background.append(process)
        assert block.answer is not None, f"README line {block.line}: show the line the process prints when ready"
        deadline = time.monotonic() + 20
        while self.matcher.lines(block.answer.body, out.read_text()):
            assert process.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.1)

    def run(self, block: Block) -> None:
        """Runs the block; fails when a status or a shown field differs from the README (retried: until it holds)."""
        deadline = time.monotonic() + RETRY_FOR
        while True:
            problems = self._attempt(block)
            if not problems or block.kind != "retry" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert not problems, f"README line {block.line}:\n{block.script}\n" + "\n".join(problems)

    def _attempt(self, block: Block) -> list[str]:
        out = self.folder / ".walk" / "out"
        for old in out.iterdir():
            old.unlink()
        script = PREAMBLE + self.matcher.substitute(block.script) + EPILOGUE
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if done.returncode != 0:
            return [f"exit status {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}\n{self.log()}"]
        self.matcher.shell = self._shell_variables()
        return self._check(block.answer, done.stdout, _answers(out))

    def _check(self, shown: Answer | None, stdout: str, answers: list[tuple[int, dict[str, str], str]]) -> list[str]:
        checked = answers[:-1] if shown is not None and shown.kind == "http" else answers
        failed = [(i, code, body) for i, (code, _, body) in enumerate(checked) if code >= 400]
        problems = [f"curl #{i + 1} answered {code}: {body[:500]}" for i, code, body in failed]
        if shown is None:
            return problems
        if shown.kind == "text":
            return problems + self.matcher.lines(shown.body, stdout)
        if not answers:
            return [*problems, "the block made no request, but the README shows an answer"]
        return problems + self.matcher.http(shown, *answers[-1])

    def _shell_variables(self) -> dict[str, str]:
        done = subprocess.run(
            ["bash", "-c", 'set -a; source "$READMEWALK/state"; env -0'],
            cwd=self.folder, env=self.env, capture_output=True, check=True,
        )  # fmt: skip
        pairs = (item.decode(errors="replace").partition("=") for item in done.stdout.split(b"\0") if item)
        return {name: value for name, _, value in pairs}

    def close(self) -> None:
        self.stop_server()
        for process in self.background:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)


def _answers(out: Path) -> list[tuple[int, dict[str, str], str]]:
    """Each curl's answer in order: the final status (after any 100 Continue), its headers, its body."""
    found = []
    for head in sorted(out.glob("*.head"), key=lambda p: int(p.stem)):
        lines = head.read_text(errors="replace").splitlines()
        start = max(i for i, line in enumerate(lines) if line.startswith("HTTP/"))
        pairs = (line.partition(":") for line in lines[start + 1 :] if line)
        headers = {name.strip().lower(): value.strip() for name, _, value in pairs}
        body = head.with_suffix(".body").read_text(errors="replace")
        found.append((int(lines[start].split()[1]), headers, body))
    return found


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def walk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Walk]:
    """A reader's folder; on PostgreSQL with the settings of the README's "Running on PostgreSQL" exported."""
    walk = Walk(tmp_path)
    if request.param == "postgres":
        walk.env |= {
            "PLATFORM_EVENT_STORE": "postgres",
            "PLATFORM_EVENT_STORE_URL": request.getfixturevalue("pg_event_store_url"),
            "PLATFORM_READ_MODEL_URL": request.getfixturevalue("pg_database"),
        }
    yield walk
    walk.close()


def test_the_readme_starts_with_the_two_commands_of_a_newcomer() -> None:
    first = next(block for block in (REPO / "README.md").read_text().split("```")[1::2])
    assert [line.split("#")[0].strip() for line in first.splitlines()[1:3]] == ["make run", "make test"]


def test_the_readme_slo_table_is_the_one_stated_in_objectives() -> None:
    assert slo_table_markdown() in (REPO / "README.md").read_text()


def test_the_readme_walkthrough_runs_as_written(walk: Walk) -> None:
    readme = (REPO / "README.md").read_text()
    receiver_port = free_port()
    readme = readme.replace("localhost:8000", f"localhost:{walk.api_port}")
    readme = readme.replace("127.0.0.1:9000", f"127.0.0.1:{receiver_port}")
    found = blocks(readme)
    assert [b.kind for b in found[:1]] == ["serve"], "the walkthrough starts the platform first"
    assert sum(b.kind in ("run", "retry") for b in found) >= 20
    for block in found:
        if block.kind == "serve":
            walk.serve(block)
        elif block.kind == "background":
            walk.start_background(block)
        else:
            walk.run(block)
