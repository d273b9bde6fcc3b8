"""The archive in a folder (`PARTY_ARCHIVE_URL=file:///path`; the default is under the data
folder, so `make run` archives with nothing installed).

A put writes a temporary file beside the target, fsyncs it, renames it over the target and
fsyncs the folder: once it returns the object survives a crash, and a reader never sees half
of one. A full disk fails the put (OSError), and the archive worker keeps the batch unacked."""

import asyncio
import os
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit


def file_root(url: str) -> Path:
    parts = urlsplit(url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        raise ValueError(f"not a local file URL: {url!r}")
    return Path(unquote(parts.path))


class FileArchive:
    def __init__(self, url: str) -> None:
        self.root = file_root(url)

    async def connect(self) -> None:
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)

    async def close(self) -> None:
        pass

    async def ping(self) -> None:
        if not await asyncio.to_thread(os.access, self.root, os.W_OK):
            raise OSError(f"the archive folder {self.root} is not writable")

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, self._path(key), data)

    async def get(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self._path(key).read_bytes)
        except FileNotFoundError:
            raise KeyError(key) from None

    async def keys(self, prefix: str) -> list[str]:
        return await asyncio.to_thread(self._keys, prefix)

    def _path(self, key: str) -> Path:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"not an archive key: {key!r}")
        return self.root / key

    def _put(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".part")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)

    def _keys(self, prefix: str) -> list[str]:
        # The folder the prefix names (or its parent, for a prefix that ends mid-name).
        base = self.root / prefix if prefix.endswith("/") else (self.root / prefix).parent
        if not base.is_dir():
            return []
        found = []
        for folder, _, files in os.walk(base):
            for name in files:
                if name.startswith("."):
                    continue  # a put in progress
                key = (Path(folder) / name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    found.append(key)
        return sorted(found)
