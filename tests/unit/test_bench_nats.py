"""The NATS figures' own logic, without a server: counting acks, expressing a p99 pair as rates, registration."""

from __future__ import annotations

from typing import Any, cast

import pytest
from nats.aio.msg import Msg

import bench.nats  # noqa: F401  (registers the figures)
from bench.harness import REGISTRY, Round
from bench.jetstream import AckCounter, acked_sequence, p99


def ack(subject: str, data: bytes = b"") -> Msg:
    return Msg(_client=cast(Any, None), subject=subject, data=data)


def v1(stream_sequence: int, delivered: int = 1) -> str:
    return f"$JS.ACK.S.C.{delivered}.{stream_sequence}.{stream_sequence}.1795702668077334580.0"


def test_the_stream_sequence_is_read_from_both_ack_subject_formats() -> None:
    assert acked_sequence(v1(41)) == "41"
    assert acked_sequence("$JS.ACK.hub.ACCHASH.S.C.2.41.7.1795702668077334580.0.r4nd0m") == "41"


async def test_acks_count_once_per_stream_sequence_and_naks_do_not_count() -> None:
    counter = AckCounter(expected=3)

    await counter.on_ack(ack(v1(1)))
    await counter.on_ack(ack(v1(2), b"-NAK"))
    await counter.on_ack(ack(v1(2), b"+WPI"))
    await counter.on_ack(ack(v1(1, delivered=2), b"+ACK"))  # a redelivered message acked again
    assert (counter.acked, counter.done.is_set()) == ({"1"}, False)

    await counter.on_ack(ack(v1(2, delivered=2)))
    await counter.on_ack(ack(v1(3), b"+ACK"))
    assert (counter.acked, counter.done.is_set()) == ({"1", "2", "3"}, True)


def test_a_p99_pair_is_a_rate_pair_whose_ratio_is_baseline_p99_over_system_p99() -> None:
    system = p99([n / 1000 for n in range(1, 101)])  # 1..100 ms
    baseline = p99([n / 10_000 for n in range(1, 101)])  # 0.1..10 ms

    assert system.count == baseline.count == 1
    assert system.seconds == pytest.approx(0.09901)
    assert system.rate == pytest.approx(1 / 0.09901)
    assert Round(system, baseline, system_first=True).ratio == pytest.approx(baseline.seconds / system.seconds)
    assert Round(system, baseline, system_first=True).ratio == pytest.approx(0.1)


def test_the_three_nats_figures_are_registered_with_their_units() -> None:
    figures = {name: (REGISTRY[name].aim, REGISTRY[name].unit) for name in REGISTRY if name in NATS_FIGURES}
    assert figures == NATS_FIGURES


NATS_FIGURES = {
    "relay.publish": (0.5, "events/s"),
    "consumer.feed": (0.5, "messages/s"),
    "command.latency": (0.05, "1/p99 s"),
}
