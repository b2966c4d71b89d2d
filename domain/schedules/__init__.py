"""The scheduler context: recurring (cron) and one-off jobs of a tenant, and each slot's run of them.

One aggregate per module: ``schedules`` (``Schedule``: the job and when it runs; paused, resumed, deleted) and
``job_runs`` (``JobRun``: one slot of one schedule, claimed by one scheduler); ``jobs`` holds what both share, the
job kinds with their parameters and the spelling of a slot time. The context's names are imported from here.
Their classes were in ``domain/schedules.py`` until issue 14; events stored under those topics still decode
(``eventstore/moved_topics.py``).
"""

from __future__ import annotations

from domain.schedules.job_runs import (
    JOB_RUN_NAMESPACE,
    JobRun,
    RunClaimedError,
    StaleAttemptError,
    job_run_id_for,
)
from domain.schedules.jobs import JOB_KINDS, check_job, slot_key
from domain.schedules.schedules import (
    SCHEDULE_NAMESPACE,
    TIMEZONES,
    Schedule,
    ScheduleStateError,
    schedule_id_for,
)

__all__ = [
    "JOB_KINDS",
    "JOB_RUN_NAMESPACE",
    "SCHEDULE_NAMESPACE",
    "TIMEZONES",
    "JobRun",
    "RunClaimedError",
    "Schedule",
    "ScheduleStateError",
    "StaleAttemptError",
    "check_job",
    "job_run_id_for",
    "schedule_id_for",
    "slot_key",
]
