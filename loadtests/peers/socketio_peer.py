"""python-socketio with AsyncRedisManager, doing the party's job the idiomatic Socket.IO way:
`join` enters a room, `share` emits to the room (through Redis, so every process delivers).

    python loadtests/peers/socketio_peer.py --port 9001 --redis redis://127.0.0.1:6379/0
"""

import argparse

import socketio
import uvicorn


def create_app(redis_url: str) -> socketio.ASGIApp:
    sio = socketio.AsyncServer(
        async_mode="asgi",
        client_manager=socketio.AsyncRedisManager(redis_url),
        cors_allowed_origins="*",
        transports=["websocket"],
    )

    @sio.on("join")
    async def join(sid: str, party: str) -> bool:
        await sio.enter_room(sid, party)
        return True

    @sio.on("share")
    async def share(sid: str, data: dict) -> bool:
        await sio.emit("share", data, room=data["party"])
        return True

    return socketio.ASGIApp(sio)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", required=True)
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.redis),
        host=args.host,
        port=args.port,
        log_level="warning",
        ws_per_message_deflate=False,  # as the engine: no compression for fan-out
        backlog=4096,
    )


if __name__ == "__main__":
    main()
