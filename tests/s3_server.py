"""A local S3-compatible server (moto in server mode) on 127.0.0.1, for the tests of
remote homes and stores; each test gets a bucket of its own."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

_BUCKETS = itertools.count()


@dataclass(frozen=True)
class S3:
    endpoint: str
    bucket: str

    def url(self, *parts: str) -> str:
        return "/".join([f"s3://{self.bucket}", *parts])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> S3:
    """A fresh bucket on the local server, with the settings that point mmbench at it,
    and this test's own mirror folder (`MMBENCH_CACHE`)."""
    for name, value in {"MMBENCH_S3_ENDPOINT": s3_endpoint, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                        "MMBENCH_CACHE": str(tmp_path / "cache")}.items():
        monkeypatch.setenv(name, value)
    import boto3

    bucket = f"mmbench-test-{next(_BUCKETS)}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    return S3(s3_endpoint, bucket)


def another_machine(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Read the remote home or store from here on as a second machine would: with an
    empty mirror of its own."""
    monkeypatch.setenv("MMBENCH_CACHE", str(folder))
