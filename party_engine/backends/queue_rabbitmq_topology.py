"""Declares the pipeline's exchanges and queues on RabbitMQ, idempotently, at every start.

{prefix}party.events                        durable topic exchange the gateways publish to
{prefix}party.{queue}.q                     quorum work queue per worker queue, bound by
                                            queue_topology.BINDINGS; a message delivered
                                            `delivery_limit` times (its workers died on it)
                                            is dead-lettered into party.dead.q
{prefix}party.{queue}.q.retry.{delay}ms     quorum TTL queue per retry delay; expired
                                            messages dead-letter back into the work queue
{prefix}party.dead.q                        quorum queue of events that failed for good, or
                                            could not be read; headers say why

Every queue is a quorum queue (replicated over the cluster's nodes, so a node's loss loses
nothing), and every dead-lettering is at-least-once (RabbitMQ keeps the message until the
target queue confirmed it; that strategy needs `x-overflow: reject-publish`).
"""

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue
from pamqp.common import FieldTable

from .queue_topology import BINDINGS, Topology

QUORUM: FieldTable = {"x-queue-type": "quorum"}


def _dead_letters_to(queue: str) -> FieldTable:
    return {
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": queue,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


async def declare_exchange(channel: AbstractChannel, topology: Topology) -> AbstractExchange:
    return await channel.declare_exchange(
        topology.exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )


async def declare_topology(channel: AbstractChannel, topology: Topology) -> AbstractExchange:
    """Everything above; returns the events exchange."""
    exchange = await declare_exchange(channel, topology)
    await declare_dead_queue(channel, topology)
    for name, routing_keys in BINDINGS.items():
        await declare_work_queue(channel, topology, name, exchange, routing_keys)
    return exchange


async def declare_dead_queue(channel: AbstractChannel, topology: Topology) -> AbstractQueue:
    return await channel.declare_queue(topology.dead_queue, durable=True, arguments=QUORUM)


async def declare_work_queue(
    channel: AbstractChannel,
    topology: Topology,
    name: str,
    exchange: AbstractExchange,
    routing_keys: tuple[str, ...],
) -> AbstractQueue:
    queue = await channel.declare_queue(
        topology.queue(name),
        durable=True,
        arguments={
            **QUORUM,
            "x-delivery-limit": topology.delivery_limit,
            **_dead_letters_to(topology.dead_queue),
        },
    )
    for routing_key in routing_keys:
        await queue.bind(exchange, routing_key)
    for delay in topology.retry_delays:
        await channel.declare_queue(
            topology.retry_queue(name, delay),
            durable=True,
            arguments={
                **QUORUM,
                "x-message-ttl": round(delay * 1000),
                **_dead_letters_to(topology.queue(name)),
            },
        )
    return queue
