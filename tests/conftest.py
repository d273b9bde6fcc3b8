"""Shared fixtures: real servers on free loopback ports, started once per test session."""

import os
import tempfile
from collections.abc import Iterator

import pytest
import redis

from tests.servers import MotoServer, RabbitMQCluster, RabbitMQServer, RedisCluster, RedisServer


@pytest.fixture(scope="session", autouse=True)
def data_dir() -> Iterator[str]:
    """The engines' data folder (the default archive) for this session, and for the role
    processes the tests start (they inherit the environment), instead of ./data."""
    with tempfile.TemporaryDirectory(prefix="party-data-") as folder:
        os.environ.setdefault("PARTY_DATA_DIR", folder)
        yield folder


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def rabbitmq_server() -> Iterator[RabbitMQServer]:
    with RabbitMQServer() as server:
        yield server


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


# Every backend the Redis-backed ports' contract suites run on (memory:// is the embedded
# implementation); a new implementation is one more entry here and one branch below.
STORE_BACKENDS = ["memory", "redis", "redis-cluster"]


@pytest.fixture(params=STORE_BACKENDS)
def store_url(request: pytest.FixtureRequest) -> str:
    """The PARTY_REDIS_URL of each backend in turn: a test using it runs once per backend."""
    if request.param == "memory":
        return "memory://"
    if request.param == "redis-cluster":
        return request.getfixturevalue("redis_cluster_url")
    return request.getfixturevalue("redis_url")


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's Redis, emptied before each test.

    A plain (not async) fixture, so that async fixtures parametrized over backends can reach
    it through request.getfixturevalue().
    """
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    return redis_server.url


@pytest.fixture(scope="session")
def rabbitmq_cluster() -> Iterator[RabbitMQCluster]:
    """Three clustered RabbitMQ nodes (their startup_seconds: the boot of all three)."""
    with RabbitMQCluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """Three Redis masters with a replica each (redis-cli --cluster create)."""
    with RedisCluster() as cluster:
        yield cluster


@pytest.fixture
def redis_cluster_url(redis_cluster: RedisCluster) -> str:
    """The session's Redis Cluster, healthy and emptied before each test."""
    redis_cluster.wait_until_healthy()
    redis_cluster.flush()
    return redis_cluster.url
