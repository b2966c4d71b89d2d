"""How the README's walkthrough is read and its answers compared (tests/readme_blocks.py), so the README test
fails when the README and the platform disagree, and only then."""

from __future__ import annotations

from tests.readme_blocks import Answer, Matcher, blocks

README = """# Title

```sh
make run
```

```sh serve
PLATFORM_X=1 make run
```

```sh run
curl -s localhost:8000/v1/things -d '{}'
```
```http
HTTP/1.1 201 Created
Location: /v1/things/<ID>

{"id": "<ID>", "position": <N>, …}
```

```sh run retry
curl -s localhost:8000/v1/things/<ID>
```

Some prose.

```http
HTTP/1.1 200 OK
```

```sh background
python -m receiver
```
```text
receiving on …
```
"""


def shown(body: str, status: int = 200, headers: tuple[tuple[str, str], ...] = ()) -> Answer:
    return Answer("http", status, headers, body)


def test_only_marked_blocks_are_read_each_with_the_answer_right_after_it() -> None:
    found = blocks(README)
    assert [b.kind for b in found] == ["serve", "run", "retry", "background"]
    assert found[0].script == "PLATFORM_X=1 make run\n"
    created = found[1].answer
    assert created is not None
    assert (created.status, created.headers) == (201, (("location", "/v1/things/<ID>"),))
    assert created.body == '{"id": "<ID>", "position": <N>, …}'
    assert found[2].answer is None  # prose stands between the block and the next answer
    assert found[3].answer == Answer("text", body="receiving on …\n")
    assert found[1].line == 11


def test_noted_values_are_put_into_later_commands() -> None:
    matcher = Matcher({})
    answer = blocks(README)[1].answer
    assert answer is not None
    assert matcher.http(answer, 201, {"location": "/v1/things/abc"}, '{"id": "abc", "position": 7, "more": 1}') == []
    assert matcher.noted == {"ID": "abc", "N": "7"}
    assert matcher.substitute("curl /v1/things/<ID> -H 'X-Consistent-Position: <N>' <UNSET>") == (
        "curl /v1/things/abc -H 'X-Consistent-Position: 7' <UNSET>"
    )


def test_a_different_status_field_header_or_repeated_value_is_reported() -> None:
    matcher = Matcher({"T": "t-1"}, {"R": "run-1"})
    answer = shown('{"tenant": "$T", "run": "<R>", "n": 3}', 202, (("location", "/runs/<R>"),))
    assert matcher.http(answer, 202, {"location": "/runs/run-1"}, '{"tenant": "t-1", "run": "run-1", "n": 3}') == []
    problems = matcher.http(answer, 200, {"location": "/runs/run-2"}, '{"tenant": "t-2", "run": "run-2"}')
    assert problems[0] == "status 200, the README shows 202"
    assert problems[1].startswith("header location:")
    assert ".tenant: 't-2', the README shows '$T'" in problems
    assert ".run: 'run-2', the README shows '<R>'" in problems
    assert ".n: missing" in problems


def test_ellipses_stand_for_anything_but_lists_keep_their_length_unless_open_ended() -> None:
    matcher = Matcher({})
    exact, open_ended = shown('{"items": [{"a": …}], "key": "gdp_…"}'), shown('{"items": [{"a": 1}, …]}')
    assert matcher.http(exact, 200, {}, '{"items": [{"a": [1, 2]}], "key": "gdp_x_y"}') == []
    assert matcher.http(exact, 200, {}, '{"items": [{"a": 1}, {"a": 2}], "key": "gdp_x"}') == [
        ".items: 2 items, the README shows 1"
    ]
    assert matcher.http(exact, 200, {}, '{"items": [{"a": 1}], "key": "sk_x"}') == [
        ".key: 'sk_x', the README shows 'gdp_…'"
    ]
    assert matcher.http(open_ended, 200, {}, '{"items": [{"a": 1}, {"a": 2}]}') == []
    assert matcher.http(open_ended, 200, {}, '{"items": []}') == [".items: 0 items, the README shows 1 or more"]
    assert matcher.http(open_ended, 200, {}, "not json") == ["the body is not JSON: 'not json'"]


def test_text_answers_match_lines_in_order() -> None:
    matcher = Matcher({})
    output = "replayed 9 events\n  tenants: up to position 9: equal\n  access: up to position 9: equal\n"
    assert matcher.lines("tenants: … equal\naccess: … equal", output) == []
    assert matcher.lines("access: … equal\ntenants: … equal", output) != []
    assert matcher.lines("tenants: … differs", output) != []
