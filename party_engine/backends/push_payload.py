"""The SNS message of a notification: one JSON document with a payload per platform
(MessageStructure=json). SNS requires `default`; APNS carries `aps.alert`, FCM (GCM in SNS)
`notification` for display and `data` for the app (the deep link)."""

import hashlib
import re

import orjson

from ..domain.themes import Theme
from ..ports import Notification


def sns_message(notification: Notification) -> str:
    alert = {"title": notification.title, "body": notification.body}
    apns = orjson.dumps({"aps": {"alert": alert, "sound": "default"}, **notification.data})
    gcm = orjson.dumps({"notification": alert, "data": notification.data})
    return orjson.dumps(
        {
            "default": notification.body,
            "APNS": apns.decode(),
            "APNS_SANDBOX": apns.decode(),
            "GCM": gcm.decode(),
        }
    ).decode()


def topic_name(theme: Theme, shard: int, shards: int) -> str:
    """A valid SNS topic name (letters, digits, - and _, at most 256) for one shard of a
    theme's followers: readable prefix, a hash of the normalised key so that distinct themes
    never share a topic, and the shard out of how many (another count is other topics)."""
    kind, value = theme.key.split(":", 1)
    slug = re.sub(r"[^a-z0-9]+", "-", value).strip("-")[:40]
    digest = hashlib.sha256(theme.key.encode()).hexdigest()[:12]
    return f"party-engine-{kind}-{slug}-{digest}-{shard}of{shards}"
