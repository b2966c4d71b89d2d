"""What no edge accepts, whoever sends it: control characters in text, integers beyond 64 bits, deep nesting.

The HTTP input guard (interfaces/http/input_guard.py) and the CLI (interfaces/cli/main.py) apply these rules before a
request or command reaches the application, so nothing refused here is ever written to the event log.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""C0 controls other than tab, LF and CR, and DEL."""
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_DEPTH = 64
"""Arrays and objects nested deeper than this are refused: no command needs it, and parsers recurse."""
_ASCII_INTEGER = re.compile(r"-?[0-9]+")


class NestedTooDeepError(ValueError):
    """A document nests arrays or objects deeper than MAX_DEPTH."""


Issue = tuple[str, str]
"""(where, what is wrong): a JSON pointer such as ``#/display_name``, or ``query:name`` and the like."""


def control_character(text: str, *, opaque: bool = False) -> str | None:
    """Why ``text`` is refused (its first control character), or None; opaque text (a secret) may hold all but NUL."""
    if opaque:
        found = "\x00" if "\x00" in text else None
    else:
        match = CONTROL_CHARACTER.search(text)
        found = match.group() if match else None
    return None if found is None else f"holds the control character U+{ord(found):04X}"


def beyond_64_bits(number: int) -> str | None:
    """Why ``number`` is refused (it does not fit a signed 64-bit integer), or None."""
    return None if INT64_MIN <= number <= INT64_MAX else "is beyond the 64-bit integer range"


def integer_text(raw: str) -> str | None:
    """Why ``raw`` is not a whole number the platform takes (ASCII digits, optional minus, 64 bits), or None.

    ``str.isdigit`` is true for ``²``, and ``int`` reads the digits of other scripts (fullwidth, Arabic-Indic...),
    so neither decides alone."""
    if not _ASCII_INTEGER.fullmatch(raw):
        return "is not a whole number written in ASCII digits"
    if len(raw.lstrip("-").lstrip("0")) > len(str(INT64_MAX)):
        return beyond_64_bits(INT64_MAX + 1)  # int() of thousands of digits is slow, and refused past 4300
    return beyond_64_bits(int(raw))


def parse_integer(raw: str) -> int:
    """``raw`` as a whole number under the rules of ``integer_text``; ValueError saying why otherwise."""
    why = integer_text(raw)
    if why is not None:
        raise ValueError(f"{raw!r} {why}")
    return int(raw)


def issues_in(document: Any, opaque: frozenset[str] = frozenset()) -> Iterator[Issue]:
    """Each string, key or integer of a decoded JSON document that is refused, with its JSON pointer (``#/a/0``).

    ``opaque`` names pointers of fields whose text is opaque (secret values): only NUL is refused there.
    Walks without recursion, so a deep document cannot exhaust the stack; NestedTooDeepError past MAX_DEPTH."""
    pending: list[tuple[str, Any, int]] = [("", document, 0)]
    while pending:
        where, value, depth = pending.pop()
        if isinstance(value, dict | list) and depth >= MAX_DEPTH:
            raise NestedTooDeepError(f"the body nests arrays or objects more than {MAX_DEPTH} levels deep")
        why = _scalar_issue(value, where in opaque)
        if why is not None:
            yield f"#{where}", why
        children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, item in reversed(list(children)):
            place = f"{where}/{_escape(str(key))}"
            key_why = control_character(key) if isinstance(key, str) else None
            if key_why is not None:
                yield f"#{place}", f"names a field that {key_why}"
            pending.append((place, item, depth + 1))


def _scalar_issue(value: Any, opaque: bool) -> str | None:
    if isinstance(value, str):
        return control_character(value, opaque=opaque)
    if isinstance(value, int) and not isinstance(value, bool):
        return beyond_64_bits(value)
    return None


def _escape(key: str) -> str:
    """RFC 6901: ``~`` and ``/`` in a key."""
    return key.replace("~", "~0").replace("/", "~1")
