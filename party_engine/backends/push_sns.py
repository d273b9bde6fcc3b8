"""Push through Amazon SNS (aioboto3): platform endpoints per device; a theme's followers are
split into PARTY_PUSH_SHARDS topics (a device subscribes to its user's shard), so that a start
push can go out one shard at a time (domain/push_waves.py).

One long-lived client per process, opened at connect and closed at close; its HTTP pool is
as large as the number of publishes allowed in flight. Throttling, 5xx and connection
failures are retried with exponential backoff and full jitter (tenacity); botocore's own
retries are off so that the two do not multiply.

PARTY_PUSH_URL is `sns://REGION` for AWS, or the http(s) URL of a local SNS endpoint (moto,
LocalStack). Credentials come the usual AWS way (environment, profile, instance role).
Platform applications are PARTY_SNS_APNS_APP_ARN / PARTY_SNS_FCM_APP_ARN; when empty, one named
party-engine-apns / party-engine-fcm is found or created at connect (fine on a local endpoint;
on AWS, create them with your APNs and FCM credentials and set the ARNs).
"""

import asyncio
import logging
import os
import re
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import urlsplit

import aioboto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from ..clock import Clock
from ..config import Settings
from ..domain.devices import Device, Platform
from ..domain.push_waves import shard_of
from ..domain.themes import Theme
from ..ports import DeviceStore, FollowStore, Notification
from .push_devices import DeviceBook
from .push_payload import sns_message, topic_name

log = logging.getLogger(__name__)

_SNS_PLATFORM = {Platform.APNS: "APNS", Platform.FCM: "GCM"}
_RETRYABLE_CODES = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
}
_ATTEMPTS = 5
_ARN = re.compile(r"arn:aws[\w-]*:sns:\S+?(?=\s|$)")


def _is_retryable(error: BaseException) -> bool:
    if isinstance(error, ConnectionError | HTTPClientError):
        return True
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return _code(error) in _RETRYABLE_CODES or status >= 500
    return False


def _code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


class SnsPush(DeviceBook):
    def __init__(
        self, settings: Settings, follows: FollowStore, devices: DeviceStore, clock: Clock
    ) -> None:
        super().__init__(follows, devices, clock)
        url = urlsplit(settings.push_url)
        if url.scheme == "sns":
            self._region = url.netloc
            self._endpoint_url: str | None = None
        else:
            self._region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
            self._endpoint_url = settings.push_url
        self._concurrency = settings.push_concurrency
        self._in_flight = asyncio.Semaphore(settings.push_concurrency)
        self._apps = {
            Platform.APNS: settings.sns_apns_app_arn,
            Platform.FCM: settings.sns_fcm_app_arn,
        }
        self._shards = settings.push_shards
        self._topics: dict[str, str] = {}  # name -> ARN
        self._stack = AsyncExitStack()
        self._client: Any = None

    async def connect(self) -> None:
        config = Config(max_pool_connections=self._concurrency, retries={"total_max_attempts": 1})
        self._client = await self._stack.enter_async_context(
            aioboto3.Session().client(
                "sns", region_name=self._region, endpoint_url=self._endpoint_url, config=config
            )
        )
        try:
            for platform, arn in self._apps.items():
                if not arn:
                    self._apps[platform] = await self._find_or_create_app(platform)
        except BaseException:
            await self.close()  # the next attempt starts from a new client
            raise

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = None

    async def ping(self) -> None:
        await self._call(
            "get_platform_application_attributes", PlatformApplicationArn=self._apps[Platform.APNS]
        )

    # --- sending -------------------------------------------------------------------------

    async def notify_shard(
        self, theme: Theme, shard: int, followers: list[str], notification: Notification
    ) -> None:
        """One publish to the shard's topic: SNS fans it out to the subscribed endpoints."""
        topic = await self._topic(theme, shard)
        async with self._in_flight:
            await self._call(
                "publish",
                TopicArn=topic,
                MessageStructure="json",
                Message=sns_message(notification),
            )

    async def notify_user(self, user_id: str, notification: Notification) -> None:
        """One Publish per device (PublishBatch cannot address endpoints), bounded in flight."""
        message = sns_message(notification)
        devices = [d for d in await self._devices.devices(user_id) if d.endpoint_arn]
        await asyncio.gather(*(self._publish_direct(d, message) for d in devices))

    async def _publish_direct(self, device: Device, message: str) -> None:
        async with self._in_flight:
            try:
                await self._call(
                    "publish",
                    TargetArn=device.endpoint_arn,
                    MessageStructure="json",
                    Message=message,
                )
            except ClientError as error:
                if _code(error) != "EndpointDisabled":
                    raise
                log.info("device %s is disabled (uninstalled or token expired): removed", device.id)
                await self._forget(device)

    # --- the device hooks ----------------------------------------------------------------

    async def _endpoint_for(self, platform: Platform, token: str, current: str | None) -> str:
        arn = current
        if arn is None:
            try:
                reply = await self._call(
                    "create_platform_endpoint",
                    PlatformApplicationArn=self._apps[platform],
                    Token=token,
                )
                arn = reply["EndpointArn"]
            except ClientError as error:
                # The token has an endpoint already, with other attributes: SNS names it.
                found = _ARN.search(str(error))
                if _code(error) != "InvalidParameter" or not found:
                    raise
                arn = found.group(0)
        try:
            reply = await self._call("get_endpoint_attributes", EndpointArn=arn)
        except ClientError as error:
            if _code(error) != "NotFound":
                raise
            return await self._endpoint_for(platform, token, None)  # deleted behind our back
        attributes = reply.get("Attributes", {})
        if attributes.get("Token") != token or attributes.get("Enabled", "").lower() != "true":
            await self._call(
                "set_endpoint_attributes",
                EndpointArn=arn,
                Attributes={"Token": token, "Enabled": "true"},
            )
        return arn

    async def _delete_endpoint(self, endpoint: str) -> None:
        await self._call("delete_endpoint", EndpointArn=endpoint)

    async def _subscribe(self, device: Device, theme: Theme) -> str | None:
        if device.endpoint_arn is None:
            return None
        reply = await self._call(
            "subscribe",
            TopicArn=await self._topic(theme, shard_of(device.user_id, self._shards)),
            Protocol="application",
            Endpoint=device.endpoint_arn,
            ReturnSubscriptionArn=True,
        )
        return reply["SubscriptionArn"]

    async def _unsubscribe(self, subscription: str) -> None:
        try:
            await self._call("unsubscribe", SubscriptionArn=subscription)
        except ClientError as error:
            if _code(error) != "NotFound":
                raise

    # --- plumbing ------------------------------------------------------------------------

    async def _topic(self, theme: Theme, shard: int) -> str:
        """The topic of a shard of the theme's followers, created on first use (CreateTopic is
        idempotent by name)."""
        name = topic_name(theme, shard, self._shards)
        arn = self._topics.get(name)
        if arn is None:
            reply = await self._call("create_topic", Name=name)
            arn = self._topics[name] = reply["TopicArn"]
        return arn

    async def _find_or_create_app(self, platform: Platform) -> str:
        name = f"party-engine-{platform.value}"
        kwargs: dict[str, str] = {}
        while True:
            page = await self._call("list_platform_applications", **kwargs)
            for app in page.get("PlatformApplications", []):
                if app["PlatformApplicationArn"].endswith(f"/{name}"):
                    return app["PlatformApplicationArn"]
            if not page.get("NextToken"):
                break
            kwargs = {"NextToken": page["NextToken"]}
        reply = await self._call(
            "create_platform_application",
            Name=name,
            Platform=_SNS_PLATFORM[platform],
            Attributes={"PlatformCredential": "set-me", "PlatformPrincipal": "set-me"},
        )
        return reply["PlatformApplicationArn"]

    async def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(_is_retryable),
            wait=wait_random_exponential(multiplier=0.05, max=2.0),
            stop=stop_after_attempt(_ATTEMPTS),
            reraise=True,
        ):
            with attempt:
                return await getattr(self._client, operation)(**kwargs)
        raise AssertionError("unreachable: tenacity reraises the last error")
