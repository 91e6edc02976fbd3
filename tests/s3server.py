"""A loopback S3 server for the tests of the bucket image store: moto's server mode, one per
test session, with a fresh bucket per test; and a front for it that refuses chosen requests,
as a bucket policy protecting an object would."""

from __future__ import annotations

import http.client
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import boto3
import pytest
from moto.server import ThreadedMotoServer

ACCESS_KEY_ID = "cameo-tests"
SECRET_ACCESS_KEY = "cameo-tests-secret"
REGION = "us-east-1"
_buckets = itertools.count(1)


@dataclass(frozen=True)
class Bucket:
    endpoint: str
    name: str

    @property
    def url(self) -> str:
        return f"s3://{self.name}/images"

    def settings(self) -> dict[str, object]:
        """CAMEO_* settings that put a bot's images in this bucket."""
        return {
            "image_store": self.url,
            "s3_endpoint": self.endpoint,
            "s3_region": REGION,
            "s3_access_key_id": ACCESS_KEY_ID,
            "s3_secret_access_key": SECRET_ACCESS_KEY,
        }

    def object_keys(self) -> list[str]:
        listed = _client(self.endpoint).list_objects_v2(Bucket=self.name)
        return sorted(item["Key"] for item in listed.get("Contents", []))


def _client(endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        region_name=REGION,
    )


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_endpoint: str) -> Bucket:
    name = f"cameo-{next(_buckets)}"
    _client(s3_endpoint).create_bucket(Bucket=name)
    return Bucket(s3_endpoint, name)


# What S3 answers a request it will not carry out.
_ACCESS_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
)


@contextmanager
def refusing_front(
    endpoint: str, refuse: Callable[[str, str, bytes], bool], after_seconds: float = 0.0
) -> Iterator[str]:
    """An endpoint in front of the S3 server at `endpoint` that answers 403 AccessDenied to
    every request `refuse(method, path_with_query, body)` picks (after `after_seconds`: a
    bucket too slow to answer in time) and passes the others through; yields its URL."""
    target = urlsplit(endpoint)

    class Front(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()  # the blank line after the last chunk
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _relay(self) -> None:
            body = self._body()
            if refuse(self.command, self.path, body):
                time.sleep(after_seconds)
                self.send_response(403)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(_ACCESS_DENIED)))
                self.end_headers()
                self.wfile.write(_ACCESS_DENIED)
                return
            headers = {
                name: value
                for name, value in self.headers.items()
                if name.lower() not in {"transfer-encoding", "content-length", "connection"}
            }
            upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
            try:
                upstream.request(self.command, self.path, body=body or None, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
            finally:
                upstream.close()
            self.send_response_only(answer.status)
            # A HEAD's Content-Length is the object's size; otherwise it is set below.
            dropped = {"transfer-encoding", "connection"} | (
                set() if self.command == "HEAD" else {"content-length"}
            )
            for name, value in answer.getheaders():
                if name.lower() not in dropped:
                    self.send_header(name, value)
            if self.command != "HEAD":
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per request otherwise

    server = ThreadingHTTPServer(("127.0.0.1", 0), Front)
    thread = threading.Thread(target=server.serve_forever, name="s3-front", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
