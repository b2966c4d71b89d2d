"""An S3-compatible server for tests: moto in server mode, its own process on a free loopback port.

moto keeps every bucket in the server's memory, so a test that wants a clean store takes a bucket of its own
(``fresh_bucket_url``). The server answers the requests pyarrow's S3 filesystem sends (multipart uploads
included) and, unlike pyarrow, honours ``If-None-Match`` on PutObject.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass

ACCESS_KEY = SECRET_KEY = "testing"
"""moto accepts any key; the URLs carry it, so nothing is read from the environment or a metadata service."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class S3Server:
    """A running moto server: its ``endpoint`` (host:port) and process id."""

    endpoint: str
    pid: int

    def fresh_bucket_url(self, prefix: str = "platform") -> str:
        """A dataset-store URL in a bucket no other test uses; the store creates the bucket on opening."""
        bucket = f"t-{uuid.uuid4().hex[:16]}"
        query = f"endpoint_override={self.endpoint}&scheme=http&region=us-east-1&allow_bucket_creation=true"
        return f"s3://{ACCESS_KEY}:{SECRET_KEY}@{bucket}/{prefix}?{query}"


def start() -> tuple[S3Server, subprocess.Popen[bytes]]:
    """Starts moto on a free loopback port and waits until it answers (at most 30 s)."""
    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1).close()
            return S3Server(f"127.0.0.1:{port}", process.pid), process
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.1)
    stop(process.pid)
    raise RuntimeError("the moto S3 server did not start")


def stop(pid: int) -> None:
    """Stops the server by its process id."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
