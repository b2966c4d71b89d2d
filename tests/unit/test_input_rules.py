"""The input rules every edge applies: control characters, 64-bit integers in ASCII digits, nesting depth."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.delivery.http import retry_after
from interfaces.cli import main
from interfaces.input_rules import (
    INT64_MAX,
    INT64_MIN,
    MAX_DEPTH,
    NestedTooDeepError,
    control_character,
    integer_text,
    issues_in,
    parse_integer,
)


@pytest.mark.parametrize("text", ["\x00", "a\x01", "\x08", "\x0b", "\x0c", "\x0e", "\x1b[2J", "\x1f", "del\x7f"])
def test_c0_controls_and_del_are_refused(text: str) -> None:
    why = control_character(text)
    assert why is not None
    assert why.startswith("holds the control character U+")


@pytest.mark.parametrize("text", ["", "plain", "tab\there", "two\nlines\r\n", "ünïcödé ☃", "\x80\x9f"])
def test_text_tab_line_breaks_and_other_characters_pass(text: str) -> None:
    assert control_character(text) is None


def test_opaque_text_may_hold_every_control_but_nul() -> None:
    assert control_character("\x01\x1b\x7f", opaque=True) is None
    assert control_character("a\x00b", opaque=True) == "holds the control character U+0000"


@pytest.mark.parametrize("raw", ["0", "-1", "42", str(INT64_MAX), str(INT64_MIN), "0000000000000000000000001"])
def test_whole_numbers_in_ascii_digits_within_64_bits_parse(raw: str) -> None:
    assert integer_text(raw) is None
    assert parse_integer(raw) == int(raw)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (str(INT64_MAX + 1), "is beyond the 64-bit integer range"),
        (str(INT64_MIN - 1), "is beyond the 64-bit integer range"),
        ("9" * 5000, "is beyond the 64-bit integer range"),
        ("²", "is not a whole number written in ASCII digits"),
        ("\uff13", "is not a whole number written in ASCII digits"),
        ("1_000", "is not a whole number written in ASCII digits"),
        (" 1", "is not a whole number written in ASCII digits"),
        ("+1", "is not a whole number written in ASCII digits"),
        ("", "is not a whole number written in ASCII digits"),
    ],
)
def test_other_numbers_are_refused_saying_why(raw: str, why: str) -> None:
    assert integer_text(raw) == why
    with pytest.raises(ValueError, match=r"ASCII|64-bit"):
        parse_integer(raw)


def test_issues_in_a_document_name_each_place_by_json_pointer() -> None:
    document = {
        "name": "ok\tfine",
        "bad": "a\x00",
        "list": ["fine", {"deep": "\x1b"}],
        "key\x07": 1,
        "a/b~c": "\x7f",
        "big": 2**64,
        "small": -(2**63),
        "flag": True,
        "value": "\x01secret",
    }
    found = dict(issues_in(document, frozenset({"/value"})))
    assert found == {
        "#/bad": "holds the control character U+0000",
        "#/list/1/deep": "holds the control character U+001B",
        "#/key\x07": "names a field that holds the control character U+0007",
        "#/a~1b~0c": "holds the control character U+007F",
        "#/big": "is beyond the 64-bit integer range",
    }


def nested(depth: int) -> Any:
    document: Any = "leaf"
    for _ in range(depth):
        document = [document]
    return document


def test_documents_nested_deeper_than_the_limit_are_refused_without_recursing() -> None:
    assert list(issues_in(nested(MAX_DEPTH))) == []
    with pytest.raises(NestedTooDeepError):
        list(issues_in(nested(MAX_DEPTH + 1)))
    with pytest.raises(NestedTooDeepError):
        list(issues_in(nested(100_000)))


def test_the_cli_refuses_an_argument_with_a_control_character_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--role", "platform-admin", "--tenant", "acme\x1b[2J"]) == 2
    err = capsys.readouterr().err
    assert err == "platform: argument 5 ('acme\\x1b[2J') holds the control character U+001B\n"


def test_a_superscript_retry_after_from_a_webhook_receiver_is_unreadable_not_a_crash() -> None:
    now = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert retry_after("\u00b2", now) is None
    assert retry_after("2", now) == 2.0
