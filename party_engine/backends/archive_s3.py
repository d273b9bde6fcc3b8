"""The archive in S3 (`PARTY_ARCHIVE_URL=s3://bucket/prefix`) through aioboto3.

PARTY_ARCHIVE_S3_ENDPOINT points at a local S3 (moto's server, MinIO); empty means AWS.
Credentials and region come the usual AWS way. On AWS the bucket must exist; on a local
endpoint it is created at connect when missing (as the SNS backend creates its apps there).
botocore retries each call itself (standard mode); a put that still fails raises, and the
archive worker keeps the batch unacked and tries again."""

from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import urlsplit

import aioboto3
from botocore.config import Config
from botocore.exceptions import ClientError


def s3_location(url: str) -> tuple[str, str]:
    """(bucket, key prefix ending in "/" or empty) of an s3:// URL."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"not an s3://bucket/prefix URL: {url!r}")
    prefix = parts.path.strip("/")
    return parts.netloc, f"{prefix}/" if prefix else ""


class S3Archive:
    def __init__(self, url: str, *, endpoint_url: str = "") -> None:
        self.bucket, self.prefix = s3_location(url)
        self._endpoint_url = endpoint_url or None
        self._stack = AsyncExitStack()
        self._client: Any = None

    async def connect(self) -> None:
        config = Config(
            retries={"mode": "standard", "max_attempts": 3},
            # A local endpoint is an address, not a domain a bucket can be a subdomain of.
            s3={"addressing_style": "path" if self._endpoint_url else "auto"},
        )
        self._client = await self._stack.enter_async_context(
            aioboto3.Session().client("s3", endpoint_url=self._endpoint_url, config=config)
        )
        if self._endpoint_url is not None:
            try:
                await self._client.head_bucket(Bucket=self.bucket)
            except ClientError:
                await self._client.create_bucket(Bucket=self.bucket)
            except BaseException:
                await self.close()  # the next attempt starts from a new client
                raise

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = None

    async def ping(self) -> None:
        # No request: every gateway opens the archive (for replays), and an S3 outage must not
        # take gateways out of service. The archive worker's failing puts show it instead.
        if self._client is None:
            raise ConnectionError("the S3 client is closed")

    async def put(self, key: str, data: bytes) -> None:
        await self._client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)

    async def get(self, key: str) -> bytes:
        try:
            reply = await self._client.get_object(Bucket=self.bucket, Key=self.prefix + key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise KeyError(key) from None
            raise
        async with reply["Body"] as body:
            return await body.read()

    async def keys(self, prefix: str) -> list[str]:
        found: list[str] = []
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix
        )
        async for page in pages:
            found.extend(item["Key"][len(self.prefix) :] for item in page.get("Contents", ()))
        return sorted(found)
