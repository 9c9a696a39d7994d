"""Debian's Chromium driven by Playwright (by `executable_path`: Playwright downloads no browser), axe's verdict on a
page, and an app served over real HTTP for it (on a database of its own when its queue must be its own)."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from app.config import Settings
from app.ops.embedded import free_port
from tests.conftest import Infra, make_settings
from tests.support.database import migrated_store, own_database

SERIOUS = {"serious", "critical"}


def chromium() -> str | None:
    """The Chromium on PATH (Debian names it `chromium`), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextlib.contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """`app` (lifespan and runner included) on a free port of 127.0.0.1, uvicorn in a thread, until the block ends."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@contextlib.contextmanager
def database_of_its_own(infra: Infra, root: Path, **overrides: object) -> Iterator[Settings]:
    """Settings on a database of their own, migrated (`own_database`, `migrated_store`), for a sync test: held by
    an event loop in a thread of its own, as Playwright's sync API holds this thread's."""
    ready: queue.Queue[Settings | BaseException] = queue.Queue()
    done = threading.Event()

    async def hold() -> None:
        try:
            async with own_database(infra, "browser") as database:
                settings = make_settings(infra, root, postgres_db=database, **overrides)
                async with migrated_store(settings):
                    ready.put(settings)
                await asyncio.to_thread(done.wait)
        except BaseException as exc:
            ready.put(exc)
            raise

    thread = threading.Thread(target=asyncio.run, args=(hold(),), daemon=True)
    thread.start()
    try:
        settings = ready.get(timeout=60)
        if isinstance(settings, BaseException):
            raise settings
        yield settings
    finally:
        done.set()
        thread.join(60)


@dataclass
class Browser:
    """One headless Chromium for a module's tests; each test opens pages in a context of its own."""

    playwright: Any
    chromium: Any
    errors: list[str] = field(default_factory=list)

    @classmethod
    @contextlib.contextmanager
    def launch(cls) -> Iterator[Browser]:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            # Root (CI) cannot use Chromium's sandbox; the pages opened are our own.
            opened = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
            try:
                yield cls(playwright, opened)
            finally:
                opened.close()

    @contextlib.contextmanager
    def page(self, base_url: str) -> Iterator[Any]:
        """A fresh page (its own sessionStorage) at 1280x900; fails the test on an uncaught script error or a
        request the page's Content-Security-Policy refused."""
        context = self.chromium.new_context(viewport={"width": 1280, "height": 900}, base_url=base_url)
        context.set_default_timeout(15_000)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
        page.on(
            "console",
            lambda message: errors.append(message.text) if "Content Security Policy" in message.text else None,
        )
        try:
            yield page
        finally:
            context.close()
        assert errors == [], errors

    def serious_violations(self, page: Any) -> list[str]:
        """axe-core's serious and critical violations on `page` as it is now: 'rule: target …' lines."""
        from axe_playwright_python.sync_playwright import Axe

        results = Axe().run(page)
        return [
            f"{violation['id']} ({violation['impact']}): {node['target']} {node.get('failureSummary', '')}"
            for violation in results.response["violations"]
            if violation["impact"] in SERIOUS
            for node in violation["nodes"]
        ]
