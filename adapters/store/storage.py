"""Where a store's files live: a local directory or S3-compatible object storage.

``open_storage("datasets/catalog")`` is a local directory; ``open_storage("s3://bucket/
prefix")`` is object storage reached through pyarrow's ``S3FileSystem``, so Dask
workers on other machines read the same Parquet files. Both offer the same few
operations the store needs (read a Parquet file, write one, replace one with
another, keep a backup, delete, list), with paths relative to the store root.

**Object storage settings** come from the environment, never from a config file or
the command line, and are never printed: the credentials through the AWS SDK's own
chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``, a
profile, an instance role), the endpoint of an S3-compatible server (MinIO, Ceph,
moto) from ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``, the region from
``AWS_REGION``/``AWS_DEFAULT_REGION`` (default ``us-east-1``). The store's ``repr``
and messages name only the ``s3://bucket/prefix`` location.

**Atomicity on object storage:** a PUT replaces an object whole, so readers never
see half a file. The store writes a new file under a temporary key and then copies
it over the final key (``replace``); the old object is first copied to a backup key
so a failed write can be undone, as with the hard-link backups on local disk.

**The catalog** (DuckDB) needs a local file: DuckDB can neither lock nor write a file
on object storage. For an S3 store its working copy lives in a local cache directory
and a copy is published beside the Parquet files after every write
(:mod:`~tradeloom.adapters.store.catalog_sync`), which readers on any machine fetch.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from tradeloom.engine.errors import ConfigError, DataError

#: Row groups of 128 Ki rows keep streaming reads small (~6 MiB decoded per group).
ROW_GROUP_SIZE = 131_072
ENV_CACHE = "TRADELOOM_CACHE_DIR"
_ENDPOINT_VARS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


def write_parquet_to(table: pa.Table, where, filesystem: pafs.FileSystem | None = None) -> None:
    """Write ``table`` as zstd Parquet with statistics."""
    pq.write_table(table, where, filesystem=filesystem, compression="zstd",
                   use_dictionary=False, write_statistics=True, row_group_size=ROW_GROUP_SIZE)


class Storage:
    """The operations the store needs, with paths relative to the store root."""

    location: str
    remote: bool = False
    catalog_dir: Path

    def exists(self, rel: str) -> bool:
        raise NotImplementedError

    def read_table(self, rel: str, columns: list[str] | None = None) -> pa.Table:
        raise NotImplementedError

    def parquet_file(self, rel: str) -> pq.ParquetFile:
        raise NotImplementedError

    def write_parquet(self, table: pa.Table, rel: str) -> None:
        raise NotImplementedError

    def replace(self, src: str, dst: str) -> None:
        """Put ``src`` at ``dst`` (replacing it whole) and remove ``src``."""
        raise NotImplementedError

    def backup(self, src: str, dst: str) -> None:
        """Keep a copy of ``src`` at ``dst`` (a hard link where the disk allows)."""
        raise NotImplementedError

    def same_file(self, a: str, b: str) -> bool:
        return False

    def delete(self, rel: str) -> None:
        """Remove a file; a missing file is not an error."""
        raise NotImplementedError

    def list_files(self, rel_dir: str = "") -> list[str]:
        """Every file under ``rel_dir`` (recursive), relative to the root, sorted."""
        raise NotImplementedError

    def make_dirs(self, rel_dir: str) -> list[str]:
        """Create ``rel_dir`` and its parents; return the ones created (deepest last)."""
        return []

    def remove_empty_dirs(self, rel_dirs: list[str]) -> None:
        """Remove each of ``rel_dirs`` (deepest first) if it is an empty directory."""

    def display(self, rel: str) -> str:
        """How messages name a file: an absolute path or an ``s3://`` URL."""
        raise NotImplementedError

    def read_bytes(self, rel: str) -> bytes | None:
        """The bytes of a file, or None if there is none."""
        raise NotImplementedError

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write a small file whole."""
        raise NotImplementedError


class LocalStorage(Storage):
    """A store directory on a local (or mounted) disk."""

    remote = False

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.location = str(self.root)
        self.catalog_dir = self.root

    def _p(self, rel: str) -> Path:
        return self.root / rel

    def exists(self, rel: str) -> bool:
        return self._p(rel).is_file()

    def read_table(self, rel: str, columns: list[str] | None = None) -> pa.Table:
        return pq.read_table(self._p(rel), columns=columns)

    def parquet_file(self, rel: str) -> pq.ParquetFile:
        return pq.ParquetFile(self._p(rel), pre_buffer=False)

    def write_parquet(self, table: pa.Table, rel: str) -> None:
        write_parquet_to(table, self._p(rel))

    def replace(self, src: str, dst: str) -> None:
        os.replace(self._p(src), self._p(dst))

    def backup(self, src: str, dst: str) -> None:
        target = self._p(dst)
        target.unlink(missing_ok=True)
        try:
            os.link(self._p(src), target)
        except OSError:
            shutil.copy2(self._p(src), target)

    def same_file(self, a: str, b: str) -> bool:
        pa_, pb = self._p(a), self._p(b)
        return pa_.exists() and pb.exists() and os.path.samefile(pa_, pb)

    def delete(self, rel: str) -> None:
        self._p(rel).unlink(missing_ok=True)

    def list_files(self, rel_dir: str = "") -> list[str]:
        base = self._p(rel_dir) if rel_dir else self.root
        if not base.is_dir():
            return []
        return sorted(str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file())

    def make_dirs(self, rel_dir: str) -> list[str]:
        missing = []
        probe = self._p(rel_dir)
        while not probe.exists():
            missing.append(probe)
            probe = probe.parent
        created = []
        for path in reversed(missing):
            path.mkdir()
            created.append(str(path.relative_to(self.root)))
        return created

    def remove_empty_dirs(self, rel_dirs: list[str]) -> None:
        for rel in rel_dirs:
            path = self._p(rel)
            if path != self.root and path.is_dir() and not any(path.iterdir()):
                path.rmdir()

    def display(self, rel: str) -> str:
        return str(self._p(rel))

    def read_bytes(self, rel: str) -> bytes | None:
        path = self._p(rel)
        return path.read_bytes() if path.is_file() else None

    def write_bytes(self, rel: str, data: bytes) -> None:
        self._p(rel).write_bytes(data)


def _s3_errors(method):
    """Turn the S3 client's OSErrors (no bucket, no access, no connection) into a
    DataError naming the location and the settings to check; a missing object stays
    ``FileNotFoundError``."""
    import functools

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except FileNotFoundError:
            raise
        except OSError as exc:
            what = f" {args[0]}" if args and isinstance(args[0], str) else ""
            raise DataError(
                f"object store {self.location}: {method.__name__}{what} failed ({exc}); check "
                "that the bucket exists, the endpoint (AWS_ENDPOINT_URL) and the credentials "
                "(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment)") from exc
    return wrapper


class S3Storage(Storage):
    """A store under ``s3://bucket/prefix`` (see the module docstring for settings)."""

    remote = True

    def __init__(self, url: str, environ: Mapping[str, str] | None = None,
                 filesystem: pafs.FileSystem | None = None) -> None:
        env = os.environ if environ is None else environ
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
            raise ConfigError(f"object store {url!r} must look like s3://bucket/prefix")
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self.location = f"s3://{self.bucket}" + (f"/{self.prefix}" if self.prefix else "")
        self.base = f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket
        self.fs = filesystem if filesystem is not None else s3_filesystem(env)
        cache = Path(env.get(ENV_CACHE) or Path.home() / ".cache" / "tradeloom")
        self.catalog_dir = cache / "s3" / self.bucket / (self.prefix or "_root")
        self.catalog_dir.mkdir(parents=True, exist_ok=True)

    def key(self, rel: str) -> str:
        return f"{self.base}/{rel}"

    @_s3_errors
    def exists(self, rel: str) -> bool:
        return self.fs.get_file_info(self.key(rel)).type == pafs.FileType.File

    def read_table(self, rel: str, columns: list[str] | None = None) -> pa.Table:
        with self.fs.open_input_file(self.key(rel)) as handle:
            return pq.read_table(handle, columns=columns)

    def parquet_file(self, rel: str) -> pq.ParquetFile:
        return pq.ParquetFile(self.fs.open_input_file(self.key(rel)))

    @_s3_errors
    def write_parquet(self, table: pa.Table, rel: str) -> None:
        write_parquet_to(table, self.key(rel), filesystem=self.fs)

    @_s3_errors
    def replace(self, src: str, dst: str) -> None:
        self.fs.copy_file(self.key(src), self.key(dst))
        self.fs.delete_file(self.key(src))

    @_s3_errors
    def backup(self, src: str, dst: str) -> None:
        self.fs.copy_file(self.key(src), self.key(dst))

    @_s3_errors
    def delete(self, rel: str) -> None:
        try:
            self.fs.delete_file(self.key(rel))
        except FileNotFoundError:
            return

    @_s3_errors
    def list_files(self, rel_dir: str = "") -> list[str]:
        base = self.key(rel_dir) if rel_dir else self.base
        selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
        cut = len(self.base) + 1
        return sorted(info.path[cut:] for info in self.fs.get_file_info(selector)
                      if info.type == pafs.FileType.File)

    def display(self, rel: str) -> str:
        return f"{self.location}/{rel}"

    @_s3_errors
    def read_bytes(self, rel: str) -> bytes | None:
        """The bytes of a small object, or None if there is none."""
        try:
            with self.fs.open_input_stream(self.key(rel)) as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    @_s3_errors
    def write_bytes(self, rel: str, data: bytes) -> None:
        with self.fs.open_output_stream(self.key(rel)) as handle:
            handle.write(data)

    @_s3_errors
    def download(self, rel: str, target: Path) -> bool:
        """Copy an object to a local file (atomically); False if there is no object."""
        temp = target.with_name(f".{target.name}.{os.getpid()}.download")
        try:
            pafs.copy_files(self.key(rel), str(temp), source_filesystem=self.fs,
                            destination_filesystem=pafs.LocalFileSystem())
        except FileNotFoundError:
            temp.unlink(missing_ok=True)
            return False
        os.replace(temp, target)
        return True

    @_s3_errors
    def upload(self, source: Path, rel: str) -> None:
        pafs.copy_files(str(source), self.key(rel), source_filesystem=pafs.LocalFileSystem(),
                        destination_filesystem=self.fs)


def s3_filesystem(environ: Mapping[str, str]) -> pafs.S3FileSystem:
    """An S3 client configured from the environment (endpoint, region; credentials are
    left to the AWS SDK's chain so they never pass through tradeloom's objects)."""
    kwargs: dict[str, object] = {
        "region": environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        "connect_timeout": 10, "request_timeout": 60,
        # upload parts one after another: memory stays at one part per file being written
        "background_writes": False,
    }
    endpoint = next((environ[v] for v in _ENDPOINT_VARS if environ.get(v)), None)
    if endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"AWS_ENDPOINT_URL {endpoint!r} must look like "
                              "http://127.0.0.1:9000 or https://minio.example.com")
        kwargs.update(endpoint_override=parts.netloc, scheme=parts.scheme)
    return pafs.S3FileSystem(**kwargs)


def is_object_store(location: str | os.PathLike[str]) -> bool:
    """Whether ``location`` names object storage (``s3://...``)."""
    return isinstance(location, str) and location.startswith("s3://")


def open_storage(location: str | os.PathLike[str]) -> Storage:
    """The :class:`Storage` for a local directory or an ``s3://bucket/prefix`` URL."""
    if is_object_store(location):
        return S3Storage(str(location))
    text = os.fspath(location)
    if "://" in text:
        raise ConfigError(f"store location {text!r}: use a local directory or "
                          "s3://bucket/prefix (other URL schemes are not supported)")
    return LocalStorage(text)


__all__ = [
    "ENV_CACHE",
    "ROW_GROUP_SIZE",
    "LocalStorage",
    "S3Storage",
    "Storage",
    "is_object_store",
    "open_storage",
    "s3_filesystem",
    "write_parquet_to",
]
