"""Declares the pipeline's exchanges and queues on RabbitMQ, idempotently, at every start.

{prefix}party.events                      durable topic exchange the gateways publish to
{prefix}party.{queue}                     durable work queue per worker queue, bound by
                                          queue_topology.BINDINGS
{prefix}party.{queue}.retry.{delay}ms     durable TTL queue per retry delay; expired messages
                                          dead-letter back into the work queue
{prefix}party.dead                        durable queue of events that failed for good, or
                                          could not be read; headers say why
"""

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

from .queue_topology import BINDINGS, Topology


async def declare_exchange(channel: AbstractChannel, topology: Topology) -> AbstractExchange:
    return await channel.declare_exchange(
        topology.exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )


async def declare_topology(channel: AbstractChannel, topology: Topology) -> AbstractExchange:
    """Everything above; returns the events exchange."""
    exchange = await declare_exchange(channel, topology)
    await channel.declare_queue(topology.dead_queue, durable=True)
    for name, routing_keys in BINDINGS.items():
        await declare_work_queue(channel, topology, name, exchange, routing_keys)
    return exchange


async def declare_work_queue(
    channel: AbstractChannel,
    topology: Topology,
    name: str,
    exchange: AbstractExchange,
    routing_keys: tuple[str, ...],
) -> AbstractQueue:
    queue = await channel.declare_queue(topology.queue(name), durable=True)
    for routing_key in routing_keys:
        await queue.bind(exchange, routing_key)
    for delay in topology.retry_delays:
        await channel.declare_queue(
            topology.retry_queue(name, delay),
            durable=True,
            arguments={
                "x-message-ttl": round(delay * 1000),
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": topology.queue(name),
            },
        )
    return queue
