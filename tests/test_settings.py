"""Settings refuse what would be unsafe to run, naming the variable to fix."""

import pytest
from pydantic import ValidationError

from party_engine.config import DEV_JWT_SECRET, Settings, describe_error

A_SECRET = "a-real-secret-that-is-long-enough-for-hs256"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_the_development_secret_runs_on_loopback(host):
    assert Settings(host=host).jwt_secret == DEV_JWT_SECRET


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "gateway.example"])
def test_the_development_secret_is_refused_on_a_public_bind(host):
    with pytest.raises(ValidationError) as error:
        Settings(host=host)
    assert "PARTY_JWT_SECRET" in describe_error(error.value)
    assert Settings(host=host, jwt_secret=A_SECRET).host == host


def test_the_development_secret_is_refused_with_a_real_backend():
    with pytest.raises(ValidationError, match="PARTY_JWT_SECRET"):
        Settings(redis_url="redis://127.0.0.1:6379/0")


def test_the_redis_prefix_is_one_setting_with_a_safe_alphabet():
    assert Settings().redis_prefix == "pe:"
    assert Settings(redis_prefix="staging:pe:").redis_prefix == "staging:pe:"
    with pytest.raises(ValidationError):
        Settings(redis_prefix="a b*")


def test_a_drain_that_does_not_fit_the_shutdown_budget_is_refused():
    with pytest.raises(ValidationError) as error:
        Settings(drain_seconds=10, shutdown_seconds=10)
    assert "PARTY_DRAIN_SECONDS" in describe_error(error.value)
    assert "PARTY_SHUTDOWN_SECONDS" in describe_error(error.value)
    assert Settings(drain_seconds=2, shutdown_seconds=5).shutdown_seconds == 5


def test_the_amqp_url_may_list_the_nodes_of_a_cluster():
    nodes = "amqp://guest:guest@10.0.0.1:5672/,amqps://guest:guest@10.0.0.2:5671/"
    assert Settings(amqp_url=nodes, jwt_secret=A_SECRET).amqp_url == nodes
    for wrong in ("memory://,amqp://h/", "amqp://h/,redis://h/", "amqp://h/,", "http://h/"):
        with pytest.raises(ValidationError, match="amqp_url"):
            Settings(amqp_url=wrong, jwt_secret=A_SECRET)
