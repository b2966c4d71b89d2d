"""The README's walkthrough as data: its marked shell blocks, the answers shown after them, and how to compare.

Markers (fenced-block info strings):
- ```` ```sh serve ````: how the platform is started (``[VAR=value ...] make run``); a later one restarts it.
- ```` ```sh run ````: commands a reader runs, in order, in one shell; ```` ```sh run retry ```` is run again
  until its answer matches (for work the platform finishes in the background).
- ```` ```sh background ````: a process the reader starts in another terminal (a receiver); the ```` ```text ````
  block after it shows the line it prints once it is ready.
- right after a run block, a ```` ```http ```` block shows the answer of its last ``curl``: the status line, any
  headers worth showing, a blank line and the body; or a ```` ```text ```` block shows lines of its output, in order.

In a shown answer ``…`` stands for anything (a value, the rest of a string, more list items or object members) and
``<NAME>`` for a value the reader notes: where a later command says ``<NAME>``, the reader puts that value in.
``$VAR`` in a shown string is the shell variable the reader set. Objects match when the shown members match.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

ANY = "\x00any"
BIND = "\x00bind:"
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
NAME = re.compile(r"<([A-Za-z][A-Za-z0-9_]*)>")
TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|…|<[A-Za-z][A-Za-z0-9_]*>|[^"…<]+|<')
SHELL_VAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Answer:
    """What the README shows after a block: an HTTP answer (status, headers, body) or lines of output."""

    kind: str
    status: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""


@dataclass(frozen=True)
class Block:
    kind: str
    """serve, run, retry or background."""
    script: str
    line: int
    """Where the block starts in the README (1-based), for failure messages."""
    answer: Answer | None = None


class Fence(NamedTuple):
    info: list[str]
    body: str
    line: int
    start: int
    end: int


def fences(readme: str) -> list[Fence]:
    """Every fenced block: its info string's words, its text, its first line (1-based) and its span."""
    return [
        Fence(m.group(1).split(), m.group(2), readme.count("\n", 0, m.start()) + 1, m.start(), m.end())
        for m in FENCE.finditer(readme)
    ]


def blocks(readme: str) -> list[Block]:
    """The marked blocks in README order, each with the answer shown right after it (if any)."""
    found: list[Block] = []
    every = fences(readme)
    for fence, following in zip(every, [*every[1:], None], strict=True):
        kind = _kind(fence.info)
        if kind is None:
            continue
        found.append(Block(kind, fence.body, fence.line, _shown_after(readme, fence, following)))
    return found


def _shown_after(readme: str, fence: Fence, following: Fence | None) -> Answer | None:
    """The answer shown right after a block (an ``http`` or ``text`` block, only blank lines between), if any."""
    if following is None or following.info[:1] not in (["http"], ["text"]):
        return None
    if readme[fence.end : following.start].strip():
        return None
    return _answer(following.info[0], following.body)


def _kind(info: list[str]) -> str | None:
    if info[:1] != ["sh"] or len(info) < 2:
        return None
    if info[1:] == ["run", "retry"]:
        return "retry"
    return info[1] if info[1:] in (["run"], ["serve"], ["background"]) else None


def _answer(kind: str, text: str) -> Answer:
    if kind == "text":
        return Answer("text", body=text)
    head, _, body = text.partition("\n\n")
    status_line, *header_lines = head.splitlines()
    status = int(status_line.split()[1])
    pairs = (line.partition(":") for line in header_lines)
    headers = tuple((name.strip().lower(), value.strip()) for name, _, value in pairs)
    return Answer("http", status, headers, body.strip())


@dataclass
class Matcher:
    """Compares answers with what the README shows, noting the ``<NAME>`` values the reader is told to note."""

    shell: dict[str, str]
    """The reader's shell variables, for ``$VAR`` in shown strings."""
    noted: dict[str, str] = field(default_factory=dict)

    def substitute(self, script: str) -> str:
        """The command with every noted ``<NAME>`` put in, as the reader would."""
        return NAME.sub(lambda m: self.noted.get(m.group(1), m.group(0)), script)

    def http(self, shown: Answer, status: int, headers: dict[str, str], body: str) -> list[str]:
        """What differs between the shown answer and the real one (nothing when they match)."""
        problems = [] if shown.status == status else [f"status {status}, the README shows {shown.status}"]
        for name, pattern in shown.headers:
            if not self._text(pattern, headers.get(name, "")):
                problems.append(f"header {name}: {headers.get(name)!r}, the README shows {pattern!r}")
        if shown.body.startswith(("{", "[")):
            try:
                actual = json.loads(body)
            except ValueError:
                return [*problems, f"the body is not JSON: {body[:300]!r}"]
            problems += [f"{where or 'body'}: {why}" for where, why in self._value(_expected(shown.body), actual, "")]
        elif shown.body:
            problems += self.lines(shown.body, body)
        return problems

    def lines(self, shown: str, output: str) -> list[str]:
        """Every shown line must match a line of the output, in order."""
        remaining = iter(output.splitlines())
        for line in (s for s in shown.splitlines() if s.strip()):
            if not any(self._text(line.strip(), actual.strip()) for actual in remaining):
                return [f"no line (in order) matches {line.strip()!r} in:\n{output}"]
        return []

    def _value(self, expected: Any, actual: Any, where: str) -> list[tuple[str, str]]:
        if expected == ANY:
            return []
        if isinstance(expected, str) and expected.startswith(BIND):
            return self._note(expected[len(BIND) :], actual, where)
        if isinstance(expected, dict):
            return self._object(expected, actual, where)
        if isinstance(expected, list):
            return self._list(expected, actual, where)
        if isinstance(expected, str) and isinstance(actual, str):
            return [] if self._text(expected, actual) else [(where, f"{actual!r}, the README shows {expected!r}")]
        return [] if expected == actual else [(where, f"{actual!r}, the README shows {expected!r}")]

    def _object(self, expected: dict[str, Any], actual: Any, where: str) -> list[tuple[str, str]]:
        if not isinstance(actual, dict):
            return [(where, f"{actual!r} is not an object")]
        problems = [(f"{where}.{key}", "missing") for key in expected if key not in actual]
        for key in (key for key in expected if key in actual):
            problems += self._value(expected[key], actual[key], f"{where}.{key}")
        return problems

    def _list(self, expected: list[Any], actual: Any, where: str) -> list[tuple[str, str]]:
        if not isinstance(actual, list):
            return [(where, f"{actual!r} is not a list")]
        open_ended = bool(expected) and expected[-1] == ANY
        items = expected[:-1] if open_ended else expected
        if len(actual) < len(items) or (not open_ended and len(actual) != len(items)):
            return [(where, f"{len(actual)} items, the README shows {len(items)}{' or more' if open_ended else ''}")]
        return [p for i, item in enumerate(items) for p in self._value(item, actual[i], f"{where}[{i}]")]

    def _note(self, name: str, actual: Any, where: str) -> list[tuple[str, str]]:
        value = actual if isinstance(actual, str) else json.dumps(actual)
        if name in self.noted and self.noted[name] != value:
            return [(where, f"{value!r}, but <{name}> was {self.noted[name]!r}")]
        self.noted[name] = value
        return []

    def _text(self, pattern: str, actual: str) -> bool:
        """A shown string against a real one: ``…`` anything, ``<NAME>`` notes (or repeats) a value, ``$VAR`` set."""
        groups: list[str] = []
        regex = ""
        for part in re.split(r"(…|<[A-Za-z][A-Za-z0-9_]*>|\$[A-Za-z_][A-Za-z0-9_]*)", pattern):
            if part == "…":
                regex += ".*"
            elif NAME.fullmatch(part) and part[1:-1] in self.noted:
                regex += re.escape(self.noted[part[1:-1]])
            elif NAME.fullmatch(part):
                groups.append(part[1:-1])
                regex += f"(?P<{part[1:-1]}>.+?)"
            elif SHELL_VAR.fullmatch(part) and part[1:] in self.shell:
                regex += re.escape(self.shell[part[1:]])
            else:
                regex += re.escape(part)
        found = re.fullmatch(regex, actual, re.DOTALL)
        if found is None:
            return False
        self.noted.update({name: found.group(name) for name in groups})
        return True


def _expected(shown: str) -> Any:
    """A shown JSON body as a value: a bare ``…`` becomes ANY (dropped where it stands for more members),
    a bare ``<NAME>`` a value to note."""
    text = re.sub(r",\s*…\s*}", "}", shown)
    parts = []
    for token in TOKENS.findall(text):
        if token == "…":
            parts.append(json.dumps(ANY))
        elif NAME.fullmatch(token):
            parts.append(json.dumps(BIND + token[1:-1]))
        else:
            parts.append(token)
    return json.loads("".join(parts))
