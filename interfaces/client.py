"""A small HTTP client of the platform's own API, for CLI commands that act on a running platform (ingest, demo).

Standard library only (urllib), so the CLI needs nothing the server does not. Problem details come back as one
readable line in ``ApiError``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlencode

TIMEOUT = 120.0


class ApiError(Exception):
    """The API refused a request; the message carries the status and the problem's detail."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status


class Client:
    """Calls the API at ``base_url`` as one principal (an API key, or a bearer token)."""

    def __init__(self, base_url: str, api_key: str = "", token: str = "") -> None:
        self.base_url = base_url.rstrip("/")
        self.headers: dict[str, str] = {"Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        elif api_key:
            self.headers["X-API-Key"] = api_key

    def as_key(self, api_key: str) -> Client:
        return Client(self.base_url, api_key=api_key)

    def get(self, path: str, params: Mapping[str, Any] | None = None, **headers: str) -> Any:
        query = f"?{urlencode(params)}" if params else ""
        return self._send("GET", f"{path}{query}", None, headers)

    def post(self, path: str, body: Any = None, **headers: str) -> Any:
        data = json.dumps(body if body is not None else {}).encode()
        return self._send("POST", path, data, {"Content-Type": "application/json", **headers})

    def post_bytes(self, path: str, data: bytes, content_type: str, **headers: str) -> Any:
        return self._send("POST", path, data, {"Content-Type": content_type, **headers})

    def post_file(self, path: str, file: Path, content_type: str, **headers: str) -> Any:
        """Uploads a file streamed from disk (never read whole into memory)."""
        with file.open("rb") as body:
            size = str(file.stat().st_size)
            return self._send("POST", path, body, {"Content-Type": content_type, "Content-Length": size, **headers})

    def _send(self, method: str, path: str, data: bytes | BinaryIO | None, headers: Mapping[str, str]) -> Any:
        request = urllib.request.Request(
            self.base_url + path, data=data, method=method, headers={**self.headers, **headers}
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                payload = response.read()
                if not payload:
                    return None
                kind = response.headers.get("content-type", "")
                return json.loads(payload) if "json" in kind else payload
        except urllib.error.HTTPError as error:
            raise ApiError(error.code, _detail(error.read())) from None
        except urllib.error.URLError as error:
            raise ApiError(0, f"cannot reach {self.base_url}: {error.reason}") from None


def _detail(payload: bytes) -> str:
    try:
        problem = json.loads(payload)
    except ValueError:
        return payload.decode(errors="replace")[:300]
    detail = str(problem.get("detail") or problem.get("title") or problem)
    errors = problem.get("errors") or []
    more = "; ".join(str(e.get("detail", e)) for e in errors[:3] if isinstance(e, dict))
    return f"{detail} ({more})" if more and more not in detail else detail
