"""Key management as evidence: given the KEK events so far, when a rotation or retirement is recorded, then these
events (ids and counts only) or this error."""

from __future__ import annotations

import pytest

from domain.errors import InvalidValueError
from domain.keys import KEY_ENCRYPTION_KEYS_ID, KeyEncryptionKeys


def given_rotated() -> KeyEncryptionKeys:
    keys = KeyEncryptionKeys.track()
    keys.record_rotation("kek-2", "kek-1", 3)
    keys.collect_events()
    return keys


def test_a_rotation_names_both_keks_and_the_count_and_no_key_material() -> None:
    keys = KeyEncryptionKeys.track()

    keys.record_rotation("kek-2", "kek-1", 3)

    created, rotated = keys.collect_events()
    assert created.originator_id == KEY_ENCRYPTION_KEYS_ID
    assert isinstance(rotated, KeyEncryptionKeys.Rotated)
    fields = {
        k: v for k, v in rotated.__dict__.items() if k not in ("originator_id", "originator_version", "timestamp")
    }
    assert fields == {"kek_id": "kek-2", "previous": "kek-1", "rewrapped": 3}


def test_a_retirement_of_an_old_kek_is_recorded_once() -> None:
    keys = given_rotated()

    keys.record_retirement("kek-1", 0)
    keys.record_retirement("kek-1", 0)

    [retired] = keys.collect_events()
    assert (retired.kek_id, retired.rewrapped) == ("kek-1", 0)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (lambda k: k.record_retirement("kek-2", 0), "current"),
        (lambda k: k.record_rotation("kek-3", "kek-3", 0), "new key-encryption key"),
        (lambda k: k.record_rotation("kek 3", "kek-2", 0), "letters, digits"),
        (lambda k: k.record_rotation("kek-3", "kek-2", -1), "zero or more"),
    ],
)
def test_what_cannot_be_recorded(record, message: str) -> None:  # type: ignore[no-untyped-def]
    keys = given_rotated()

    with pytest.raises(InvalidValueError, match=message):
        record(keys)

    assert keys.collect_events() == []
