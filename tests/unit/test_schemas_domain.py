"""Schema Registry rules, read as Given (past events) / When (a command) / Then (new events or an error)."""

from __future__ import annotations

from typing import Any

import pytest

from domain.errors import InvalidValueError, NotFoundError
from domain.schemas import (
    MODES,
    IncompatibleSchemaError,
    InvalidSchemaError,
    Subject,
    check_subject,
    subject_id_for,
)

TENANT = "6f1d2c7e-5b8a-4c1e-9a55-0c3e2f7b9d10"
SUBJECT = f"{TENANT}.orders"


def field(name: str, type_: str = "string", **flags: bool) -> dict[str, Any]:
    return {"name": name, "type": type_, **flags}


def schema(*fields: dict[str, Any]) -> dict[str, Any]:
    return {"fields": list(fields)}


ID = field("id", "integer", required=True, primary_key=True)
V1 = schema(ID, field("amount", "integer", required=True), field("note"))


def given(*schemas: dict[str, Any], mode: str | None = None) -> Subject:
    """A subject rebuilt from its past events alone: these versions registered, then the mode set."""
    subject = Subject.open(SUBJECT)
    for past in schemas:
        subject.register(past)
    if mode:
        subject.set_compatibility(mode)
    rebuilt = None
    for past_event in subject.collect_events():
        rebuilt = past_event.mutate(rebuilt)
    assert isinstance(rebuilt, Subject)
    return rebuilt


def when_registered(subject: Subject, candidate: dict[str, Any]) -> list[Any]:
    subject.register(candidate)
    return subject.collect_events()


def refused(subject: Subject, candidate: dict[str, Any]) -> list[str]:
    with pytest.raises(IncompatibleSchemaError) as caught:
        subject.register(candidate)
    assert subject.collect_events() == []
    return caught.value.reasons


# --- subjects and the first version ---------------------------------------------------------------------


def test_the_first_version_is_registered_on_a_stream_named_by_the_subject() -> None:
    subject = Subject.open(SUBJECT)
    assert subject.register(V1) == 1
    created, registered = subject.collect_events()
    assert isinstance(created, Subject.Created)
    assert (created.subject, created.tenant_id, created.originator_id) == (SUBJECT, TENANT, subject_id_for(SUBJECT))
    assert isinstance(registered, Subject.VersionRegistered)
    assert registered.version == 1
    assert registered.schema["fields"][2] == {
        "name": "note",
        "type": "string",
        "required": False,
        "primary_key": False,
        "unique": False,
    }
    assert subject.compatibility == "BACKWARD"


@pytest.mark.parametrize(
    "bad", ["orders", f"{TENANT}.", f"{TENANT.upper()}.orders", "not-a-uuid.orders", f"{TENANT}.a b"]
)
def test_a_subject_is_the_tenant_id_a_dot_and_a_name(bad: str) -> None:
    with pytest.raises(InvalidValueError):
        check_subject(bad)


def test_registering_an_identical_schema_again_records_nothing_and_answers_its_version() -> None:
    subject = given(V1, schema(ID, field("amount", "integer", required=True), field("note"), field("extra")))
    assert subject.register(V1) == 1
    assert subject.register({"fields": [dict(f, unique=False) for f in V1["fields"]]}) == 1  # flags spelled out
    assert subject.collect_events() == []


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({}, "1-1000 fields"),
        ({"fields": []}, "1-1000 fields"),
        ({"fields": [field("a")], "x": 1}, "1-1000 fields"),
        (schema(field("a", "varchar")), "has type 'varchar'"),
        (schema(field("a"), field("a")), "'a' appears more than once"),
        (schema({"name": "a", "type": "string", "nullable": True}), "unknown key 'nullable'"),
        (schema({"name": "", "type": "string"}), "needs a name"),
        (schema({"name": "a", "type": "string", "required": "yes"}), "required must be true or false"),
    ],
)
def test_a_malformed_schema_is_refused_naming_the_problem(bad: dict[str, Any], reason: str) -> None:
    subject = given(V1)
    with pytest.raises(InvalidSchemaError) as caught:
        subject.register(bad)
    assert any(reason in r for r in caught.value.reasons), caught.value.reasons
    assert subject.collect_events() == []


def test_every_problem_of_a_malformed_schema_is_named_at_once() -> None:
    with pytest.raises(InvalidSchemaError) as caught:
        Subject.open(SUBJECT).register(schema(field("a", "text"), {"name": "b", "type": "date", "unique": 1}))
    assert len(caught.value.reasons) == 2


# --- BACKWARD (the default): the new schema reads data written with the latest version ------------------


def test_backward_allows_removing_a_field_and_adding_an_optional_one() -> None:
    [new] = when_registered(given(V1), schema(ID, field("amount", "integer", required=True), field("region")))
    assert isinstance(new, Subject.VersionRegistered)
    assert new.version == 2


def test_backward_refuses_adding_a_required_field() -> None:
    [reason] = refused(given(V1), schema(*V1["fields"], field("email", required=True)))
    assert reason == "BACKWARD: the new schema requires field 'email', which version 1 does not have"


def test_backward_allows_widening_integer_to_number_but_not_narrowing_or_converting() -> None:
    widened = schema(ID, field("amount", "number", required=True), field("note"))
    assert when_registered(given(V1), widened)[0].version == 2
    narrowed = schema(ID, field("amount", "integer", required=True))  # not identical to V1, which it would answer
    [reason] = refused(given(V1, widened), narrowed)
    assert "field 'amount' is number in version 2 but integer in the new schema" in reason
    assert refused(given(V1), schema(ID, field("amount", "string", required=True), field("note")))


def test_backward_refuses_making_an_optional_field_required() -> None:
    [reason] = refused(given(V1), schema(ID, field("amount", "integer", required=True), field("note", required=True)))
    assert "requires field 'note', which is optional in version 1" in reason


def test_keys_and_uniqueness_must_be_guaranteed_by_the_data_read() -> None:
    widened_key = schema(ID, field("amount", "integer", required=True, primary_key=True))
    assert when_registered(given(V1), widened_key)[0].version == 2  # unique on id => unique on (amount, id)
    reasons = refused(given(V1), schema(field("id", "integer", required=True), field("note", unique=True)))
    assert reasons == ["BACKWARD: the new schema requires field 'note' unique, which version 1 does not"]
    keyed_elsewhere = schema(field("id", "integer"), field("amount", "integer", primary_key=True))
    assert any("primary key of the new schema (amount)" in r for r in refused(given(V1), keyed_elsewhere))


# --- FORWARD: the latest version reads data written with the new schema ---------------------------------


def test_forward_allows_adding_any_field_and_removing_an_optional_one() -> None:
    subject = given(V1, mode="FORWARD")
    assert when_registered(subject, schema(ID, field("amount", "integer", required=True), field("x", required=True)))


def test_forward_refuses_removing_a_required_field_or_widening() -> None:
    subject = given(V1, mode="FORWARD")
    [removed] = refused(subject, schema(ID, field("note")))
    assert removed == "FORWARD: version 1 requires field 'amount', which the new schema does not have"
    [widened] = refused(subject, schema(ID, field("amount", "number", required=True), field("note")))
    assert "field 'amount' is number in the new schema but integer in version 1" in widened


def test_forward_allows_narrowing_number_to_integer() -> None:
    subject = given(schema(ID, field("amount", "number", required=True)), mode="FORWARD")
    assert when_registered(subject, schema(ID, field("amount", "integer", required=True)))


# --- FULL: both directions --------------------------------------------------------------------------------


def test_full_allows_only_changes_both_ways_compatible() -> None:
    subject = given(V1, mode="FULL")
    assert when_registered(subject, schema(*V1["fields"], field("region")))  # optional added: fine both ways
    subject = given(V1, mode="FULL")
    reasons = refused(subject, schema(ID, field("amount", "number", required=True), field("x", required=True)))
    assert [r.split(":")[0] for r in reasons] == ["BACKWARD", "FORWARD"]


# --- transitive against every version, the others against the latest only ------------------------------

A = schema(ID, field("amount", "integer", required=True))
B = schema(ID)  # drops amount: fine BACKWARD, breaks FORWARD
C = schema(ID, field("amount", "string"))  # amount back as an optional string


@pytest.mark.parametrize(
    ("mode", "accepted"),
    [
        ("BACKWARD", True),  # C reads B (no amount): fine
        ("BACKWARD_TRANSITIVE", False),  # C cannot read A's integer amount
        ("NONE", True),
    ],
)
def test_backward_transitive_checks_every_version_backward_only_the_latest(mode: str, accepted: bool) -> None:
    subject = given(A, B, mode=mode)
    if accepted:
        assert when_registered(subject, C)[0].version == 3
    else:
        [reason] = refused(subject, C)
        assert reason.startswith("BACKWARD: field 'amount' is integer in version 1 but string in the new schema")


@pytest.mark.parametrize(("mode", "accepted"), [("FORWARD", True), ("FORWARD_TRANSITIVE", False)])
def test_forward_transitive_checks_every_version_forward_only_the_latest(mode: str, accepted: bool) -> None:
    subject = given(A, schema(ID, field("amount", "integer")), mode="NONE")
    subject.set_compatibility(mode)
    subject.collect_events()
    candidate = B  # amount gone: version 2 (optional amount) reads it, version 1 (required amount) cannot
    if accepted:
        assert when_registered(subject, candidate)[0].version == 3
    else:
        assert refused(subject, candidate) == [
            "FORWARD: version 1 requires field 'amount', which the new schema does not have"
        ]


@pytest.mark.parametrize(("mode", "accepted"), [("FULL", True), ("FULL_TRANSITIVE", False)])
def test_full_transitive_checks_every_version_full_only_the_latest(mode: str, accepted: bool) -> None:
    subject = given(A, schema(ID, field("amount", "integer")), mode="NONE")
    subject.set_compatibility(mode)
    subject.collect_events()
    candidate = schema(ID, field("amount", "integer"), field("region"))
    if accepted:
        assert when_registered(subject, candidate)[0].version == 3
    else:
        # version 2 is fine both ways; version 1 cannot read data with no amount
        assert refused(subject, candidate) == [
            "FORWARD: version 1 requires field 'amount', which is optional in the new schema"
        ]


def test_none_accepts_anything_well_formed() -> None:
    subject = given(V1, mode="NONE")
    assert when_registered(subject, schema(field("totally", "boolean", required=True)))[0].version == 2


# --- the mode, and checking without registering ----------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_can_be_set_and_is_an_event(mode: str) -> None:
    subject = given(V1)
    subject.set_compatibility(mode)
    events = subject.collect_events()
    assert [e.compatibility for e in events] == ([] if mode == "BACKWARD" else [mode])


def test_an_unknown_mode_is_refused_and_records_nothing() -> None:
    subject = given(V1)
    with pytest.raises(InvalidValueError, match="FULL_TRANSITIVE"):
        subject.set_compatibility("SIDEWAYS")
    assert subject.collect_events() == []


def test_a_check_answers_every_reason_and_records_nothing() -> None:
    subject = given(A, B)
    assert subject.check(C) == []  # as registration would: BACKWARD against the latest
    assert subject.check(C, version=1) == [
        "BACKWARD: field 'amount' is integer in version 1 but string in the new schema, "
        "which cannot read it (only integer->number and date->timestamp widen)"
    ]
    assert subject.collect_events() == []
    with pytest.raises(NotFoundError):
        subject.check(C, version=3)
