"""Archive storage for tests: a folder, or a fresh bucket on moto's S3 server."""

import uuid

import boto3

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def new_bucket(endpoint: str) -> str:
    """A new bucket on the S3 at `endpoint`; its s3:// URL with a prefix."""
    name = f"archive-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=AWS_ENV["AWS_DEFAULT_REGION"],
        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )
    client.create_bucket(Bucket=name)
    return f"s3://{name}/party-archive"
