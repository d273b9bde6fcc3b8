"""PARTY_AMQP_URL listing several nodes: a connection opens on the first that answers and, once
lost, comes back on the next one (the 3-node cluster's test is in test_rabbitmq_cluster.py)."""

import pytest

from party_engine.backends.rabbitmq_connection import connect
from tests.pipeline_helpers import eventually
from tests.servers import HOST, free_port
from tests.tcp_proxy import TcpProxy


def dead_node() -> str:
    return f"amqp://guest:guest@{HOST}:{free_port()}/"  # nothing listens there


async def test_a_connection_opens_on_the_first_node_that_answers(rabbitmq_server):
    connection = await connect(f"{dead_node()}, {dead_node()},{rabbitmq_server.url}")
    try:
        assert connection.url.port == rabbitmq_server.port
        channel = await connection.channel()
        await channel.declare_queue(exclusive=True)
    finally:
        await connection.close()


async def test_no_node_answering_is_an_error():
    with pytest.raises(ConnectionError):
        await connect(f"{dead_node()},{dead_node()}")


async def test_a_lost_connection_comes_back_on_another_node(rabbitmq_server):
    with TcpProxy(rabbitmq_server.port) as first, TcpProxy(rabbitmq_server.port) as second:
        nodes = [f"amqp://guest:guest@{HOST}:{p.port}/" for p in (first, second)]
        connection = await connect(",".join(nodes))
        try:
            assert connection.url.port == first.port
            first.cut(refuse_new=True)  # the first node is gone for good

            async def on_the_second() -> bool:
                return connection.connected.is_set() and connection.url.port == second.port

            await eventually(on_the_second, within=20)
            channel = await connection.channel()
            await channel.declare_queue(exclusive=True)
        finally:
            await connection.close()
