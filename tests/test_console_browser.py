"""The host console in a real browser: Debian's Chromium driven by Playwright, against
`party-engine all` running as a real server process on the embedded backends.

Screenshots of each view go to tests/output/console/<test name>/ (ignored by git through
tests/output/.gitignore), to be looked at by a person.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import websocket
from playwright.sync_api import Browser, Page, expect, sync_playwright

from party_engine.backends import open_archive, open_store
from party_engine.domain.listings import Listing
from party_engine.tokens import UserRole, issue_token
from tests.engine_server import TEST_JWT_SECRET, EngineServer
from tests.report_helpers import an_ended_party, archive
from tests.tcp_proxy import TcpProxy

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OUTPUT = Path(__file__).parent / "output" / "console"
# Room for a loaded 2-core CI machine; a passing expectation returns as soon as it holds.
expect.set_options(timeout=10_000)
VIEWPORT = {"width": 1280, "height": 900}


def token(user: str, role: UserRole) -> str:
    return issue_token(TEST_JWT_SECRET, user, role)


# A short history, so that a test can outrun it and see a rejoin that cannot be replayed.
HISTORY_SIZE = 10


@pytest.fixture(scope="module")
def engine() -> Iterator[EngineServer]:
    with EngineServer(settings={"PARTY_HISTORY_SIZE": str(HISTORY_SIZE)}) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make services` (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Path:
    folder = OUTPUT / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def open_page(browser: Browser) -> Iterator:
    """open_page(base_url) -> a page in a fresh browser context (its own sessionStorage).

    Every uncaught script error on any of the pages fails the test.
    """
    contexts = []
    script_errors: list[str] = []

    def open_(base_url: str) -> Page:
        context = browser.new_context(viewport=VIEWPORT, base_url=base_url)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: script_errors.append(str(error)))
        page.goto("/")
        return page

    yield open_
    for context in contexts:
        context.close()
    assert script_errors == []


def sign_in(page: Page, user_token: str) -> None:
    page.get_by_label("Token").fill(user_token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Parties")).to_be_visible()


def local_input(moment: dt.datetime) -> str:
    """The value a datetime-local input holds for `moment`, in the browser's (= our) zone."""
    return moment.astimezone().strftime("%Y-%m-%dT%H:%M")


def schedule(page: Page, title: str, theme_value: str, starts_at: dt.datetime) -> None:
    page.get_by_role("link", name="Schedule a party").click()
    page.get_by_label("Title").fill(title)
    page.get_by_label("Theme kind").select_option("brand")
    page.get_by_label("Theme", exact=True).fill(theme_value)
    page.get_by_label("Starts at").fill(local_input(starts_at))
    page.get_by_role("button", name="Schedule").click()


def test_sign_in_refuses_a_token_the_server_rejects(engine, open_page, shots) -> None:
    page = open_page(engine.url)
    expect(page.get_by_text("party-engine token --user alice --role host")).to_be_visible()
    forged = issue_token("another-secret-that-is-32-chars-long!!", "mallory", UserRole.HOST)
    page.get_by_label("Token").fill(forged)
    page.get_by_role("button", name="Sign in").click()

    expect(page.locator('[data-error-for="token"]')).to_contain_text("invalid token")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.screenshot(path=shots / "sign-in-refused.png", full_page=True)


def test_schedule_form_shows_a_past_start_time_next_to_its_field(engine, open_page, shots) -> None:
    page = open_page(engine.url)
    sign_in(page, token("hana", UserRole.HOST))
    schedule(page, "Too late", "Nike", dt.datetime.now(dt.UTC) - dt.timedelta(hours=2))

    starts_at_error = page.locator('[data-error-for="starts_at"]')
    expect(starts_at_error).to_have_text("starts_at must be in the future")
    expect(page.locator('.field[data-field="starts_at"]')).to_have_class(re.compile("invalid"))
    for other in ("title", "theme.value", "duration_minutes"):
        expect(page.locator(f'[data-error-for="{other}"]')).to_have_text("")
    expect(page).to_have_url(re.compile("#/schedule$"))  # nothing was created
    page.screenshot(path=shots / "schedule-past-start.png", full_page=True)

    # A pydantic validation error (empty title) lands next to its own field too.
    page.get_by_label("Title").fill("")
    page.get_by_label("Starts at").fill(local_input(dt.datetime.now() + dt.timedelta(hours=1)))
    page.get_by_role("button", name="Schedule").click()
    expect(page.locator('[data-error-for="title"]')).to_contain_text("at least 1 character")
    expect(starts_at_error).to_have_text("")


def test_host_and_shopper_run_a_party_live(engine, open_page, shots) -> None:
    host = open_page(engine.url)
    page_shot = lambda page, name: page.screenshot(path=shots / f"{name}.png", full_page=True)  # noqa: E731
    page_shot(host, "01-sign-in")
    sign_in(host, token("hana", UserRole.HOST))
    expect(host.get_by_test_id("who")).to_have_text("hana (host)")

    # The host schedules a party and lands on its live view, scheduled, with a Start button.
    schedule(host, "Nike night", "Nike", dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    expect(host.get_by_test_id("party-state")).to_have_text("scheduled")
    expect(host.get_by_test_id("connection-status")).to_have_text("connected")
    page_shot(host, "02-host-scheduled")
    host.get_by_test_id("start-party").click()
    expect(host.get_by_test_id("party-state")).to_have_text("live")
    expect(host.get_by_test_id("end-party")).to_be_visible()
    expect(host.get_by_test_id("start-party")).to_be_hidden()

    # A shopper in another browser context finds it among the live parties and joins.
    shopper = open_page(engine.url)
    sign_in(shopper, token("sam", UserRole.SHOPPER))
    live_row = shopper.locator(
        '[data-state="live"] [data-testid="party-row"]', has_text="Nike night"
    )
    expect(live_row).to_contain_text("brand · Nike")
    page_shot(shopper, "03-shopper-parties")
    live_row.get_by_role("link", name="Join").click()
    expect(shopper.get_by_test_id("connection-status")).to_have_text("connected")
    expect(host.get_by_test_id("participants")).to_have_text("2")  # presence, host included

    # The shopper lists an item (its title is markup, which must stay text) and shares it.
    title = 'Air Max 90 <img src=x onerror="window.pwned=1">'
    shopper.get_by_label("Title").fill(title)
    expect(shopper.get_by_label("Brand")).to_have_value("Nike")  # prefilled from the theme
    shopper.get_by_label("Category").fill("Shoes")
    shopper.get_by_label("Price").fill("129.99")
    shopper.get_by_label("Image URL").fill(f"{engine.url}/console/listing-placeholder.svg")
    shopper.get_by_role("button", name="Create listing").click()
    my_listing = shopper.get_by_test_id("my-listing")
    expect(my_listing).to_contain_text("Air Max 90")
    my_listing.get_by_role("button", name="Share").click()
    expect(my_listing).to_contain_text("shared (#1)")

    # The share appears on the host's live view, as text, with its brand and price; counts move.
    card = host.get_by_test_id("share-card")
    expect(card).to_have_count(1)
    expect(card.locator(".share-title")).to_have_text(title)
    expect(card).to_contain_text("Nike · $129.99")
    expect(card).to_contain_text("shared by sam")
    expect(host.get_by_test_id("share-count")).to_have_text("1")
    expect(host.get_by_test_id("shares-chart")).to_have_attribute("aria-label", re.compile(r", 1$"))
    assert host.evaluate("window.pwned") is None
    assert card.locator("img").get_attribute("src").endswith("/console/listing-placeholder.svg")

    # The shopper likes it; the like count moves on both screens.
    shopper.get_by_test_id("share-card").get_by_role("button", name="Like").click()
    expect(host.get_by_test_id("like-count")).to_have_text("♥ 1")
    expect(host.get_by_test_id("like-total")).to_have_text("1")
    expect(shopper.get_by_test_id("like-count")).to_have_text("♥ 1")

    # The workers' counters and leaderboards (HTTP) catch up a moment later.
    stats = host.get_by_test_id("stats")
    expect(stats.locator('[data-stat="shares"]')).to_have_text("1", timeout=10_000)
    expect(stats.locator('[data-stat="likes"]')).to_have_text("1", timeout=10_000)
    top_listing = host.get_by_test_id("top-listings").locator("li").first
    expect(top_listing).to_contain_text("Air Max 90")  # its title, looked up from the id
    expect(host.get_by_test_id("top-sharers")).to_contain_text("sam")
    page_shot(host, "04-host-live")
    page_shot(shopper, "05-shopper-live")

    # The host ends the party; the shopper is told by the party frame.
    host.get_by_test_id("end-party").click()
    expect(host.get_by_test_id("party-state")).to_have_text("ended")
    expect(shopper.get_by_test_id("party-state")).to_have_text("ended")
    # Both pages turn into the ended party's: the host's shows its report at once (the archive
    # wrote the party's open batch when it ended), not final for a minute; both can replay.
    expect(host.get_by_test_id("report-shares")).to_contain_text("1")
    expect(host.get_by_test_id("report-likes")).to_contain_text("1")
    expect(host.get_by_test_id("report-provisional")).to_be_visible()
    expect(host.get_by_test_id("report-top-listings")).to_contain_text("Air Max 90")
    expect(shopper.get_by_test_id("replay-start")).to_be_visible()
    page_shot(host, "06-host-ended")


def live_party_with_listing(engine: EngineServer, sharer_token: str) -> tuple[str, str]:
    """A live party (brand Adidas) and a matching listing of the sharer: their ids."""
    host_auth = {"Authorization": f"Bearer {token('hana', UserRole.HOST)}"}
    starts_at = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    with httpx.Client(base_url=engine.url) as http:
        party = http.post(
            "/parties",
            headers=host_auth,
            json={
                "title": "Cut night",
                "theme": {"kind": "brand", "value": "Adidas"},
                "starts_at": starts_at,
            },
        ).json()
        http.post(f"/parties/{party['id']}/start", headers=host_auth).raise_for_status()
        listing = http.post(
            "/listings",
            headers={"Authorization": f"Bearer {sharer_token}"},
            json={
                "title": "Samba OG",
                "brand": "Adidas",
                "category": "Shoes",
                "price_cents": 10000,
                "currency": "EUR",
            },
        ).json()
    return party["id"], listing["id"]


def share_directly(
    engine: EngineServer, sharer_token: str, party: str, listing: str, times: int
) -> None:
    """Share over the engine's own WebSocket (not through the proxy); wait for every ack."""
    sharer = websocket.create_connection(
        f"ws://127.0.0.1:{engine.port}/ws?token={sharer_token}", timeout=5
    )
    try:
        sharer.send(json.dumps({"type": "join", "party": party}))
        for frame_id in range(1, times + 1):
            sharer.send(
                json.dumps({"type": "share", "party": party, "listing": listing, "id": frame_id})
            )
        acked = 0
        while acked < times:
            frame = json.loads(sharer.recv())
            assert frame["type"] != "error", frame
            acked += frame["type"] == "ack"
    finally:
        sharer.close()


def open_party_behind_proxy(open_page, proxy: TcpProxy, party: str) -> Page:
    page = open_page(proxy.url)
    sign_in(page, token("sam", UserRole.SHOPPER))
    page.goto(f"/#/party/{party}")
    expect(page.get_by_test_id("connection-status")).to_have_text("connected")
    return page


def test_shopper_recovers_missed_shares_after_a_network_cut(engine, open_page, shots) -> None:
    sharer_token = token("sue", UserRole.SHOPPER)
    party, listing = live_party_with_listing(engine, sharer_token)
    with TcpProxy(engine.port) as proxy:
        page = open_party_behind_proxy(open_page, proxy, party)
        status = page.get_by_test_id("connection-status")

        proxy.cut(refuse_new=True)
        expect(status).to_have_attribute("data-state", "reconnecting")
        expect(status).to_contain_text("reconnecting…")
        expect(page.get_by_test_id("counters")).to_have_class(re.compile("stale"))
        page.screenshot(path=shots / "reconnecting.png", full_page=True)

        # While the page is cut off, another shopper shares straight to the engine.
        share_directly(engine, sharer_token, party, listing, times=1)
        expect(page.get_by_test_id("share-card")).to_have_count(0)

        proxy.resume()
        expect(status).to_have_attribute("data-state", "recovered", timeout=15_000)
        expect(page.get_by_test_id("share-card")).to_contain_text("Samba OG")
        expect(page.get_by_test_id("share-count")).to_have_text("1")
        expect(page.get_by_test_id("counters")).not_to_have_class(re.compile("stale"))
        page.screenshot(path=shots / "recovered.png", full_page=True)


def test_shopper_resyncs_when_the_missed_events_left_the_history(engine, open_page, shots) -> None:
    sharer_token = token("sue", UserRole.SHOPPER)
    party, listing = live_party_with_listing(engine, sharer_token)
    with TcpProxy(engine.port) as proxy:
        page = open_party_behind_proxy(open_page, proxy, party)
        status = page.get_by_test_id("connection-status")

        proxy.cut(refuse_new=True)
        expect(status).to_have_attribute("data-state", "reconnecting")
        share_directly(engine, sharer_token, party, listing, times=HISTORY_SIZE + 2)

        proxy.resume()
        expect(status).to_have_attribute("data-state", "resynced", timeout=15_000)
        expect(status).to_contain_text("fresh snapshot")
        expect(page.get_by_test_id("share-card").first).to_contain_text("Samba OG")
        page.screenshot(path=shots / "resynced.png", full_page=True)


def test_shopper_honours_a_drain_and_says_so(open_page, shots) -> None:
    """A gateway going away sends `drain {retry_after_ms}`: the page waits about that long,
    says why, and tells the truth after the (embedded, so emptied) engine comes back."""
    with EngineServer(settings={"PARTY_DRAIN_SECONDS": "2"}) as draining:
        party, _ = live_party_with_listing(draining, token("sue", UserRole.SHOPPER))
        page = open_page(draining.url)
        sign_in(page, token("sam", UserRole.SHOPPER))
        page.goto(f"/#/party/{party}")
        status = page.get_by_test_id("connection-status")
        expect(status).to_have_text("connected")
        # The states pass quickly; record every text the badge shows.
        page.evaluate(
            """() => {
              const badge = document.querySelector('[data-testid="connection-status"]');
              window.statusLog = [];
              new MutationObserver(() => window.statusLog.push(badge.textContent))
                .observe(badge, {childList: true, characterData: true, subtree: true});
            }"""
        )

        draining.stop()  # SIGTERM: the gateway drains its sessions, then exits
        page.wait_for_function("() => window.statusLog.some((text) => text.includes('attempt 2'))")
        log = page.evaluate("window.statusLog")
        drained = [text for text in log if "server draining" in text]
        assert drained, log
        delay = float(re.search(r"in ([\d.]+) s", drained[0]).group(1))
        assert 0 < delay <= 1.5  # retry_after_ms is at most 1 s here, jittered by ±50 %
        page.screenshot(path=shots / "drained-reconnecting.png", full_page=True)

        draining.start()  # same port; the embedded store starts empty
        expect(status).to_have_attribute("data-state", "refused", timeout=20_000)
        expect(status).to_contain_text(f"not joined: no party {party}")
        page.screenshot(path=shots / "drained-party-gone.png", full_page=True)


def test_shopper_sees_why_a_listing_or_a_share_is_refused(engine, open_page, shots) -> None:
    party, _ = live_party_with_listing(engine, token("sue", UserRole.SHOPPER))
    page = open_page(engine.url)
    sign_in(page, token("sam", UserRole.SHOPPER))
    page.goto(f"/#/party/{party}")
    expect(page.get_by_test_id("connection-status")).to_have_text("connected")

    # An empty title and no price: the API's 422 field errors land next to those two fields.
    page.get_by_label("Brand").fill("Puma")
    page.get_by_role("button", name="Create listing").click()
    expect(page.locator('[data-error-for="title"]')).to_contain_text("at least 1 character")
    expect(page.locator('[data-error-for="price_cents"]')).to_contain_text("required")
    expect(page.locator('[data-error-for="brand"]')).to_have_text("")
    expect(page.get_by_test_id("my-listing")).to_have_count(0)

    # A listing of another brand is made, flagged as not matching, and its share is refused.
    page.get_by_label("Title").fill("Suede Classic")
    page.get_by_label("Category").fill("Shoes")
    page.get_by_label("Price").fill("80")
    page.get_by_role("button", name="Create listing").click()
    listing = page.get_by_test_id("my-listing")
    expect(listing).to_contain_text("won't match: brand is 'Puma', the party wants 'Adidas'")
    listing.get_by_role("button", name="Share").click()
    expect(listing.locator(".field-error")).to_contain_text("Adidas")
    expect(page.get_by_test_id("share-card")).to_have_count(0)
    page.screenshot(path=shots / "share-refused.png", full_page=True)


def test_host_picks_removes_and_mutes_live(engine, open_page, shots) -> None:
    sue = token("sue", UserRole.SHOPPER)
    party, listing = live_party_with_listing(engine, sue)
    share_directly(engine, sue, party, listing, times=2)
    host = open_page(engine.url)
    sign_in(host, token("hana", UserRole.HOST))
    host.goto(f"/#/party/{party}")
    shopper = open_page(engine.url)
    sign_in(shopper, token("sam", UserRole.SHOPPER))
    shopper.goto(f"/#/party/{party}")
    for page in (host, shopper):
        expect(page.get_by_test_id("connection-status")).to_have_text("connected")
        expect(page.get_by_test_id("share-card")).to_have_count(2)
    expect(shopper.get_by_test_id("pick-share")).to_have_count(0)  # no host tools for shoppers

    # The host picks the first share: highlighted on both screens, logged on the host's.
    host.locator('[data-share="1"]').get_by_test_id("pick-share").click()
    for page in (host, shopper):
        expect(page.locator('[data-share="1"]')).to_have_class(re.compile(r"\bpicked\b"))
        expect(page.locator('[data-share="1"]').get_by_test_id("pick-badge")).to_be_visible()
    expect(host.locator('[data-share="1"]').get_by_test_id("pick-share")).to_have_text("Unpick")
    expect(host.get_by_test_id("host-log")).to_contain_text("hana picked share #1")

    # The host removes the second share: gone from both feeds.
    host.locator('[data-share="2"]').get_by_test_id("remove-share").click()
    for page in (host, shopper):
        expect(page.get_by_test_id("share-card")).to_have_count(1)
        expect(page.locator('[data-share="2"]')).to_have_count(0)
    expect(host.get_by_test_id("host-log")).to_contain_text("hana removed share #2")

    # The host mutes the sharer; her next share is refused with `muted`.
    host.locator('[data-share="1"]').get_by_test_id("mute-sharer").click()
    expect(host.get_by_test_id("host-log")).to_contain_text("hana muted sue")
    with pytest.raises(AssertionError, match="muted"):
        share_directly(engine, sue, party, listing, times=1)

    # The host names the shopper co-host.
    host.get_by_label("Co-host").fill("sam")
    host.get_by_role("button", name="Add co-host").click()
    expect(host.get_by_test_id("cohosts")).to_contain_text("sam")
    # The workers take the removed share out of the counters; the pick counts for its seller.
    expect(host.get_by_test_id("stats").locator('[data-stat="shares"]')).to_have_text("1")
    expect(host.get_by_test_id("top-picks")).to_contain_text("sue")
    expect(host.get_by_test_id("top-sharers")).to_contain_text("1 shares")
    host.screenshot(path=shots / "host-live-pick-and-removal.png", full_page=True)
    shopper.screenshot(path=shots / "shopper-live-pick-and-removal.png", full_page=True)

    # A fresh page (a joiner's snapshot) shows the pick and not the removed share; as co-host,
    # the shopper now has the share actions too.
    shopper.reload()
    expect(shopper.get_by_test_id("connection-status")).to_have_text("connected")
    expect(shopper.get_by_test_id("share-card")).to_have_count(1)
    expect(shopper.locator('[data-share="1"]')).to_have_class(re.compile(r"\bpicked\b"))
    shopper.locator('[data-share="1"]').get_by_test_id("pick-share").click()
    expect(host.locator('[data-share="1"]')).not_to_have_class(re.compile(r"\bpicked\b"))
    expect(host.get_by_test_id("host-log")).to_contain_text("sam took back the pick of share #1")
    shopper.screenshot(path=shots / "cohost-live.png", full_page=True)


async def _seed_ended_party(redis_url: str, archive_url: str) -> tuple[str, dict[str, int]]:
    """A 2-hour Nike party of 3,000 generated shoppers that ended an hour ago: the party and
    24 listings in Redis, its events in the archive. Its id and its totals."""
    store, storage = open_store(redis_url), open_archive(archive_url)
    await store.connect()
    await storage.connect()
    try:
        for n in range(24):
            await store.create_listing(
                Listing(
                    id=f"l{n}",
                    seller_id=f"s{n % 7}",
                    title=f"{('Air Max', 'Dunk Low', 'Blazer', 'Cortez')[n % 4]} {90 + n}",
                    brand="Nike",
                    category="Shoes",
                    price_cents=4_000 + 250 * n,
                    currency="EUR",
                )
            )
        party = await an_ended_party(
            store, "nike-night", ended_ago=dt.timedelta(hours=1), minutes=120, host_id="hana"
        )
        events = await archive(storage, party, shoppers=3_000, seed=3, listings=24)
    finally:
        await storage.close()
        await store.close()
    kinds = events["type"].to_pylist()
    return party.id, {kind: kinds.count(kind) for kind in ("share.created", "like.created")}


def test_host_sees_an_ended_partys_report_and_replays_its_feed(
    open_page, shots, redis_url, tmp_path
) -> None:
    archive_url = (tmp_path / "archive").as_uri()
    # In a thread of its own: Playwright's sync API runs an event loop in this one.
    with ThreadPoolExecutor(1) as thread:
        seeded = thread.submit(asyncio.run, _seed_ended_party(redis_url, archive_url))
        party, totals = seeded.result()
    settings = {"PARTY_REDIS_URL": redis_url, "PARTY_ARCHIVE_URL": archive_url}
    with EngineServer(settings=settings) as server:
        host = open_page(server.url)
        sign_in(host, token("hana", UserRole.HOST))
        host.goto(f"/#/party/{party}")
        expect(host.get_by_test_id("party-state")).to_have_text("ended")
        expect(host.get_by_test_id("report-shares")).to_contain_text(f"{totals['share.created']:,}")
        expect(host.get_by_test_id("report-likes")).to_contain_text(f"{totals['like.created']:,}")
        expect(host.get_by_test_id("report-shoppers")).to_contain_text("3,000")
        expect(host.get_by_test_id("report-provisional")).to_be_hidden()
        for chart in ("report-activity", "report-presence", "report-joins"):
            expect(host.get_by_test_id(chart)).to_be_visible()
        expect(host.get_by_test_id("report-top-listings")).to_contain_text("Nike")
        report_shot = shots / "report.png"
        host.screenshot(path=report_shot, full_page=True)
        print(f"report screenshot: {report_shot}")

        # The replay plays the archived feed: shares appear with their listings and likes.
        host.get_by_label("Replay speed").select_option("1200")
        host.get_by_test_id("replay-start").click()
        expect(host.get_by_test_id("replay").get_by_test_id("share-card").first).to_be_visible()
        expect(host.get_by_test_id("replay-clock")).to_contain_text("minute")
        expect(host.get_by_test_id("replay").get_by_test_id("share-card").first).to_contain_text(
            "Nike"
        )
        replay_shot = shots / "replay.png"
        host.get_by_test_id("replay").screenshot(path=replay_shot)
        print(f"replay screenshot: {replay_shot}")

        # A shopper gets the replay, not the report (it is the host's).
        shopper = open_page(server.url)
        sign_in(shopper, token("sam", UserRole.SHOPPER))
        shopper.goto(f"/#/party/{party}")
        expect(shopper.get_by_test_id("replay-start")).to_be_visible()
        expect(shopper.get_by_test_id("report")).to_have_count(0)
