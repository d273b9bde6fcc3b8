"""gateway/keepalive.py: one timer pings every connection once per interval, spread over the
interval, and closes those that answer no ping within the timeout. Driven tick by tick on a
loop whose timers this test fires itself."""

from collections.abc import Callable

from party_engine.gateway.keepalive import PING_FRAME, Keepalive


class Timer:
    def __init__(self, delay: float, callback: Callable[[], None]) -> None:
        self.delay = delay
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualLoop:
    """call_later that waits for `tick()`."""

    def __init__(self) -> None:
        self.timers: list[Timer] = []
        self.now = 0.0

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(delay, callback)
        self.timers.append(timer)
        return timer

    @property
    def pending(self) -> list[Timer]:
        return [timer for timer in self.timers if not timer.cancelled]

    def tick(self, times: int = 1) -> None:
        for _ in range(times):
            (timer,) = self.pending
            self.timers.remove(timer)
            self.now += timer.delay
            timer.callback()


class Connection:
    def __init__(self, loop: ManualLoop, answers: bool = True) -> None:
        self.loop = loop
        self.answers = answers
        self.ping_tick = 0
        self.pings: list[float] = []
        self.timed_out_at: float | None = None

    def send_ping(self, frame: bytes) -> None:
        assert frame == PING_FRAME
        self.pings.append(self.loop.now)

    def answer(self) -> None:
        if self.answers:
            self.ping_tick = 0

    def keepalive_timed_out(self) -> None:
        self.timed_out_at = self.loop.now


def test_each_connection_is_pinged_once_per_interval_in_slices_of_the_interval() -> None:
    loop = ManualLoop()
    keepalive = Keepalive(loop, interval=25, timeout=20)  # type: ignore[arg-type]
    connections = []
    for _ in range(5):  # arriving a tick apart: each in its own slice
        connection = Connection(loop)
        keepalive.add(connection)
        connections.append(connection)
        loop.tick()
        for each in connections:
            each.answer()
    for _ in range(80):
        loop.tick()
        for each in connections:
            each.answer()
    for connection in connections:
        first = connection.pings[0]
        assert connection.pings == [first, first + 25, first + 50]
        assert connection.timed_out_at is None
    # spread: no two connections pinged in the same tick
    assert len({connection.pings[0] for connection in connections}) == 5


def test_a_silent_connection_is_timed_out_at_its_deadline_and_the_others_stay() -> None:
    loop = ManualLoop()
    keepalive = Keepalive(loop, interval=25, timeout=20)  # type: ignore[arg-type]
    silent, answering = Connection(loop, answers=False), Connection(loop)
    index = keepalive.add(silent)
    keepalive.add(answering)
    while not silent.pings:
        loop.tick()
        answering.answer()
    loop.tick(19)
    assert silent.timed_out_at is None
    loop.tick()
    assert silent.timed_out_at == silent.pings[0] + 20
    keepalive.remove(silent, index)
    for _ in range(60):
        loop.tick()
        answering.answer()
    assert answering.pings == [25.0, 50.0, 75.0, 100.0]
    assert answering.timed_out_at is None
    assert len(silent.pings) == 1


def test_a_timeout_longer_than_the_interval_waits_for_it_before_pinging_again() -> None:
    loop = ManualLoop()
    keepalive = Keepalive(loop, interval=0.2, timeout=0.5)  # type: ignore[arg-type]
    silent = Connection(loop, answers=False)
    keepalive.add(silent)
    while silent.timed_out_at is None:
        loop.tick()
    assert len(silent.pings) == 1
    assert silent.timed_out_at - silent.pings[0] >= 0.5 - 1e-9
    assert silent.timed_out_at - silent.pings[0] <= 0.5 + 0.2 + 1e-9


def test_the_timer_runs_only_while_there_are_connections() -> None:
    loop = ManualLoop()
    keepalive = Keepalive(loop, interval=25, timeout=20)  # type: ignore[arg-type]
    assert loop.pending == []
    connection = Connection(loop)
    index = keepalive.add(connection)
    assert len(loop.pending) == 1
    keepalive.remove(connection, index)
    loop.tick()
    assert loop.pending == []
    assert connection.pings == []
    keepalive.add(Connection(loop))
    assert len(loop.pending) == 1
