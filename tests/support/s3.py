"""A real S3-compatible server for tests: moto's, in this process, on a free port."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from app.ops.embedded import free_port


@dataclass(frozen=True)
class S3Server:
    """Where the test S3 server listens, and a plain boto3 client on it to arrange and inspect buckets."""

    endpoint: str
    client: Any

    @property
    def port(self) -> int:
        """The port it listens on (127.0.0.1), for a proxy to stand in front of it."""
        return int(self.endpoint.rsplit(":", 1)[1])

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        listed = self.client.list_objects_v2(Bucket=bucket, Prefix=prefix)
        return sorted(o["Key"] for o in listed.get("Contents", []))

    def body(self, bucket: str, key: str) -> bytes:
        data: bytes = self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        return data


@contextlib.contextmanager
def moto_server() -> Iterator[S3Server]:
    """moto's S3 server in this process until the block ends; AWS credentials set the usual way (environment), as a
    deployment would."""
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "test-key"),
        ("AWS_SECRET_ACCESS_KEY", "test-secret"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        os.environ.setdefault(name, value)
    from moto.server import ThreadedMotoServer  # here: moto costs every worker 0.26 CPU s to import

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        yield S3Server(endpoint, boto3.client("s3", endpoint_url=endpoint))
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server for the session."""
    with moto_server() as server:
        yield server
