"""GET /parties/{id}/stats and /leaderboard: counters kept by the in-process worker from the
events the engine publishes, on the embedded ledger and on Redis; bad input gets a problem."""

import pytest

from party_engine.roles import Role
from party_engine.tokens import UserRole, issue_token
from tests.api_harness import GATEWAY, PROBLEM, SECRET, api_client, started_engine
from tests.pipeline_helpers import a_share, eventually
from tests.test_api import assert_problem, create_party

USER = {"Authorization": f"Bearer {issue_token(SECRET, 'shopper-1', UserRole.SHOPPER)}"}


@pytest.fixture
async def engine(store_url):
    async with started_engine(store_url, GATEWAY | {Role.WORKER}) as engine:
        yield engine


@pytest.fixture
async def client(engine):
    async with api_client(engine) as client:
        yield client


async def test_stats_and_leaderboards_count_what_the_workers_handled(engine, client):
    party = await create_party(client)
    for n, (listing, sharer) in enumerate(
        [("l1", "ann"), ("l1", "bob"), ("l2", "ann"), ("l1", "cat")]
    ):
        await engine.events.publish(a_share(n, party=party["id"], listing=listing, sharer=sharer))
    await engine.events.publish(a_share(0, party=party["id"], listing="l1", sharer="ann"))

    async def counted() -> bool:
        response = await client.get(f"/parties/{party['id']}/stats", headers=USER)
        return response.json()["shares"] == 4

    await eventually(counted, within=10)
    stats = (await client.get(f"/parties/{party['id']}/stats", headers=USER)).json()
    assert stats == {"party_id": party["id"], "shares": 4, "likes": 0, "listings": 2, "sharers": 3}

    listings = await client.get(f"/parties/{party['id']}/leaderboard?by=listings", headers=USER)
    assert listings.json()["items"] == [{"id": "l1", "score": 3}, {"id": "l2", "score": 1}]
    sharers = await client.get(
        f"/parties/{party['id']}/leaderboard?by=sharers&limit=1", headers=USER
    )
    assert sharers.json() == {
        "party_id": party["id"],
        "by": "sharers",
        "items": [{"id": "ann", "score": 2}],
    }


async def test_a_party_nobody_shared_in_has_zero_counts(client):
    party = await create_party(client)
    stats = (await client.get(f"/parties/{party['id']}/stats", headers=USER)).json()
    assert stats["shares"] == stats["likes"] == 0
    board = await client.get(f"/parties/{party['id']}/leaderboard", headers=USER)
    assert board.json()["items"] == []


@pytest.mark.parametrize("path", ["/parties/nope/stats", "/parties/nope/leaderboard"])
async def test_an_unknown_party_gets_404(client, path):
    assert_problem(await client.get(path, headers=USER), 404)


@pytest.mark.parametrize("query", ["by=sellers", "limit=0", "limit=101", "limit=ten"])
async def test_a_bad_leaderboard_query_gets_422(client, query):
    party = await create_party(client)
    response = await client.get(f"/parties/{party['id']}/leaderboard?{query}", headers=USER)
    body = assert_problem(response, 422)
    assert body["errors"][0]["in"] == "query"


async def test_stats_need_a_token(client):
    party = await create_party(client)
    response = await client.get(f"/parties/{party['id']}/stats")
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
