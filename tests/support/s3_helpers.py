"""A real S3 API server on 127.0.0.1 for the object-store tests (moto's server mode).

``s3_server`` (session) starts ``moto.server.ThreadedMotoServer`` on an ephemeral
loopback port and creates one bucket; ``s3_env`` (per test) puts the endpoint and a
distinctive pair of credentials in the environment (where the store reads them),
plus a fresh local catalog cache, and yields a fresh ``s3://`` store location.
Import the fixtures into a test module with
``from s3_helpers import s3_env, s3_server  # noqa: F401``.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

BUCKET = "tradeloom-test"
ACCESS_KEY = "AKIATRADELOOMTEST01"
SECRET_KEY = "s3cr3t-Tradeloom-S3-Key-never-print"
_counter = itertools.count()


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def env(self, cache_dir: str) -> dict[str, str]:
        """The environment a process needs to reach this server as the test user."""
        return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_EC2_METADATA_DISABLED": "true", "TRADELOOM_CACHE_DIR": cache_dir}


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    moto_server = pytest.importorskip("moto.server", reason="pip install 'moto[server]'")
    import boto3

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                 aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY
                 ).create_bucket(Bucket=BUCKET)
    try:
        yield S3Server(endpoint)
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_server: S3Server, tmp_path, monkeypatch) -> Iterator[str]:
    """Environment set for the S3 server; yields a fresh ``s3://bucket/prefix`` location."""
    for key, value in s3_server.env(str(tmp_path / "s3-cache")).items():
        monkeypatch.setenv(key, value)
    yield f"s3://{BUCKET}/t{os.getpid()}-{next(_counter)}"


__all__ = ["ACCESS_KEY", "BUCKET", "SECRET_KEY", "S3Server", "s3_env", "s3_server"]
