"""Runs gcp-storage-emulator (PyPI) for the black-box suite, with two changes that make it answer
as Google Cloud Storage does where our uploads depend on it:

- a simple upload through a signed URL (`PUT /BUCKET/OBJECT`) answers the object's MD5 as its
  `ETag`, as GCS's XML API does (the emulator sends no ETag, and a part answer without one is
  refused by our client);
- an empty body is an empty object (the emulator fails on it);
- connections are served on threads (the emulator serves one at a time, so a client holding a
  connection open would stall every other); requests still run one at a time, under one lock,
  because the emulator's storage is not made for concurrent writers.

It does not check signatures: the suite's checks of tampered or expired signed URLs are skipped
on this backend, each saying so.

    python gcs_emulator.py --port PORT --data-dir DIR
"""

import argparse
import hashlib
import io
import http.server
import threading

from gcp_storage_emulator import server as emulator
from gcp_storage_emulator.handlers import objects

LOCK = threading.Lock()
xml_upload = objects.xml_upload


def xml_upload_with_etag(request, response, storage, *args, **kwargs):
    if request.data is None:  # an empty body (the emulator would fail on it)
        request._data = b""
    xml_upload(request, response, storage, *args, **kwargs)
    if response.status.value == 200:
        response["ETag"] = '"{}"'.format(hashlib.md5(request.data or b"").hexdigest())


for _, handlers in emulator.HANDLERS:
    for method, handler in list(handlers.items()):
        if handler is xml_upload:
            handlers[method] = xml_upload_with_etag

insert = objects.insert


def insert_empty(request, response, storage, *args, **kwargs):
    if request.data is None:  # an empty simple upload (the emulator would fail on it)
        request._data = b""
    insert(request, response, storage, *args, **kwargs)


for _, handlers in emulator.HANDLERS:
    for method, handler in list(handlers.items()):
        if handler is insert:
            handlers[method] = insert_empty

handle = emulator.Router.handle


def handle_one_at_a_time(self, method):
    # The body is read before the lock is taken, so that a slow or stalled client holds up no
    # other request.
    connection = self._request_handler
    length = connection.headers.get("Content-Length")
    if length and length.isdigit():
        connection.rfile = io.BytesIO(connection.rfile.read(int(length)))
    with LOCK:
        handle(self, method)


emulator.Router.handle = handle_one_at_a_time


class ThreadingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


emulator.server.HTTPServer = ThreadingServer

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", required=True)
    args = parser.parse_args()
    emulator.create_server("127.0.0.1", args.port, in_memory=False, data_dir=args.data_dir).run()
