"""The web apps in a real browser: a platform served by uvicorn on a free port (SQLite files), and Debian's headless
Chromium driven by Playwright. Every page a journey visits is screenshotted (under the test's tmp path, or
PLATFORM_TEST_ARTEFACTS when set) and checked by axe-core, injected from the vendored file the platform serves; the
console must stay free of errors (a page breaking its Content-Security-Policy reports one)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright

from interfaces.bootstrap import Platform, bootstrap
from interfaces.credentials import dev_token
from interfaces.http.app import create_app
from tests.e2e.conftest import settings_in

CHROMIUM = Path("/usr/bin/chromium")
AXE_URL = "/web/static/vendor/axe.min.js"
BLOCKING_IMPACTS = {"serious", "critical"}

pytestmark = pytest.mark.browser


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served:
    """The platform, and the address its HTTP server answers on."""

    def __init__(self, platform: Platform, base_url: str) -> None:
        self.platform, self.base_url = platform, base_url

    def token(self, role: str, tenant_id: str | None = None) -> str:
        return dev_token(self.platform, role, tenant_id)

    def api(self, role: str, tenant_id: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token(role, tenant_id)}"}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with ExitStack() as stack:
        platform = bootstrap(settings_in(tmp_path_factory.mktemp("platform"), "sqlite", stack))
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(platform), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive(), "the platform's server stopped before serving"
            assert time.monotonic() < deadline, "the platform did not start serving within 30 s"
            time.sleep(0.05)
        try:
            yield Served(platform, f"http://127.0.0.1:{port}")
        finally:
            server.should_exit = True
            thread.join(timeout=20)
            platform.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: apt-get install -y chromium chromium-driver (.ci/run does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()


@pytest.fixture
def artefacts(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    root = os.environ.get("PLATFORM_TEST_ARTEFACTS")
    folder = Path(root) / request.node.name if root else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Visitor:
    """A person in their own browser context (their own cookies), who checks and keeps every page they see."""

    def __init__(self, page: Page, base_url: str, artefacts: Path, name: str) -> None:
        self.page, self.base_url, self.artefacts, self.name = page, base_url, artefacts, name
        self.seen = 0
        self.console_errors: list[str] = []
        page.on("console", lambda message: self._console(message.type, message.text))

    def _console(self, kind: str, text: str) -> None:
        if kind == "error":  # a CSP violation is reported here: the apps must cause none
            self.console_errors.append(text)

    def open(self, path: str) -> None:
        self.page.goto(self.base_url + path)
        self.check()

    def check(self, refused: bool = False) -> None:
        """Screenshot the page, and fail on any serious or critical axe-core violation or console error (but the
        browser's note that the page itself answered 4xx, on a page that shows a refusal)."""
        if refused:
            self.console_errors = [e for e in self.console_errors if not e.startswith("Failed to load resource")]
        self.seen += 1
        self.page.screenshot(path=str(self.artefacts / f"{self.name}-{self.seen:02d}.png"), full_page=True)
        # by URL, the vendored file as the platform serves it: inlined (path=) it would break the pages' strict CSP
        self.page.add_script_tag(url=self.base_url + AXE_URL)
        result: dict[str, Any] = self.page.evaluate("async () => await axe.run(document)")
        blocking = [v for v in result["violations"] if v.get("impact") in BLOCKING_IMPACTS]
        assert not blocking, [(v["id"], v["help"], [n["target"] for n in v["nodes"]]) for v in blocking]
        assert not self.console_errors, self.console_errors

    def sign_in(self, credential: str) -> None:
        self.open("/web/sign-in")
        self.page.get_by_label("Token or API key").fill(credential)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_load_state()
        self.check()


@pytest.fixture
def visitor(browser: Browser, served: Served, artefacts: Path) -> Iterator[Any]:
    contexts = []

    def make(name: str) -> Visitor:
        context = browser.new_context()
        contexts.append(context)
        return Visitor(context.new_page(), served.base_url, artefacts, name)

    yield make
    for context in contexts:
        context.close()
