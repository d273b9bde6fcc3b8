"""The WebSocket gateway: hub, sessions, the /ws route, presence and drain."""
