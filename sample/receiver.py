"""A receiver for the README's actions: ``python -m sample.receiver 127.0.0.1:9000`` prints every request it gets.

It answers every POST, PUT or PATCH with 204 and prints the method, the path, the Authorization header's scheme and
the body, one request per paragraph, so a reader sees what an action delivered. Loopback only, for trying things.
"""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        scheme = (self.headers.get("authorization") or "none").split(" ", 1)[0]
        print(f"{self.command} {self.path} (authorization: {scheme})\n{body.decode(errors='replace')}\n", flush=True)
        self.send_response(204)
        self.end_headers()

    do_PUT = do_PATCH = do_POST

    def log_message(self, format: str, *args: object) -> None:  # the requests themselves are printed instead
        return


def main(argv: list[str]) -> None:
    host, _, port = (argv[0] if argv else "127.0.0.1:9000").rpartition(":")
    server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), Receiver)
    print(f"receiving on http://{host}:{port}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
