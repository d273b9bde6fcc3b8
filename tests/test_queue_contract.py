"""One contract for the event queue, run on the in-process queue and on a real RabbitMQ: what
is published reaches each worker queue bound to it, failures are retried and then parked as
dead with their error while the rest flow, and the buffer is bounded."""

from dataclasses import dataclass, field

import pytest

from party_engine.backends import open_consumer, open_events
from party_engine.backends.queue_topology import COUNTERS, SELLER_NOTICES, Topology
from party_engine.domain.events import DomainEvent, LikeCreated
from party_engine.ports import BackendUnavailable
from tests.pipeline_helpers import AT, a_share, eventually, read_queue, unique_prefix

MAX_ATTEMPTS = 3


@dataclass
class Pipeline:
    kind: str
    url: str
    topology: Topology
    events: object
    consumer: object
    seen: dict[str, list[str]] = field(default_factory=dict)

    async def dead(self) -> list[tuple[str, str]]:
        """(event id or body, error) of every dead event so far."""
        if self.kind == "memory":
            return [(d.event.id, d.reason) for d in self.events.dead]
        messages = await read_queue(self.url, self.topology.dead_queue)
        self._dead = getattr(self, "_dead", []) + [
            (m.message_id or m.body.decode(errors="replace"), m.headers["x-error"])
            for m in messages
        ]
        return self._dead


@pytest.fixture(params=["memory", "rabbitmq"])
async def pipeline(request):
    if request.param == "memory":
        url = "memory://"
    else:
        url = request.getfixturevalue("rabbitmq_server").url
    topology = Topology(prefix=unique_prefix(), retry_delays=(0.05, 0.1))
    events = open_events(url, topology=topology, capacity=1000, max_attempts=MAX_ATTEMPTS)
    consumer = open_consumer(url, events, topology=topology, max_attempts=MAX_ATTEMPTS)
    await events.connect()
    await consumer.connect()
    yield Pipeline(request.param, url, topology, events, consumer)
    await consumer.close()
    await events.close()


def recorder(pipeline: Pipeline, queue: str, fail_ids: frozenset[str] = frozenset()):
    seen = pipeline.seen.setdefault(queue, [])

    async def handle(events: list[DomainEvent]) -> set[str]:
        if fail_ids & {event.id for event in events}:
            raise RuntimeError("this event always fails")
        seen.extend(event.id for event in events)
        return set()

    return handle


async def test_each_queue_gets_the_events_bound_to_it(pipeline):
    await pipeline.consumer.consume(COUNTERS, recorder(pipeline, COUNTERS))
    await pipeline.consumer.consume(SELLER_NOTICES, recorder(pipeline, SELLER_NOTICES))
    like = LikeCreated("like-1", "p1", 9, 1, "l1", "u9", AT)
    for n in range(50):
        await pipeline.events.publish(a_share(n))
    await pipeline.events.publish(like)

    shares = {f"share-{n}" for n in range(50)}

    async def all_seen() -> bool:
        return set(pipeline.seen[COUNTERS]) == shares | {"like-1"}

    await eventually(all_seen)
    await eventually(lambda: _true(set(pipeline.seen[SELLER_NOTICES]) == shares))
    assert "like-1" not in pipeline.seen[SELLER_NOTICES]


async def test_an_event_that_always_fails_is_parked_dead_with_its_error_and_the_rest_flow(
    pipeline,
):
    await pipeline.consumer.consume(
        COUNTERS, recorder(pipeline, COUNTERS, fail_ids=frozenset({"share-3"}))
    )
    for n in range(20):
        await pipeline.events.publish(a_share(n))

    async def parked() -> bool:
        return len(await pipeline.dead()) == 1

    await eventually(parked)
    [(event_id, error)] = await pipeline.dead()
    assert event_id == "share-3"
    assert f"failed {MAX_ATTEMPTS} times" in error
    assert "this event always fails" in error
    assert set(pipeline.seen[COUNTERS]) == {f"share-{n}" for n in range(20)} - {"share-3"}


async def test_an_event_held_elsewhere_comes_back_without_using_up_attempts(pipeline):
    tries: list[str] = []

    async def busy_five_times(events: list[DomainEvent]) -> set[str]:
        tries.extend(event.id for event in events)
        return {"share-1"} if tries.count("share-1") <= MAX_ATTEMPTS + 2 else set()

    await pipeline.consumer.consume(COUNTERS, busy_five_times)
    await pipeline.events.publish(a_share(1))
    await eventually(lambda: _true(tries.count("share-1") == MAX_ATTEMPTS + 3))
    assert await pipeline.dead() == []


async def test_the_buffer_is_bounded(pipeline):
    # Nothing consumes and (for RabbitMQ) a publisher that never connected: the buffer fills.
    events = open_events(
        pipeline.url, topology=pipeline.topology, capacity=10, max_attempts=MAX_ATTEMPTS
    )
    for n in range(10):
        assert events.has_room()
        await events.publish(a_share(n))
    assert not events.has_room()
    with pytest.raises(BackendUnavailable):
        for n in range(10, 1000):
            await events.publish(a_share(n))


async def _true(value: bool) -> bool:
    return value
