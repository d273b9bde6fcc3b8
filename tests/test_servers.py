"""The test-server launchers: each starts, answers a real client, keeps its data across a
restart, and leaves no process behind once stopped."""

import asyncio
import contextlib
import socket

import aio_pika
import boto3
import psutil
import pytest
import redis

from tests.servers import (
    HOST,
    ManagedServer,
    MotoServer,
    RabbitMQServer,
    RedisServer,
    ServerStartError,
    port_is_open,
)


def process_tree(server: ManagedServer) -> list[psutil.Process]:
    assert server.pid is not None
    root = psutil.Process(server.pid)
    return [root, *root.children(recursive=True)]


def assert_nothing_left(
    server: ManagedServer, tree: list[psutil.Process], ports: list[int]
) -> None:
    """No port still open, and no live process from the server's tree or tied to its folder.

    The folder check catches what left the tree, such as a daemonized epmd: it would keep the
    node's environment (HOME, RABBITMQ_MNESIA_BASE) even after moving to another directory.
    """
    assert [port for port in ports if port_is_open(port)] == []
    workdir = str(server.workdir)
    left = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if (
                proc in tree
                or proc.cwd().startswith(workdir)
                or any(workdir in arg for arg in proc.cmdline())
                or any(value.startswith(workdir) for value in proc.environ().values())
            ):
                left.append(proc)
    assert left == []


def test_redis_keeps_its_data_across_a_restart_on_the_same_port() -> None:
    with RedisServer() as server:
        port = server.port
        with redis.Redis.from_url(server.url) as client:
            client.set("party:1", "live")

        server.restart()

        assert server.port == port
        with redis.Redis.from_url(server.url) as client:
            assert client.get("party:1") == b"live"
        tree = process_tree(server)
        server.stop()
        assert_nothing_left(server, tree, [port])


def test_redis_comes_back_after_a_kill() -> None:
    with RedisServer(extra_args=["--appendfsync", "always"]) as server:
        with redis.Redis.from_url(server.url) as client:
            client.set("party:2", "live")
        tree = process_tree(server)

        server.kill()

        assert not server.running
        assert_nothing_left(server, tree, [server.port])
        server.start()
        with redis.Redis.from_url(server.url) as client:
            assert client.get("party:2") == b"live"


def test_a_server_that_cannot_start_says_why() -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        server = RedisServer(port=taken.getsockname()[1])
        with pytest.raises(ServerStartError, match="Address already in use"):
            server.start()
        assert not server.running
        server.close()


@pytest.mark.asyncio
async def test_rabbitmq_keeps_a_persistent_message_across_a_restart() -> None:
    with RabbitMQServer() as server:
        async with await aio_pika.connect(server.url) as connection:
            channel = await connection.channel(publisher_confirms=True)
            queue = await channel.declare_queue("party.events", durable=True)
            message = aio_pika.Message(b"share:1", delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            await channel.default_exchange.publish(message, routing_key=queue.name)

        await asyncio.to_thread(server.restart)

        async with await aio_pika.connect(server.url) as connection:
            channel = await connection.channel()
            queue = await channel.declare_queue("party.events", passive=True)
            received = await queue.get(timeout=5)
            assert received.body == b"share:1"
            await received.ack()
        tree = process_tree(server)
        await asyncio.to_thread(server.stop)
        assert_nothing_left(server, tree, [server.port, server.dist_port, server.epmd_port])


def test_moto_serves_sns() -> None:
    with MotoServer() as server:
        sns = boto3.client(
            "sns",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        arn = sns.create_topic(Name="theme-denim")["TopicArn"]
        assert [topic["TopicArn"] for topic in sns.list_topics()["Topics"]] == [arn]

        server.reset()

        assert sns.list_topics()["Topics"] == []
        tree = process_tree(server)
        server.stop()
        assert_nothing_left(server, tree, [server.port])
