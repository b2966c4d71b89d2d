"""A container's health probe, with nothing but Python (the image has no curl): each argument is a URL that must
answer 200, or a HOST:PORT that must accept a connection. Exit 0 when all do, 1 naming the first that does not.

An API server is probed at its own /health; a worker (which listens on no port) at the services it cannot work
without, since the worker itself is PID 1 and its container stops when it does."""

from __future__ import annotations

import socket
import sys
import urllib.request

TIMEOUT = 3.0


def answers(target: str) -> bool:
    try:
        if target.startswith(("http://", "https://")):
            with urllib.request.urlopen(target, timeout=TIMEOUT) as response:
                return bool(response.status == 200)
        host, _, port = target.rpartition(":")
        socket.create_connection((host, int(port)), timeout=TIMEOUT).close()
        return True
    except (OSError, ValueError):
        return False


def main(targets: list[str]) -> int:
    for target in targets:
        if not answers(target):
            print(f"unhealthy: {target} does not answer", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
