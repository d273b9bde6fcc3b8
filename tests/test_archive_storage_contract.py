"""The ArchiveStorage contract, run on a folder (file://) and on S3 (moto's server)."""

import os

import pytest

from party_engine.backends import open_archive
from tests.archive_helpers import AWS_ENV, drop_bucket, new_bucket


@pytest.fixture(params=["file", "s3"])
async def storage(request, tmp_path, monkeypatch):
    if request.param == "file":
        archive = open_archive((tmp_path / "archive").as_uri())
    else:
        for name, value in AWS_ENV.items():
            monkeypatch.setenv(name, value)
        endpoint = request.getfixturevalue("moto_server").url
        archive = open_archive(new_bucket(endpoint), s3_endpoint=endpoint)
    await archive.connect()
    yield archive
    await archive.close()


async def test_an_object_put_is_read_back_whole(storage):
    data = os.urandom(100_000)
    await storage.put("events/dt=2030-05-01/party_id=p1/a.parquet", data)
    assert await storage.get("events/dt=2030-05-01/party_id=p1/a.parquet") == data
    await storage.ping()


async def test_a_put_under_the_same_key_replaces_the_object(storage):
    await storage.put("events/dt=2030-05-01/party_id=p1/a.parquet", b"first")
    await storage.put("events/dt=2030-05-01/party_id=p1/a.parquet", b"second")
    assert await storage.get("events/dt=2030-05-01/party_id=p1/a.parquet") == b"second"
    assert await storage.keys("events/dt=2030-05-01/party_id=p1/") == [
        "events/dt=2030-05-01/party_id=p1/a.parquet"
    ]


async def test_keys_lists_only_what_is_under_the_prefix_sorted(storage):
    for key in (
        "events/dt=2030-05-01/party_id=p1/b.parquet",
        "events/dt=2030-05-01/party_id=p1/a.parquet",
        "events/dt=2030-05-01/party_id=p10/c.parquet",
        "events/dt=2030-05-02/party_id=p1/d.parquet",
    ):
        await storage.put(key, b"x")
    assert await storage.keys("events/dt=2030-05-01/party_id=p1/") == [
        "events/dt=2030-05-01/party_id=p1/a.parquet",
        "events/dt=2030-05-01/party_id=p1/b.parquet",
    ]
    assert len(await storage.keys("events/")) == 4
    assert await storage.keys("events/dt=2030-05-03/party_id=p1/") == []


async def test_a_missing_object_is_a_key_error(storage):
    with pytest.raises(KeyError):
        await storage.get("events/dt=2030-05-01/party_id=p1/none.parquet")


async def test_on_a_local_endpoint_a_missing_bucket_is_made_and_a_lost_one_fails_puts(
    moto_server, monkeypatch
):
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    url = new_bucket(moto_server.url).replace("archive-", "made-")  # not created
    archive = open_archive(url, s3_endpoint=moto_server.url)
    await archive.connect()
    try:
        await archive.put("events/a.parquet", b"x")
        assert await archive.keys("events/") == ["events/a.parquet"]
        drop_bucket(moto_server.url, url)
        with pytest.raises(Exception, match="NoSuchBucket"):
            await archive.put("events/a.parquet", b"x")
    finally:
        await archive.close()


async def test_a_file_archive_refuses_keys_outside_its_folder(tmp_path):
    archive = open_archive((tmp_path / "archive").as_uri())
    await archive.connect()
    with pytest.raises(ValueError):
        await archive.put("../escape", b"x")


async def test_a_full_disk_fails_the_put_and_leaves_no_partial_object(tmp_path, monkeypatch):
    archive = open_archive((tmp_path / "archive").as_uri())
    await archive.connect()

    def no_space(descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError, match="No space"):
        await archive.put("events/dt=2030-05-01/party_id=p1/a.parquet", b"data")
    monkeypatch.undo()
    assert await archive.keys("events/") == []
    assert [p.name for p in (tmp_path / "archive").rglob("*") if p.is_file()] == []
