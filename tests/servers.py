"""Real Redis, RabbitMQ and moto (SNS) servers for the test suite.

Each server runs as a child process on free loopback ports, with all of its files in a
temporary folder, in its own session so that ``stop()`` can kill everything it started.
No mocks: tests talk to the same binaries production uses.

    with RedisServer() as redis:
        client = Redis.from_url(redis.url)
        ...
        redis.restart()          # same port, same data dir: the AOF survives

The classes are plain context managers; pytest fixtures live in conftest.py.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import NoReturn, Self

import psutil

HOST = "127.0.0.1"

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
# Not /usr/sbin/rabbitmq-server: that Debian wrapper re-runs itself through `su rabbitmq` when
# started as root and writes to /var/lib/rabbitmq. The scripts it wraps run as any user.
RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
EPMD = shutil.which("epmd") or "/usr/bin/epmd"


class ServerStartError(RuntimeError):
    """The server exited or did not answer before its deadline; the message ends with its log."""


def free_ports(count: int = 1) -> list[int]:
    """Distinct free TCP ports on the loopback, found by binding port 0.

    All sockets stay open until every port is picked, so the ports differ from each other.
    """
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in socks]


def free_port() -> int:
    return free_ports(1)[0]


def port_is_open(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _kill_tree(pgid: int, tree: Sequence[psutil.Process], timeout: float = 10.0) -> None:
    """SIGKILL a process group and every process in ``tree``, and wait until they are gone.

    The group alone is not enough: Erlang's erl_child_setup (and inet_gethost under it) call
    setsid(), so they leave the group; they are found as descendants of the server instead.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    for proc in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    deadline = time.monotonic() + timeout
    while any(map(_is_alive, tree)) and time.monotonic() < deadline:
        time.sleep(0.02)


def _is_alive(proc: psutil.Process) -> bool:
    """Running and not a zombie.

    Orphans are reparented to PID 1, which here (a sandbox init) reaps them only after a
    while; a zombie holds no port or file, so waiting for the reaping would only slow stop().
    """
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _descendants_and_self(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


_live: set[ManagedServer] = set()


@atexit.register
def _kill_leftovers() -> None:
    """Last resort when a test run dies without stopping its servers."""
    for server in list(_live):
        server.kill()
        server.close()  # also takes down the extras, such as RabbitMQ's epmd


class ManagedServer(ABC):
    """One server process: start it, wait until it answers (with a deadline), stop its group.

    Subclasses give the command line and a single readiness probe; the base class does the
    process handling. Output goes to ``<workdir>/<name>.log``, appended across restarts.
    """

    name = "server"
    startup_timeout = 30.0
    stop_timeout = 15.0

    def __init__(self, workdir: str | Path | None = None, port: int | None = None) -> None:
        self._owns_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix=f"party-{self.name}-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.log_path = self.workdir / f"{self.name}.log"
        self.startup_seconds: float | None = None  # how long the last start() took
        self._proc: subprocess.Popen[bytes] | None = None

    # -- what subclasses provide -------------------------------------------------------------

    @abstractmethod
    def command(self) -> list[str]:
        """The server's command line."""

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    @abstractmethod
    def probe(self) -> bool:
        """One quick readiness check; must not block for long."""

    def log_files(self) -> list[Path]:
        """Files whose tail goes into a start error."""
        return [self.log_path]

    def _before_start(self) -> None:  # noqa: B027  # an optional hook
        """Runs before each start; a failing start() is cleaned up by stop()."""

    def _graceful_stop(self) -> None:
        assert self._proc is not None
        os.killpg(self._proc.pid, signal.SIGTERM)

    def _after_stop(self) -> None:  # noqa: B027  # an optional hook
        """Runs at the end of each stop(), even when the process was already gone."""

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Self:
        if self.running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        if self._proc is not None:
            self.kill()  # it died on its own: reap it and whatever it left behind
        started = time.monotonic()
        _live.add(self)
        try:
            self._before_start()
            with open(self.log_path, "ab") as log:
                self._proc = subprocess.Popen(
                    self.command(),
                    cwd=self.workdir,
                    env=self.env(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self._wait_until_ready(started + self.startup_timeout)
        except BaseException:
            self.kill()
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        """Graceful stop, then SIGKILL whatever is left of the process tree."""
        if self._proc is not None:
            tree = _descendants_and_self(self._proc.pid)
            if self._proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, subprocess.SubprocessError):
                    self._graceful_stop()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(self.stop_timeout)
            self._reap(tree)
        self._after_stop()
        _live.discard(self)

    def kill(self) -> None:
        """SIGKILL the whole tree at once: a crash, with no chance to flush anything."""
        if self._proc is not None:
            self._reap(_descendants_and_self(self._proc.pid))

    def restart(self) -> Self:
        """Stop and start again on the same port(s) and data directory."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop, and delete the work directory if this object created it."""
        self.stop()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()  # the error already carries the log tail
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"<{type(self).__name__} {HOST}:{self.port} {state}>"

    # -- helpers -----------------------------------------------------------------------------

    def _reap(self, tree: list[psutil.Process]) -> None:
        assert self._proc is not None
        _kill_tree(self._proc.pid, tree)
        self._proc.wait()
        self._proc = None

    def _wait_until_ready(self, deadline: float) -> None:
        assert self._proc is not None
        while not self.probe():
            if (code := self._proc.poll()) is not None:
                self._fail(f"exited with code {code} while starting")
            if time.monotonic() > deadline:
                self._fail(f"did not answer within {self.startup_timeout:.0f} s")
            time.sleep(0.05)

    def _fail(self, what: str) -> NoReturn:
        tails = []
        for path in self.log_files():
            with contextlib.suppress(OSError):
                lines = path.read_text(errors="replace").splitlines()[-40:]
                tails.append(f"--- {path} (last {len(lines)} lines)\n" + "\n".join(lines))
        raise ServerStartError(f"{self.name} on port {self.port} {what}\n" + "\n".join(tails))


class RedisServer(ManagedServer):
    """redis-server with AOF on (and RDB snapshots off), so data survives restart().

    With the default ``appendfsync everysec`` a kill() can lose up to a second of writes, as a
    real crash would; pass ``extra_args=("--appendfsync", "always")`` to lose nothing.
    """

    name = "redis"
    startup_timeout = 15.0

    def __init__(
        self,
        workdir: str | Path | None = None,
        port: int | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        super().__init__(workdir, port)
        self.extra_args = list(extra_args)

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def command(self) -> list[str]:
        return [
            REDIS_SERVER,
            "--port", str(self.port),
            "--bind", HOST,
            "--dir", str(self.workdir),
            "--appendonly", "yes",
            "--save", "",
            "--daemonize", "no",
            *self.extra_args,
        ]  # fmt: skip

    def probe(self) -> bool:
        # PONG, not just a connect: while it replays the AOF, Redis answers -LOADING.
        try:
            with socket.create_connection((HOST, self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False


def cluster_ports(count: int) -> list[int]:
    """Free loopback ports for Redis Cluster nodes: each node's cluster bus listens on port +
    10000, so every port is at most 55535 and its bus port is free too (the ephemeral range
    that free_ports() draws from can overflow)."""
    picked: list[int] = []
    with contextlib.ExitStack() as stack:
        while len(picked) < count:
            port = random.randint(20_000, 55_535)
            if port in picked or port + 10_000 in picked:
                continue
            try:
                for candidate in (port, port + 10_000):
                    sock = stack.enter_context(socket.socket())
                    sock.bind((HOST, candidate))
            except OSError:
                continue
            picked.append(port)
    return picked


class RedisCluster:
    """A Redis Cluster on the loopback: `masters` masters, each with one replica, made by
    `redis-cli --cluster create`; a short node timeout (2 s), so a killed master's replica is
    promoted within a few seconds. Every node keeps an AOF (appendfsync always) in its own
    folder. Ready in about 3 s; keep it session-scoped.

        with RedisCluster() as cluster:
            url = cluster.url                      # redis+cluster://127.0.0.1:P1,...
            cluster.kill(cluster.master_of(key))   # SIGKILL the master owning a key
    """

    node_timeout_ms = 2000

    def __init__(self, masters: int = 3) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="party-redis-cluster-"))
        node_args = (
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(self.node_timeout_ms),
            "--appendfsync", "always",
        )  # fmt: skip
        self.nodes = [
            RedisServer(self.workdir / f"node{port}", port=port, extra_args=node_args)
            for port in cluster_ports(masters * 2)
        ]
        self.startup_seconds: float | None = None

    @property
    def url(self) -> str:
        """PARTY_REDIS_URL naming every node as a seed."""
        return "redis+cluster://" + ",".join(f"{HOST}:{node.port}" for node in self.nodes)

    def start(self) -> Self:
        started = time.monotonic()
        _live_redis_clusters.add(self)
        try:
            for node in self.nodes:
                node.start()
            subprocess.run(
                [REDIS_CLI, "--cluster", "create",
                 *(f"{HOST}:{node.port}" for node in self.nodes),
                 "--cluster-replicas", "1", "--cluster-yes"],
                check=True, capture_output=True, timeout=60,
            )  # fmt: skip
            self.wait_until_healthy()
            self.wait_until_replicated()
        except BaseException:
            self.close()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def cli(self, node: RedisServer, *args: str) -> str:
        done = subprocess.run(
            [REDIS_CLI, "-h", HOST, "-p", str(node.port), *args],
            check=True, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        return done.stdout

    def roles(self) -> dict[RedisServer, str]:
        """Each running node's role as it sees itself: "master" or "slave"."""
        return {
            node: self.cli(node, "ROLE").split("\n", 1)[0].strip()
            for node in self.nodes
            if node.running
        }

    def masters(self) -> list[RedisServer]:
        return [node for node, role in self.roles().items() if role == "master"]

    def master_of(self, key: str) -> RedisServer:
        """The master that serves the slot of `key` (as the first running node sees it)."""
        first = next(node for node in self.nodes if node.running)
        slot = int(self.cli(first, "CLUSTER", "KEYSLOT", key))
        for line in self.cli(first, "CLUSTER", "NODES").splitlines():
            fields = line.split()
            if "master" not in fields[2] or "fail" in fields[2]:
                continue
            for spec in fields[8:]:
                low, _, high = spec.partition("-")
                if not low.isdigit():
                    continue  # a slot being migrated or imported
                if int(low) <= slot <= int(high or low):
                    port = int(fields[1].split("@")[0].rsplit(":", 1)[1])
                    return next(node for node in self.nodes if node.port == port)
        raise LookupError(f"no master serves the slot of {key!r}")

    def replica_of(self, master: RedisServer) -> RedisServer:
        """The running node that replicates `master` (as the replica itself says: the cluster's
        gossip may not list a replica that just attached)."""
        for node, role in self.roles().items():
            lines = self.cli(node, "INFO", "replication").splitlines()
            if role == "slave" and f"master_port:{master.port}" in lines:
                return node
        raise LookupError(f"{master!r} has no replica")

    def wait_until_healthy(self, timeout: float = 30.0) -> None:
        """Until every running node says the cluster is ok and every slot has a master that
        is up (after a failover: the promoted replica is serving)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                infos = [self.cli(node, "CLUSTER", "INFO") for node in self.nodes if node.running]
                if all("cluster_state:ok" in info for info in infos) and all(
                    "cluster_slots_fail:0" in info and "cluster_slots_pfail:0" in info
                    for info in infos
                ):
                    return
            except subprocess.SubprocessError:
                pass
            if time.monotonic() > deadline:
                raise ServerStartError(f"redis cluster not healthy within {timeout:.0f} s")
            time.sleep(0.1)

    def wait_until_replicated(self, timeout: float = 30.0) -> None:
        """Until every running replica is online at its master (its first sync done): before
        that, a WAIT for one replica times out."""
        deadline = time.monotonic() + timeout
        while True:
            replicas = sum(role == "slave" for role in self.roles().values())
            online = sum(
                self.cli(node, "INFO", "replication").count("state=online")
                for node in self.masters()
            )
            if online >= replicas:
                return
            if time.monotonic() > deadline:
                raise ServerStartError(f"replicas not online within {timeout:.0f} s")
            time.sleep(0.1)

    def flush(self) -> None:
        for node in self.masters():
            self.cli(node, "FLUSHALL")

    def kill(self, node: RedisServer) -> None:
        node.kill()

    def move_slot_of(self, key: str, target: RedisServer) -> None:
        """Reshard: move the slot of `key`, with its keys, to the master `target` (the steps of
        `redis-cli --cluster reshard` for one slot)."""
        source = self.master_of(key)
        slot = self.cli(source, "CLUSTER", "KEYSLOT", key).strip()
        source_id = self.cli(source, "CLUSTER", "MYID").strip()
        target_id = self.cli(target, "CLUSTER", "MYID").strip()
        self.cli(target, "CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
        self.cli(source, "CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
        while keys := self.cli(source, "CLUSTER", "GETKEYSINSLOT", slot, "100").split():
            self.cli(source, "MIGRATE", HOST, str(target.port), "", "0", "5000", "KEYS", *keys)
        for node in self.masters():
            self.cli(node, "CLUSTER", "SETSLOT", slot, "NODE", target_id)
        self.wait_until_healthy()

    def revive(self, node: RedisServer, timeout: float = 30.0) -> None:
        """Start a killed node again (its nodes.conf kept): it rejoins as a replica of whoever
        took its slots. Returns once it replicates and the cluster is healthy."""
        node.start()
        deadline = time.monotonic() + timeout
        while "master_link_status:up" not in self.cli(node, "INFO", "replication"):
            if time.monotonic() > deadline:
                raise ServerStartError(f"{node!r} did not rejoin as a replica within {timeout} s")
            time.sleep(0.1)
        self.wait_until_healthy(timeout)

    def pause(self, node: RedisServer) -> None:
        """SIGSTOP: the node stops answering and replicating (resume() with SIGCONT)."""
        assert node.pid is not None
        os.kill(node.pid, signal.SIGSTOP)

    def resume(self, node: RedisServer) -> None:
        assert node.pid is not None
        os.kill(node.pid, signal.SIGCONT)

    def close(self) -> None:
        for node in self.nodes:
            node.kill()
            node.stop()
        _live_redis_clusters.discard(self)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


_live_redis_clusters: set[RedisCluster] = set()


@atexit.register
def _close_leftover_redis_clusters() -> None:
    for cluster in list(_live_redis_clusters):
        cluster.close()


class RabbitMQServer(ManagedServer):
    """A private RabbitMQ node: its own node name, ports, cookie, epmd and data directory.

    The node gets a private epmd on a free port (ERL_EPMD_PORT) that this object starts
    before the broker and stops after it. Left alone, Erlang would run ``epmd -daemon``, which
    detaches (setsid) and would outlive the test; and a shared epmd on 4369 would mix our
    node with anything else on the machine. kill() leaves epmd up, like a host after a broker
    crash; stop() and close() take it down.
    """

    name = "rabbitmq"
    startup_timeout = 60.0
    stop_timeout = 30.0

    def __init__(
        self,
        workdir: str | Path | None = None,
        port: int | None = None,
        *,
        epmd_port: int | None = None,
        cookie: str | None = None,
    ) -> None:
        """`epmd_port`: a running epmd this node registers with (the nodes of a cluster must
        find each other in one), left alone; `cookie`: the Erlang cookie (shared in a
        cluster), else Erlang makes one."""
        super().__init__(workdir, port)
        self.dist_port, self.ctl_dist_port = free_ports(2)
        self._owns_epmd = epmd_port is None
        self.epmd_port = epmd_port or free_port()
        self.cookie = cookie
        self.nodename = f"party-test-{uuid.uuid4().hex[:8]}@localhost"
        self._epmd: _Epmd | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@{HOST}:{self.port}/"

    @property
    def node_log(self) -> Path:
        return self.workdir / "log" / f"{self.nodename}.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        w = self.workdir
        env.update(
            HOME=str(w),  # the Erlang cookie is written to $HOME/.erlang.cookie
            ERL_EPMD_PORT=str(self.epmd_port),
            RABBITMQ_NODENAME=self.nodename,
            RABBITMQ_NODE_IP_ADDRESS=HOST,
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            # rabbitmqctl's own distribution port; by default a shared range 35672-35682.
            RABBITMQ_CTL_DIST_PORT_MIN=str(self.ctl_dist_port),
            RABBITMQ_CTL_DIST_PORT_MAX=str(self.ctl_dist_port),
            RABBITMQ_MNESIA_BASE=str(w / "mnesia"),
            RABBITMQ_LOG_BASE=str(w / "log"),
            RABBITMQ_CONFIG_FILE=str(w / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(w / "advanced.config"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(w / "enabled_plugins"),
            # Keeps /etc/rabbitmq/rabbitmq-env.conf out; the file does not need to exist.
            RABBITMQ_CONF_ENV_FILE=str(w / "rabbitmq-env.conf"),
        )
        return env

    def command(self) -> list[str]:
        return [str(RABBITMQ_BIN / "rabbitmq-server")]

    def probe(self) -> bool:
        # Send the AMQP 0-9-1 header; a booted broker answers with a Connection.Start method
        # frame (frame type 1). The port accepts connections only late in the boot.
        try:
            with socket.create_connection((HOST, self.port), timeout=1) as sock:
                sock.sendall(b"AMQP\x00\x00\x09\x01")
                return sock.recv(1) == b"\x01"
        except OSError:
            return False

    def log_files(self) -> list[Path]:
        return [self.log_path, self.node_log]

    def rabbitmqctl(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run rabbitmqctl against this node (e.g. ``rabbitmqctl("list_queues")``)."""
        return subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.nodename, *args],
            env=self.env(),
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )

    def _before_start(self) -> None:
        w = self.workdir
        # No plugins: management and friends would add seconds to every boot.
        (w / "enabled_plugins").write_text("[].\n")
        # A tiny disk limit so a nearly full /tmp never blocks publishers with a disk alarm.
        (w / "rabbitmq.conf").write_text(
            "loopback_users.guest = true\ndisk_free_limit.absolute = 1MB\n"
        )
        if self.cookie is not None:
            cookie = w / ".erlang.cookie"  # $HOME's
            if not cookie.exists():
                cookie.write_text(self.cookie)
                cookie.chmod(0o400)
        if self._owns_epmd:
            self._start_epmd()

    def _graceful_stop(self) -> None:
        try:
            self.rabbitmqctl("stop", timeout=self.stop_timeout)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            super()._graceful_stop()  # SIGTERM: the broker's own signal handler stops it cleanly

    def _after_stop(self) -> None:
        self._stop_epmd()

    def _start_epmd(self) -> None:
        if self._epmd is None:
            self._epmd = _Epmd(self.workdir, self.epmd_port)
            self._epmd.start()

    def _stop_epmd(self) -> None:
        if self._epmd is not None:
            self._epmd.stop()
            self._epmd = None


class RabbitMQCluster:
    """Three (or `size`) private RabbitMQ nodes clustered on the loopback: one epmd they all
    register with, one Erlang cookie, each node its own ports and data folder; nodes 2.. join
    node 1 with `rabbitmqctl join_cluster`. Booting three nodes one after another takes about
    as long as three single servers (each node boots in seconds), so keep it session-scoped.

    kill(n) SIGKILLs node n (a crash); the others carry on, and quorum queues with them.
    """

    def __init__(self, size: int = 3) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="party-rabbitmq-cluster-"))
        cookie = uuid.uuid4().hex.upper()
        self._epmd = _Epmd(self.workdir, free_port())
        self.nodes = [
            RabbitMQServer(self.workdir / f"node{n + 1}", epmd_port=self._epmd.port, cookie=cookie)
            for n in range(size)
        ]
        self.startup_seconds: float | None = None

    @property
    def url(self) -> str:
        """PARTY_AMQP_URL naming every node."""
        return ",".join(node.url for node in self.nodes)

    def start(self) -> Self:
        started = time.monotonic()
        _live_clusters.add(self)
        try:
            self._epmd.start()
            first, *others = self.nodes
            first.start()
            for node in others:
                node.start()
                node.rabbitmqctl("stop_app")
                node.rabbitmqctl("join_cluster", first.nodename)
                node.rabbitmqctl("start_app", timeout=60)
            running = first.rabbitmqctl("eval", "length(rabbit_nodes:all_running()).")
            if running.stdout.strip() != str(len(self.nodes)):
                raise ServerStartError(f"cluster has {running.stdout.strip()} running nodes")
        except BaseException:
            self.close()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def kill(self, n: int) -> None:
        self.nodes[n].kill()

    def close(self) -> None:
        for node in reversed(self.nodes):
            node.kill()  # a graceful stop of a cluster's last nodes waits on the others
            node.stop()
        self._epmd.stop()
        _live_clusters.discard(self)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


_live_clusters: set[RabbitMQCluster] = set()


@atexit.register
def _close_leftover_clusters() -> None:
    for cluster in list(_live_clusters):
        cluster.close()


class _Epmd:
    """A private epmd on a free loopback port, for the nodes of one cluster."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.workdir = workdir
        self.port = port
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [EPMD, "-port", str(self.port), "-address", HOST],
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while not port_is_open(self.port):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise ServerStartError(f"epmd on port {self.port} did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._proc is not None:
            _kill_tree(self._proc.pid, _descendants_and_self(self._proc.pid))
            self._proc.wait()
            self._proc = None


class MotoServer(ManagedServer):
    """moto's standalone server: SNS (and every other mocked AWS API) over real HTTP."""

    name = "moto"
    startup_timeout = 30.0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(self.port)]

    def probe(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):
                return True
        except urllib.error.HTTPError:
            return True  # any HTTP answer means the server is up
        except OSError:
            return False

    def reset(self) -> None:
        """Forget every resource created so far (moto's own reset endpoint)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass
