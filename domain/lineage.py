"""Lineage Obligations: what the lineage graph is made of, and the obligations every lineage must meet.

The graph is kept by ``projections/lineage.py`` from the pipeline's, products', exports' and contracts' events.
Its nodes are dataset versions (stored files, named by their content-addressed storage key and found by SHA-256),
pipeline runs and their steps, product versions, contract versions, approvals, exports and delivered actions.
Data flows along ``input`` (dataset -> step) and ``output`` (step -> dataset) edges, which carry the SHA-256 of the
dataset they touch; ``published_as`` ties a served dataset to its product version.

Obligations are declarative, versioned data: each names the kind of node it is about (its subjects) and the checks
it requires, by name and parameters. ``evaluate`` decides one obligation for one subject from that subject's
``Facts`` (gathered from the graph, which is built from events alone); it is pure, so the same log always gives the
same results. A changed rule is a new version of its obligation, and every result names the version that decided it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

DATASET, STEP, RUN, PRODUCT_VERSION = "dataset", "step", "run", "product_version"
CONTRACT_VERSION, APPROVAL, EXPORT, ACTION = "contract_version", "approval", "export", "action"
NODE_KINDS = (DATASET, STEP, RUN, PRODUCT_VERSION, CONTRACT_VERSION, APPROVAL, EXPORT, ACTION)

INPUT, OUTPUT, PUBLISHED_AS = "input", "output", "published_as"
GOVERNS, HAS_STEP, APPROVES = "governs", "has_step", "approves"
EDGE_KINDS = (INPUT, OUTPUT, PUBLISHED_AS, GOVERNS, HAS_STEP, APPROVES)
DATA_FLOW = frozenset({INPUT, OUTPUT, PUBLISHED_AS})
"""The edges data moves along: a trace back to raw bytes follows only these."""

STAGES = {
    "raw": "raw batch",
    "gdp": "golden data points",
    "quarantine": "quarantine",
    "kpi": "KPIs",
    "published": "published dataset",
    "exports": "export file",
}
"""Dataset store stages (the second part of every storage key) and what a dataset of each is."""

ACTION_DELIVERED = "action_delivered"
"""How an action delivery makes itself known to the lineage, before any exists: an event class whose class attribute
``lineage_subject`` is this value and which carries ``kpi_sha256`` (the SHA-256 of the KPI dataset version that
triggered the action, or None) becomes an ``action`` node, a subject of O3."""


def dataset_node(key: str) -> str:
    return f"{DATASET}:{key}"


def step_node(run_id: str, step: str) -> str:
    return f"{STEP}:{run_id}:{step}"


def run_node(run_id: str) -> str:
    return f"{RUN}:{run_id}"


def product_version_node(product_id: str, version: int) -> str:
    return f"{PRODUCT_VERSION}:{product_id}:{version}"


def contract_version_node(contract_id: str, version: str) -> str:
    return f"{CONTRACT_VERSION}:{contract_id}:{version}"


def approval_node(contract_id: str, version: str) -> str:
    return f"{APPROVAL}:{contract_id}:{version}"


def export_node(export_id: str) -> str:
    return f"{EXPORT}:{export_id}"


def action_node(action_id: str, version: int) -> str:
    return f"{ACTION}:{action_id}:{version}"


def kind_of(node_id: str) -> str:
    return node_id.split(":", 1)[0]


def stage_of(key: str) -> str:
    """The dataset store stage a storage key names (``tenant/stage/...``), or ``unknown``."""
    parts = key.split("/")
    return parts[1] if len(parts) > 2 and parts[1] in STAGES else "unknown"


# --- the facts an obligation is decided on


@dataclass(frozen=True)
class Approval:
    by: str
    roles: tuple[str, ...]
    """The roles the approver held just before the approval was recorded."""
    position: int


@dataclass(frozen=True)
class ContractVersion:
    contract: str
    version: str
    author: str | None
    """Who drafted the version; None when the version is not in the log at all."""
    approval: Approval | None


@dataclass(frozen=True)
class RawBatch:
    key: str
    sha256: str
    verified: bool | None = None
    """True or False once the stored bytes were hashed again; None when they were not checked."""
    error: str | None = None


@dataclass(frozen=True)
class Facts:
    """What the graph says about one subject, as far as the obligations need to know."""

    subject: str
    kind: str
    label: str
    contract: ContractVersion | None = None
    raw_batches: tuple[RawBatch, ...] = ()
    gaps: tuple[str, ...] = ()
    """Where the trace back to raw bytes breaks: a dataset no step produced, a finished step without inputs."""
    waiting_for: tuple[str, ...] = ()
    """Steps of the trace that have not recorded their end yet."""
    cited_kpi: str | None = None
    kpi_known: bool = False
    """Whether ``cited_kpi`` is the SHA-256 of a KPI dataset version in the lineage."""


# --- checks: pure functions from facts (and the requirement's parameters) to a verdict


class ObligationStatus(StrEnum):
    """How a subject stands against an obligation: satisfied, violated, or pending while steps are unfinished."""

    SATISFIED = "satisfied"
    VIOLATED = "violated"
    PENDING = "pending"


@dataclass(frozen=True)
class Verdict:
    status: ObligationStatus
    reasons: tuple[str, ...] = ()


OK = Verdict(ObligationStatus.SATISFIED)


def _violated(*reasons: str) -> Verdict:
    return Verdict(ObligationStatus.VIOLATED, reasons)


def _contract_version_approved(facts: Facts, params: Mapping[str, str]) -> Verdict:
    found = facts.contract
    if found is None:
        return _violated("it names no contract version")
    if found.author is None:
        return _violated(f"contract {found.contract} {found.version} is not in the log")
    if found.approval is None:
        return _violated(f"contract {found.contract} {found.version} was never approved")
    return OK


def _approver_held_role(facts: Facts, params: Mapping[str, str]) -> Verdict:
    approval = facts.contract.approval if facts.contract else None
    role = params["role"]
    if approval is None or role in approval.roles:
        return OK
    held = ", ".join(approval.roles) or "no role"
    return _violated(f"its approver {approval.by} held {held} at approval time, not {role}")


def _approver_is_not_author(facts: Facts, params: Mapping[str, str]) -> Verdict:
    found = facts.contract
    if found is None or found.approval is None or found.approval.by != found.author:
        return OK
    return _violated(f"contract {found.contract} {found.version} was approved by its own author {found.author}")


def _traces_to_raw_batches(facts: Facts, params: Mapping[str, str]) -> Verdict:
    if facts.gaps:
        return _violated(*facts.gaps)
    if facts.waiting_for:
        return Verdict(ObligationStatus.PENDING, tuple(f"{step} has not finished" for step in facts.waiting_for))
    if not facts.raw_batches:
        return _violated("no raw batch is upstream of it")
    return OK


def _raw_checksums_verify(facts: Facts, params: Mapping[str, str]) -> Verdict:
    failed = [batch for batch in facts.raw_batches if batch.verified is False]
    return _violated(*(f"raw batch {b.key} fails its checksum: {b.error}" for b in failed)) if failed else OK


def _cites_kpi_version(facts: Facts, params: Mapping[str, str]) -> Verdict:
    if facts.cited_kpi is None:
        return _violated("it cites no KPI version")
    if not facts.kpi_known:
        return _violated(f"it cites {facts.cited_kpi}, which is no KPI dataset version in the lineage")
    return OK


Check = Callable[[Facts, Mapping[str, str]], Verdict]
CHECKS: dict[str, Check] = {
    "contract_version_approved": _contract_version_approved,
    "approver_held_role": _approver_held_role,
    "approver_is_not_author": _approver_is_not_author,
    "traces_to_raw_batches": _traces_to_raw_batches,
    "raw_checksums_verify": _raw_checksums_verify,
    "cites_kpi_version": _cites_kpi_version,
}


# --- obligations: data


@dataclass(frozen=True)
class Requirement:
    check: str
    params: tuple[tuple[str, str], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.check, "params": dict(self.params)}


@dataclass(frozen=True)
class Obligation:
    id: str
    version: int
    subject: str
    """The kind of node it is about."""
    statement: str
    requires: tuple[Requirement, ...]

    def as_dict(self) -> dict[str, Any]:
        requires = [r.as_dict() for r in self.requires]
        return {"id": self.id, "version": self.version, "subject": self.subject, "statement": self.statement} | {
            "requires": requires
        }


OBLIGATIONS: tuple[Obligation, ...] = (
    Obligation(
        "O1",
        1,
        PRODUCT_VERSION,
        "Every published product version traces to a contract version approved by a principal who held "
        "data-steward at approval time and is not the version's author.",
        (
            Requirement("contract_version_approved"),
            Requirement("approver_held_role", (("role", "data-steward"),)),
            Requirement("approver_is_not_author"),
        ),
    ),
    Obligation(
        "O2",
        1,
        PRODUCT_VERSION,
        "Every published product version traces to raw batches whose ingest manifests are in the log and, "
        "when checked, whose stored bytes still match their SHA-256.",
        (Requirement("traces_to_raw_batches"), Requirement("raw_checksums_verify")),
    ),
    Obligation(
        "O3",
        1,
        ACTION,
        "Every delivered action cites the KPI dataset version that triggered it.",
        (Requirement("cites_kpi_version"),),
    ),
)
"""Every version of every obligation; ``in_force`` picks the latest version of each."""


def in_force(obligations: Iterable[Obligation] = OBLIGATIONS) -> tuple[Obligation, ...]:
    latest: dict[str, Obligation] = {}
    for obligation in obligations:
        if obligation.id not in latest or obligation.version > latest[obligation.id].version:
            latest[obligation.id] = obligation
    return tuple(sorted(latest.values(), key=lambda o: o.id))


@dataclass(frozen=True)
class Result:
    obligation: str
    version: int
    subject: str
    kind: str
    label: str
    status: ObligationStatus
    reasons: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "obligation": self.obligation,
            "version": self.version,
            "subject": self.subject,
            "kind": self.kind,
            "label": self.label,
            "status": self.status,
            "reasons": list(self.reasons),
        }


def evaluate(obligation: Obligation, facts: Facts) -> Result:
    """Decides one obligation for one of its subjects: violated if any check is, else pending if any is."""
    if obligation.subject != facts.kind:
        raise ValueError(f"{obligation.id} is about {obligation.subject} nodes, not {facts.kind}")
    verdicts = [CHECKS[r.check](facts, dict(r.params)) for r in obligation.requires]
    worst = (ObligationStatus.VIOLATED, ObligationStatus.PENDING)
    status = next((s for s in worst if any(v.status == s for v in verdicts)), ObligationStatus.SATISFIED)
    reasons = tuple(reason for v in verdicts if v.status == status for reason in v.reasons)
    return Result(obligation.id, obligation.version, facts.subject, facts.kind, facts.label, status, reasons)


def evaluate_all(subjects: Iterable[Facts], obligations: Iterable[Obligation] | None = None) -> list[Result]:
    """Every obligation in force (or those given) for every subject it is about, subject by subject."""
    rules = in_force() if obligations is None else tuple(obligations)
    return [evaluate(rule, facts) for facts in subjects for rule in rules if rule.subject == facts.kind]
