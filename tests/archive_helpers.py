"""Archive storage for tests: a folder, or a fresh bucket on moto's S3 server."""

import uuid

import boto3

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _client(endpoint: str):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=AWS_ENV["AWS_DEFAULT_REGION"],
        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )


def new_bucket(endpoint: str) -> str:
    """A new bucket on the S3 at `endpoint`; its s3:// URL with a prefix."""
    name = f"archive-{uuid.uuid4().hex[:12]}"
    _client(endpoint).create_bucket(Bucket=name)
    return f"s3://{name}/party-archive"


def _bucket(url: str) -> str:
    return url.removeprefix("s3://").split("/")[0]


def drop_bucket(endpoint: str, url: str) -> None:
    """Delete the bucket of an s3:// URL and everything in it (an S3 outage, for a writer)."""
    client, bucket = _client(endpoint), _bucket(url)
    for item in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        client.delete_object(Bucket=bucket, Key=item["Key"])
    client.delete_bucket(Bucket=bucket)


def make_bucket(endpoint: str, url: str) -> None:
    _client(endpoint).create_bucket(Bucket=_bucket(url))
