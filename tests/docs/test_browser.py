"""The built site in headless Chromium: pages render and the search finds a verb (ADR 0033).

Uses Debian's ``chromium`` (the Makefile installs it with apt) driven by Playwright's
Python API; no browser is downloaded. Screenshots are kept as test artefacts in
``$LEGACY_API_ARTEFACTS`` (default ``build/artefacts``)/docs.
"""

from __future__ import annotations

import functools
import os
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sync_api = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium)"),
]


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def base_url(site):
    """The built site over loopback HTTP (the search index is fetched, not read from disk)."""
    handler = functools.partial(_Quiet, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def artefacts():
    """The directory the screenshots are written to."""
    root = Path(os.environ.get("LEGACY_API_ARTEFACTS", ROOT / "build" / "artefacts"))
    path = root / "docs"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium under Playwright."""
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser):
    """A fresh page with a desktop viewport; fails the test on a JavaScript error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert errors == []


@pytest.mark.parametrize(
    ("path", "name", "expected"),
    [
        ("/", "home", "Two commands"),
        ("/reference/client/", "legacy-client", "update_many"),
        ("/tutorial/", "tutorial", "From WSZ_api to legacy-api in an afternoon"),
    ],
)
def test_page_renders(page, base_url, artefacts, path, name, expected):
    """The page loads with the theme's layout, shows its content, and is screenshotted."""
    response = page.goto(base_url + path)
    assert response is not None
    assert response.status == 200
    sync_api.expect(page.locator("article.md-content__inner")).to_contain_text(expected)
    assert page.locator("nav.md-nav--primary").count() >= 1  # Material's navigation drawn
    shot = artefacts / f"{name}.png"
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 10_000


MERMAID_JS = ROOT / "docs" / "assets" / "javascripts" / "mermaid.min.js"


@pytest.mark.skipif(
    not MERMAID_JS.is_file(), reason="no docs/assets/javascripts/mermaid.min.js: run make install"
)
def test_architecture_diagrams_render(page, base_url, artefacts):
    """Material turns the Mermaid blocks of the architecture page into SVG diagrams."""
    page.goto(base_url + "/architecture/")
    diagrams = page.locator(".mermaid")
    assert diagrams.count() >= 3
    # Material renders Mermaid into a closed shadow root: the host element gets a size.
    sync_api.expect(diagrams.first).to_be_visible()
    box = diagrams.first.bounding_box()
    assert box is not None
    assert box["height"] > 100
    diagrams.nth(2).scroll_into_view_if_needed()
    page.screenshot(path=str(artefacts / "architecture-session.png"))


def test_search_finds_update_many(page, base_url, artefacts):
    """Typing update_many in the search box lists the LegacyClient reference among the results."""
    page.goto(base_url + "/")
    page.wait_for_load_state("networkidle")  # the search index is loaded by a worker
    box = page.locator("input.md-search__input")
    box.click()
    sync_api.expect(box).to_be_focused()
    box.type("update_many", delay=20)  # typed like a person: Material searches on input
    hit = page.locator('.md-search-result__item a[href*="reference/client/"]')
    sync_api.expect(hit.first).to_be_visible(timeout=20_000)
    sync_api.expect(page.locator(".md-search-result")).to_contain_text("update_many")
    page.screenshot(path=str(artefacts / "search-update_many.png"))
