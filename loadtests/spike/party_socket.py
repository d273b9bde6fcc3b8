"""A shopper's WebSocket to the engine under locust: websocket-client plus a receive greenlet.

Everything measurable is reported as a locust request event (request_type "WS"), so join,
share and like times and the share-to-delivery latency land in locust's CSV and HTML report
next to the HTTP calls. Shares and likes do not wait for their acks (open loop): each ack (or
error, or the timeout) is reported when it comes, by the receive greenlet.
"""

import itertools
import time
from collections.abc import Callable
from typing import Any

import gevent
import orjson
import websocket
from gevent.event import AsyncResult

from .latency import CLOCK

WS = "WS"
ReportFn = Callable[..., Any]


class FrameRefused(Exception):
    """The engine answered a frame with `error`; the message names the code."""


class PartySocket:
    def __init__(
        self, url: str, token: str, user_id: str, report: ReportFn, timeout: float = 10.0
    ) -> None:
        self._url = url
        self._token = token
        self._user_id = user_id
        self._report = report
        self._timeout = timeout
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[str, float]] = {}  # frame id -> (name, sent at)
        self._joined: dict[str, AsyncResult] = {}
        self._ws: websocket.WebSocket | None = None
        self._receiver: gevent.Greenlet | None = None
        self.shares_seen: list[int] = []  # offsets of others' shares, to like

    @property
    def connected(self) -> bool:
        return self._ws is not None and self._ws.connected

    def join(self, party_id: str) -> bool:
        """Connect if needed and join; reports one `join` request from connect to `joined`."""
        started = time.perf_counter()
        try:
            if not self.connected:
                self._ws = websocket.create_connection(self._url, timeout=self._timeout)
                # The token in the first frame, not the URL: no log along the way keeps it.
                self._ws.send(orjson.dumps({"type": "auth", "token": self._token}).decode())
                self._receiver = gevent.spawn(self._receive_loop, self._ws)
            joined = self._joined[party_id] = AsyncResult()
            self._send({"type": "join", "party": party_id, "id": next(self._ids)})
            joined.get(timeout=self._timeout)
        except Exception as error:
            self._fire("join", started, error)
            self.close()
            return False
        self._fire("join", started)
        return True

    def share(self, party_id: str, listing_id: str) -> None:
        CLOCK.sent(listing_id)
        self._request("share ack", {"type": "share", "party": party_id, "listing": listing_id})

    def like(self, party_id: str, share_offset: int) -> None:
        self._request("like ack", {"type": "like", "party": party_id, "share": share_offset})

    def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            ws.close()
        if self._receiver is not None:
            self._receiver.kill(block=False)
            self._receiver = None
        pending, self._pending = self._pending, {}
        for name, started in pending.values():
            self._fire(name, started, ConnectionError("closed before the ack"))

    # ----------------------------------------------------------------------------------

    def _request(self, name: str, frame: dict[str, Any]) -> None:
        """Send and go on; the ack is reported when it comes (`_on_frame`)."""
        if not self.connected:
            self._fire(name, time.perf_counter(), ConnectionError("not connected"))
            return
        self._expire()
        frame_id = next(self._ids)
        started = time.perf_counter()
        self._pending[frame_id] = (name, started)
        try:
            self._send({**frame, "id": frame_id})
        except Exception as error:
            self._pending.pop(frame_id, None)
            self._fire(name, started, error)

    def _expire(self) -> None:
        """Report the requests that waited longer than the timeout for their ack."""
        too_old = time.perf_counter() - self._timeout
        for frame_id, (name, started) in list(self._pending.items()):
            if started < too_old:
                del self._pending[frame_id]
                self._fire(name, started, TimeoutError(f"no ack in {self._timeout:g} s"))

    def _send(self, frame: dict[str, Any]) -> None:
        assert self._ws is not None
        self._ws.send(orjson.dumps(frame).decode())

    def _receive_loop(self, ws: websocket.WebSocket) -> None:
        ws.settimeout(None)  # the greenlet waits; gevent keeps the others running
        try:
            while True:
                data = ws.recv()
                if not data:
                    break
                self._on_frame(orjson.loads(data))
        except Exception:
            pass  # closed: close() or the server; the next join reconnects
        finally:
            if self._ws is ws:
                self._ws = None

    def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "events":
            self._on_events(frame["party"], frame["items"])
        elif kind == "joined":
            waiting = self._joined.pop(frame["party"], None)
            if waiting is not None:
                waiting.set(frame)
        elif kind in ("ack", "error"):
            pending = self._pending.pop(frame.get("id"), None)  # type: ignore[arg-type]
            if pending is not None and kind == "ack":
                self._fire(*pending)
            elif pending is not None:
                self._fire(*pending, FrameRefused(f"{frame['code']}: {frame['message']}"))
            elif kind == "error":  # not an answer to a frame of ours: still worth a line
                self._fire("unsolicited error", time.perf_counter(), FrameRefused(frame["code"]))

    def _on_events(self, party_id: str, items: list[dict[str, Any]]) -> None:
        for item in items:
            if item.get("kind") != "share" or item.get("user") == self._user_id:
                continue
            self.shares_seen.append(item["offset"])
            latency = CLOCK.delivered(party_id, item["offset"], item["listing"]["id"])
            if latency is not None:
                self._report(
                    request_type=WS,
                    name="share → delivery",
                    response_time=latency,
                    response_length=0,
                    exception=None,
                    context={},
                )
        del self.shares_seen[:-50]

    def _fire(self, name: str, started: float, error: Exception | None = None) -> None:
        self._report(
            request_type=WS,
            name=name,
            response_time=(time.perf_counter() - started) * 1000.0,
            response_length=0,
            exception=error,
            context={},
        )
