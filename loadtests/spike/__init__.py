"""The locust spike scenario's parts: the party's timeline, a WebSocket party client, and the
share-to-delivery clock shared by the users of one locust process."""
