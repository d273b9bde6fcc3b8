"""The console's files as the engine serves them: the page, every module it imports, and
nothing that would make a browser fetch from the internet."""

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from party_engine.config import Settings
from party_engine.console import STATIC_DIR
from party_engine.engine import Engine
from tests.api_harness import GATEWAY, SECRET, api_client

IMPORT = re.compile(r'^import .* from "(\.{1,2}/[^"]+\.js)";$', re.MULTILINE)
REMOTE_URL = re.compile(r"""(?:src|href|url\(|@import)\s*=?\s*["']?(?:https?:)?//""")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(Engine(Settings(jwt_secret=SECRET), roles=GATEWAY)) as client:
        yield client


async def test_the_page_is_served_at_the_root_with_a_strict_content_policy(client) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/console/app.js">' in response.text
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "connect-src 'self' ws: wss:" in policy


async def test_every_module_the_page_imports_is_served_as_javascript(client) -> None:
    seen: set[str] = set()
    pending = ["/console/app.js"]
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/javascript"), path
        folder = path.rsplit("/", 1)[0]
        for target in IMPORT.findall(response.text):
            pending.append(str(httpx.URL(f"http://test{folder}/").join(target).path))
    served = {f"/console/{p.relative_to(STATIC_DIR)}" for p in STATIC_DIR.rglob("*.js")}
    assert seen == served  # no module is unreachable, none is missing


async def test_an_unknown_asset_is_a_404_and_the_api_is_not_shadowed(client) -> None:
    assert (await client.get("/console/nope.js")).status_code == 404
    assert (await client.get("/healthz")).json() == {"status": "ok"}


def test_no_static_file_loads_anything_from_another_origin() -> None:
    for path in STATIC_DIR.rglob("*"):
        if path.suffix in {".html", ".css", ".js"}:
            assert not REMOTE_URL.search(path.read_text()), path


def test_no_user_text_goes_through_html_parsing() -> None:
    for path in STATIC_DIR.rglob("*.js"):
        source = path.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
            assert sink not in source, f"{path.name} uses {sink}"
