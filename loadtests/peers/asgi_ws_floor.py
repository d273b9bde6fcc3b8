"""The floor under the engine's /ws: uvicorn, with the engine's WebSocket protocol and options,
serving an ASGI app that accepts a WebSocket and waits for its end, and nothing else.

    python loadtests/peers/asgi_ws_floor.py --port N
"""

import argparse

import uvicorn

from party_engine.config import Settings
from party_engine.gateway.serving import gateway_config


async def app(scope, receive, send) -> None:
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while (await receive())["type"] != "websocket.disconnect":
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = Settings(host="127.0.0.1", port=args.port, log_level="warning")
    uvicorn.Server(gateway_config(app, settings)).run()


if __name__ == "__main__":
    main()
