"""Cron expressions: checking them and finding their slots, in UTC, over croniter (kept to this one module).

Five fields (minute, hour, day of month, month, day of week) or one of the @-aliases. croniter's six- and
seven-field forms (seconds, years) are refused: slots are whole minutes, which is what a scheduler ticking every
second or so can honour and what an event per run can afford. Expressions that can never match a date (31
February) are refused too, so every accepted expression has a next slot within ``MAX_YEARS`` years.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from croniter import croniter

from domain.errors import InvalidValueError

FIELDS = 5
ALIASES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
MAX_LENGTH = 200
MAX_YEARS = 8
"""A leap day can be eight years from the last (2096 to 2104); no accepted expression waits longer."""
_JUST_AFTER = timedelta(microseconds=1)


def check_cron(expression: str) -> str:
    """The expression with its whitespace tidied; InvalidValueError when it is not a five-field cron expression."""
    tidy = " ".join(expression.split())
    fields = tidy.split(" ")
    shaped = tidy.lower() in ALIASES or len(fields) == FIELDS
    if not tidy or len(tidy) > MAX_LENGTH or not shaped or not croniter.is_valid(tidy, strict=True):
        raise InvalidValueError(
            f"{expression!r} is not a cron expression: five fields (minute hour day-of-month month day-of-week) "
            f"or one of {', '.join(ALIASES)}"
        )
    return tidy


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise InvalidValueError("cron arithmetic needs times with a time zone")
    return moment.astimezone(UTC)


def next_after(expression: str, after: datetime) -> datetime:
    """The first slot strictly after ``after``."""
    found: datetime = croniter(expression, _utc(after), max_years_between_matches=MAX_YEARS).get_next(datetime)
    return found


def latest_until(expression: str, until: datetime) -> datetime:
    """The last slot at or before ``until``."""
    base = _utc(until) + _JUST_AFTER
    found: datetime = croniter(expression, base, max_years_between_matches=MAX_YEARS).get_prev(datetime)
    return found


def count_between(expression: str, after: datetime, before: datetime, cap: int) -> int:
    """How many slots lie strictly between ``after`` and ``before``, counting no further than ``cap``."""
    slots = croniter(expression, _utc(after), max_years_between_matches=MAX_YEARS)
    count = 0
    while count < cap and slots.get_next(datetime) < before:
        count += 1
    return count
