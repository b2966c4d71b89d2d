"""Platform events as CloudEvents 1.0 in structured JSON mode, as they travel on NATS, and back.

``type`` is ``platform.<context>.<EventName>``, ``source`` ``/platform/<context>``, ``subject`` the stream
(aggregate) id, ``time`` the event's recorded-at and ``data`` the event's own fields. The envelope's
metadata rides in extension attributes (lowercase alphanumeric names, as the spec requires):

- ``position``: the event's place in the log, a decimal string (positions are 64-bit, CloudEvents Integer is 32-bit);
- ``streamid``, ``streamversion``: the stream and the event's version in it;
- ``eventtopic``: the eventsourcing topic of the event class, from which a consumer rebuilds the event;
- ``tenantid``, ``actor``, ``commandid``, ``correlationid``, ``causationid``: who caused it and why;
- ``schemaversion``: the class version of the shape of ``data`` *in this message*. The relay sends data
  already upcast to its current class, so this may be newer than the version the event was stored with;
- ``requestfingerprint``: the keyed fingerprint of the HTTP request sent under an Idempotency-Key, when there was one;
- ``traceparent``: W3C trace context of the command that recorded the event (Distributed Tracing extension);
- ``sealedfields``: the data fields sealed with the tenant's data key, when the relay has the field cipher,
  so crypto-shredding a tenant also shreds what the stream keeps. A String of comma-separated field names
  (CloudEvents 1.0 attributes are scalars: no arrays). Field names are Python identifiers, so none holds a
  comma; a name that did would be refused rather than escaped. Readers also accept the JSON array of
  earlier messages still in a stream.
- ``blobfields``: the data fields an event stores apart by content (``blob_fields``, e.g. a contract's document
  and typed form), sent as the SHA-256 of their canonical JSON instead of the content, so a message stays far
  below NATS's 1 MB payload limit; the same comma-separated String. Platform consumers read the content from the
  blob store, others through the API (a contract version's document).

This message shape is versioned apart from the domain events: renaming an event class changes neither.
Absent optional attributes are omitted, never null.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from eventsourcing.persistence import StoredEvent

from eventstore import codec
from eventstore.blobs import BlobStore, blob_fields_of, sha256_of
from eventstore.cipher import FieldCipher, KeyErasedError, encrypted_fields_of
from eventstore.envelope import Metadata, RecordedEvent

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json"
DATA_CONTENT_TYPE = "application/json"
NO_TENANT = "_platform"
"""The subject token of events that belong to no tenant."""

_UNSAFE_TOKEN = re.compile(r"[^A-Za-z0-9_-]")


class NotACloudEventError(ValueError):
    """The message is not a platform CloudEvent (bad JSON, a missing attribute or another specversion)."""


class CloudEvent(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A platform event as a CloudEvents 1.0 structured-mode JSON object."""

    specversion: str
    id: str
    source: str
    type: str
    subject: str
    time: str
    datacontenttype: str
    data: dict[str, Any]
    position: str
    streamid: str
    streamversion: int
    eventtopic: str
    actor: str
    commandid: str
    correlationid: str
    schemaversion: int
    tenantid: str | None = None
    causationid: str | None = None
    traceparent: str | None = None
    requestfingerprint: str | None = None
    sealedfields: str = ""
    """Comma-separated field names; ``parse`` also reads the JSON array of earlier messages."""
    blobfields: str = ""
    """Comma-separated field names."""


class _Received(CloudEvent, frozen=True, kw_only=True, omit_defaults=True):
    """A CloudEvent as read: ``sealedfields`` may still be the JSON array messages carried before."""

    sealedfields: str | list[str] = ""  # type: ignore[assignment]  # wider than the sent form, on purpose


class _Envelope(msgspec.Struct, frozen=True):
    """The stored-state JSON the codec reads: {"meta": ..., "data": ..., "enc": [...], "blobs": [...]}."""

    meta: Metadata
    data: dict[str, Any]
    enc: list[str]
    blobs: list[str]


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_Received)


def event_type(recorded: RecordedEvent) -> str:
    cls = type(recorded.event)
    return f"platform.{codec.context_of(cls)}.{codec.type_name(cls)}"


def subject_token(value: str) -> str:
    """A value made safe as one NATS subject token (no dots, wildcards or spaces)."""
    return _UNSAFE_TOKEN.sub("_", value) or "_"


def nats_subject(prefix: str, recorded: RecordedEvent) -> str:
    """``<prefix>.<tenant id or _platform>.<context>.<EventName>``."""
    cls = type(recorded.event)
    tenant = subject_token(recorded.tenant_id) if recorded.tenant_id else NO_TENANT
    return f"{prefix}.{tenant}.{codec.context_of(cls)}.{codec.type_name(cls)}"


def subject_filter(prefix: str, context: str | None = None) -> str:
    """The subjects of every event (``<prefix>.>``) or of one bounded context (``<prefix>.*.<context>.>``)."""
    return f"{prefix}.*.{context}.>" if context else f"{prefix}.>"


def to_cloud_event(recorded: RecordedEvent, cipher: FieldCipher | None = None) -> CloudEvent:
    """The recorded event as a CloudEvent; with a cipher, its encrypted fields are sent sealed."""
    cls = type(recorded.event)
    meta = recorded.metadata
    data, sealed = _sealed(cls, dict(recorded.data), meta.tenant_id, cipher)
    apart = [name for name in blob_fields_of(cls) if name in data]
    data.update({name: sha256_of(data[name]) for name in apart})
    return CloudEvent(
        specversion=SPEC_VERSION,
        id=meta.event_id,
        source=f"/platform/{codec.context_of(cls)}",
        type=event_type(recorded),
        subject=str(recorded.stream_id),
        time=meta.recorded_at,
        datacontenttype=DATA_CONTENT_TYPE,
        data=data,
        position=str(recorded.position),
        streamid=str(recorded.stream_id),
        streamversion=recorded.version,
        eventtopic=recorded.topic,
        actor=meta.actor,
        commandid=meta.command_id,
        correlationid=meta.correlation_id,
        schemaversion=codec.class_version(cls),
        tenantid=meta.tenant_id,
        causationid=meta.causation_id,
        traceparent=meta.traceparent,
        requestfingerprint=meta.request_fingerprint,
        sealedfields=name_list(sealed),
        blobfields=name_list(apart),
    )


def name_list(names: list[str]) -> str:
    """Field names as one CloudEvents String attribute: ``a,b``; ValueError for a name holding a comma."""
    for name in names:
        if "," in name or not name:
            msg = f"field name {name!r} cannot be listed in a comma-separated attribute"
            raise ValueError(msg)
    return ",".join(names)


def field_names(attribute: str | list[str]) -> list[str]:
    """The names an attribute lists: the comma-separated String, or the JSON array earlier messages carried."""
    if isinstance(attribute, list):
        return attribute
    return attribute.split(",") if attribute else []


def _sealed(
    cls: type, data: dict[str, Any], tenant_id: str | None, cipher: FieldCipher | None
) -> tuple[dict[str, Any], list[str]]:
    if cipher is None:
        return data, []
    sealed = []
    for name in encrypted_fields_of(cls):
        if name not in data:
            continue
        try:
            data[name] = cipher.encrypt(tenant_id, data[name])
        except KeyErasedError:  # the value already reads as erased: there is nothing left to seal
            continue
        sealed.append(name)
    return data, sealed


def encode(recorded: RecordedEvent, cipher: FieldCipher | None = None) -> bytes:
    """The recorded event as structured-mode CloudEvent JSON bytes."""
    return _encoder.encode(to_cloud_event(recorded, cipher))


def parse(payload: bytes) -> CloudEvent:
    """Reads a structured-mode CloudEvent; NotACloudEventError when it is none of ours."""
    try:
        received = _decoder.decode(payload)
    except msgspec.DecodeError as error:
        raise NotACloudEventError(str(error)) from error
    try:
        sealed = name_list(field_names(received.sealedfields))
    except ValueError as error:
        raise NotACloudEventError(str(error)) from error
    cloud_event = CloudEvent(**msgspec.structs.asdict(received) | {"sealedfields": sealed})
    if cloud_event.specversion != SPEC_VERSION:
        msg = f"CloudEvents specversion {cloud_event.specversion!r} is not {SPEC_VERSION}"
        raise NotACloudEventError(msg)
    if not (cloud_event.position.isascii() and cloud_event.position.isdigit()):  # "²".isdigit() is true
        msg = f"CloudEvent {cloud_event.id} has position {cloud_event.position!r}, not a decimal number"
        raise NotACloudEventError(msg)
    return cloud_event


def to_recorded(
    cloud_event: CloudEvent, cipher: FieldCipher | None = None, blobs: BlobStore | None = None
) -> RecordedEvent:
    """The recorded event a CloudEvent carries, rebuilt (and upcast) by the event-store codec; fields sent by
    their hash are read from the blob store and checked against it."""
    metadata = Metadata(
        event_id=cloud_event.id,
        tenant_id=cloud_event.tenantid,
        actor=cloud_event.actor,
        command_id=cloud_event.commandid,
        correlation_id=cloud_event.correlationid,
        causation_id=cloud_event.causationid,
        traceparent=cloud_event.traceparent,
        recorded_at=cloud_event.time,
        schema_version=cloud_event.schemaversion,
        request_fingerprint=cloud_event.requestfingerprint,
    )
    sealed, apart = field_names(cloud_event.sealedfields), field_names(cloud_event.blobfields)
    state = _encoder.encode(_Envelope(meta=metadata, data=cloud_event.data, enc=sealed, blobs=apart))
    stored = StoredEvent(
        originator_id=cloud_event.streamid,
        originator_version=cloud_event.streamversion,
        topic=cloud_event.eventtopic,
        state=state,
    )
    return codec.decode(int(cloud_event.position), stored, cipher, blobs)


def decode(payload: bytes, cipher: FieldCipher | None = None, blobs: BlobStore | None = None) -> RecordedEvent:
    """Structured-mode CloudEvent JSON bytes back into the recorded event."""
    return to_recorded(parse(payload), cipher, blobs)
