"""Personal data: who was served personal-data fields unmasked, from which product version, and why.

Each answer that serves unmasked personal data is one ``PersonalDataAccess`` of its own (one stream, one event):
readers never wait on each other, and a stream never grows. The event names the fields, never their values.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from domain.aggregate import Aggregate
from domain.errors import InvalidValueError

MAX_FIELDS = 200
MAX_TEXT = 200


class PersonalDataAccess(Aggregate):
    """One answer that served personal-data fields unmasked."""

    class Recorded(Aggregate.Created):
        """A principal was served personal-data fields unmasked: the product version, dataset, fields (names
        only), the number of rows, and why (the operation, the route and the request id)."""

        principal_id: str
        principal_kind: str
        product: str
        version: int
        dataset: str
        fields: list[str]
        rows: int
        operation: str
        route: str
        request_id: str

    @classmethod
    def record(
        cls,
        access_id: UUID,
        principal_id: str,
        principal_kind: str,
        served: ServedData,
        why: Purpose,
    ) -> PersonalDataAccess:
        if not served.fields or len(served.fields) > MAX_FIELDS or served.rows < 1:
            msg = f"an access serves 1-{MAX_FIELDS} personal-data fields and at least one row"
            raise InvalidValueError(msg)
        if not why.operation or not why.route or any(len(t) > MAX_TEXT for t in (why.operation, why.request_id)):
            msg = f"an access names its operation and route (and a request id of up to {MAX_TEXT} characters)"
            raise InvalidValueError(msg)
        return cls._create(
            cls.Recorded,
            id=access_id,
            principal_id=principal_id,
            principal_kind=principal_kind,
            product=served.product,
            version=served.version,
            dataset=served.dataset,
            fields=sorted(served.fields),
            rows=served.rows,
            operation=why.operation,
            route=why.route,
            request_id=why.request_id,
        )

    def __init__(
        self,
        principal_id: str,
        principal_kind: str,
        product: str,
        version: int,
        dataset: str,
        fields: list[str],
        rows: int,
        operation: str,
        route: str,
        request_id: str,
    ) -> None:
        self.principal_id = principal_id
        self.product = product
        self.product_version = version
        self.dataset = dataset
        self.fields = fields
        self.rows = rows


@dataclass(frozen=True)
class ServedData:
    """What an answer served: a product version's dataset, the personal-data fields in it and its row count."""

    product: str
    version: int
    dataset: str
    fields: list[str]
    rows: int


@dataclass(frozen=True)
class Purpose:
    """Why it was served: the operation (the route's action), the route template and the request id."""

    operation: str
    route: str
    request_id: str
