"""No Docker engine runs here, so the deployment files are checked by reading them."""

import re
from pathlib import Path

import pytest
import yaml

from party_engine.config import Settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_every_part_of_the_architecture(compose):
    services = compose["services"]
    assert set(services) >= {
        "redis",
        "rabbitmq",
        "sns",
        "gateway-1",
        "gateway-2",
        "worker",
        "scheduler",
        "relay-1",
        "relay-2",
        "archive",
        "nginx",
    }
    roles = {name: services[name]["command"] for name in ("gateway-1", "gateway-2", "worker")}
    assert roles == {"gateway-1": ["serve"], "gateway-2": ["serve"], "worker": ["worker"]}
    assert services["scheduler"]["command"] == ["scheduler"]
    # Every role runs somewhere, the relay on more than one replica.
    commands = [service.get("command", [None])[0] for service in services.values()]
    assert {"serve", "worker", "scheduler", "relay", "archive"} <= set(commands)
    assert commands.count("relay") >= 2


def test_redis_keeps_an_append_only_file_synced_on_every_write(compose):
    command = compose["services"]["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] == "always"


def test_redis_is_bounded_and_refuses_writes_when_full_rather_than_evicting(compose):
    command = compose["services"]["redis"]["command"]
    assert command[command.index("--maxmemory") + 1].endswith(("mb", "gb"))
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"


def test_every_party_variable_in_compose_is_a_setting(compose):
    fields = {f"PARTY_{name.upper()}" for name in Settings.model_fields}
    for name, service in compose["services"].items():
        for variable in service.get("environment", {}):
            if variable.startswith("PARTY_"):
                assert variable in fields, f"{name}: {variable} is not a setting"


def test_engine_services_point_at_the_compose_backends(compose):
    env = compose["services"]["gateway-1"]["environment"]
    assert env["PARTY_REDIS_URL"].startswith("redis://redis:")
    assert env["PARTY_AMQP_URL"].startswith("amqp://guest:guest@rabbitmq:")
    assert env["PARTY_PUSH_URL"] == "http://sns:5000"
    settings = Settings(**{k.removeprefix("PARTY_").lower(): v for k, v in _literal(env).items()})
    assert settings.port == 8000


def test_nginx_publishes_the_gateways_and_upgrades_websockets(compose):
    nginx = compose["services"]["nginx"]
    assert nginx["ports"] == ["8000:80"]
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert re.search(r"server gateway-1:8000;\s+server gateway-2:8000;", conf)
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
    assert "proxy_set_header Connection $connection_upgrade;" in conf


def test_nginx_caps_connections_and_requests_per_ip_generously():
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    zones = dict(
        re.findall(r"limit_req_zone \$binary_remote_addr zone=(\w+):\w+ rate=(\d+)r/s;", conf)
    )
    assert re.search(r"limit_conn_zone \$binary_remote_addr zone=ws_per_ip:", conf)
    ws_location = conf[conf.index("location /ws") :].split("}")[0]
    api_location = conf[conf.index("location / ") :].split("}")[0]
    (conns,) = re.findall(r"limit_conn ws_per_ip (\d+);", ws_location)
    (ws_zone,) = re.findall(r"limit_req zone=(\w+) burst=\d+ nodelay;", ws_location)
    (api_zone,) = re.findall(r"limit_req zone=(\w+) burst=\d+ nodelay;", api_location)
    # Many phones share one carrier address: caps in the thousands, not the tens.
    assert int(conns) >= 1000
    assert int(zones[ws_zone]) >= 20 and int(zones[api_zone]) >= 100
    assert "limit_req_status 429;" in conf


def test_dockerfile_is_multi_stage_non_root_with_a_health_check():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", dockerfile, re.M)) >= 2
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.M)
    assert re.search(r"^HEALTHCHECK .*", dockerfile, re.M) and "/healthz" in dockerfile


def _literal(env: dict[str, str]) -> dict[str, str]:
    """Compose variables resolved the way `docker compose` would with PARTY_JWT_SECRET set."""
    resolved = {}
    for key, value in env.items():
        if key.startswith("PARTY_"):
            resolved[key] = re.sub(r"\$\{[^}]+\}", "x" * 32, str(value))
    return resolved


def test_nginx_logs_no_query_string_of_any_request():
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    formats = re.findall(r"log_format\s+(\w+)\s+((?:'[^']*'\s*)+);", conf)
    assert formats, "a log_format of our own: nginx's default 'combined' logs $request"
    for _, text in formats:
        assert not re.search(r"\$(request|request_uri|args|query_string|arg_\w+)\b", text)
    access_logs = re.findall(r"^\s*access_log\s+\S+\s+(\w+);", conf, re.M)
    assert access_logs and set(access_logs) <= {name for name, _ in formats}
    ws_location = conf[conf.index("location /ws") :]
    assert re.search(r"error_log\s+\S+\s+crit;", ws_location.split("}")[0])


def test_every_engine_role_gets_longer_than_its_drain_to_stop(compose):
    settings = Settings(jwt_secret="x" * 32, host="0.0.0.0")
    least = {
        "serve": settings.drain_seconds * 2,  # drain, then flush what the gateway holds
        "worker": settings.event_lock_seconds,  # the batch in hand
        "scheduler": 10,  # a tick and the lease release
        "relay": 10,  # the round in hand: a confirm waits at most 10 s
        "archive": 10,  # its open batches written
    }
    for name, service in compose["services"].items():
        if name.startswith(("gateway", "worker", "scheduler", "relay", "archive")):
            grace = service.get("stop_grace_period", "10s")
            assert grace.endswith("s") and float(grace[:-1]) > least[service["command"][0]], name


def test_every_engine_role_exits_within_its_shutdown_budget_before_it_is_killed(compose):
    for name, service in compose["services"].items():
        if name.startswith(("gateway", "worker", "scheduler", "relay", "archive")):
            env = _literal(service["environment"])
            settings = Settings(**{k.removeprefix("PARTY_").lower(): v for k, v in env.items()})
            grace = float(service["stop_grace_period"].removesuffix("s"))
            # A margin for the interpreter's exit after the budget is spent.
            assert settings.shutdown_seconds + 2 <= grace, name
            assert settings.drain_seconds < settings.shutdown_seconds, name


def test_the_gateways_and_the_archive_share_the_archive_folder(compose):
    services = compose["services"]
    volumes = {name: services[name].get("volumes", []) for name in ("gateway-1", "archive")}
    assert volumes["gateway-1"] == volumes["archive"] == ["archive-data:/home/party/data"]
    assert "archive-data" in compose["volumes"]
