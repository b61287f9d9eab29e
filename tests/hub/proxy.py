"""A recording HTTP/1.1 proxy on a loopback port, in front of one upstream server: every exchange
(method, path, request headers, status, response headers, the body bytes each way) is kept, and a
fault can be armed that cuts one response's body after N bytes (both connections closed, as a lost
network would), so a client's resume is seen on the wire. Used by tests/hub (the interrupted
download) and bench/hf.py (the bytes a commit sends)."""

import socket
import threading
from collections import deque
from dataclasses import dataclass, field


@dataclass
class Exchange:
    method: str
    path: str
    headers: dict  # request headers, names lower-cased
    request_body: int = 0  # body bytes sent upstream
    status: int | None = None
    response_headers: dict = field(default_factory=dict)
    response_body: int = 0  # body bytes forwarded to the client
    cut: bool = False  # this response was cut by the armed fault


class _Reader:
    """Buffered reads off a socket; every byte read is passed to `forward` first (unless held)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.eof = False

    def _fill(self):
        if self.eof:
            return False
        try:
            chunk = self.sock.recv(1 << 16)
        except OSError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def until(self, marker: bytes, limit=1 << 20):
        while marker not in self.buf:
            if len(self.buf) > limit or not self._fill():
                return None
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def some(self, n):
        if not self.buf and not self._fill():
            return b""
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def _parse_head(raw: bytes):
    lines = raw.decode("latin-1").split("\r\n")
    first = lines[0]
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return first, headers


class Proxy:
    def __init__(self, upstream_port: int, port: int = 0):
        self.upstream = ("127.0.0.1", upstream_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.exchanges: list[Exchange] = []
        self.lock = threading.Lock()
        self.fault = None  # (predicate(Exchange) -> bool, body bytes to let through)
        self.bytes_up = 0  # every byte clients sent (heads and bodies)
        self.bytes_down = 0
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    # --- what tests use ---------------------------------------------------------------------

    def cut_once(self, predicate, after_bytes: int):
        """Cut the body of the next response whose exchange matches after `after_bytes` bytes."""
        with self.lock:
            self.fault = (predicate, after_bytes)

    def reset(self):
        with self.lock:
            self.exchanges.clear()
            self.bytes_up = self.bytes_down = 0

    def close(self):
        self.closed = True
        try:
            self.listener.close()
        except OSError:
            pass

    # --- the proxy --------------------------------------------------------------------------

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pending = deque()
            ready = threading.Condition()
            threading.Thread(target=self._requests, args=(client, upstream, pending, ready), daemon=True).start()
            threading.Thread(target=self._responses, args=(upstream, client, pending, ready), daemon=True).start()

    @staticmethod
    def _close(*socks):
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass

    def _send(self, sock, data, up):
        sock.sendall(data)
        with self.lock:
            if up:
                self.bytes_up += len(data)
            else:
                self.bytes_down += len(data)

    def _body(self, reader, dest, headers, counter, up, limit=None):
        """Forwards one message body (Content-Length, chunked, or to the end of the stream);
        calls counter(n) per body byte forwarded. With `limit`, stops after that many body bytes
        and answers False."""
        sent = 0

        def pass_on(data):
            nonlocal sent
            self._send(dest, data, up)
            sent += len(data)
            counter(len(data))

        if "chunked" in headers.get("transfer-encoding", "").lower():
            while True:
                line = reader.until(b"\r\n")
                if line is None:
                    return True
                self._send(dest, line, up)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # Trailers end with an empty line.
                    while True:
                        t = reader.until(b"\r\n")
                        if t is None:
                            return True
                        self._send(dest, t, up)
                        if t == b"\r\n":
                            return True
                left = size
                while left:
                    data = reader.some(min(left, 1 << 16))
                    if not data:
                        return True
                    left -= len(data)
                    pass_on(data)
                crlf = reader.until(b"\r\n")
                if crlf is None:
                    return True
                self._send(dest, crlf, up)
        if "content-length" in headers:
            left = int(headers["content-length"])
        elif up:
            return True  # a request without a length has no body
        else:
            left = None  # to the end of the stream
        while left is None or left > 0:
            want = 1 << 16 if left is None else min(left, 1 << 16)
            if limit is not None:
                want = min(want, limit - sent)
                if want <= 0:
                    return False
            data = reader.some(want)
            if not data:
                return True
            if left is not None:
                left -= len(data)
            pass_on(data)
        return True

    def _requests(self, client, upstream, pending, ready):
        reader = _Reader(client)
        try:
            while True:
                head = reader.until(b"\r\n\r\n")
                if head is None:
                    break
                first, headers = _parse_head(head)
                parts = first.split(" ")
                ex = Exchange(parts[0], parts[1] if len(parts) > 1 else "", headers)
                with self.lock:
                    self.exchanges.append(ex)
                with ready:
                    pending.append(ex)
                    ready.notify()
                self._send(upstream, head, True)

                def count(n, ex=ex):
                    ex.request_body += n

                self._body(reader, upstream, headers, count, True)
        except OSError:
            pass
        finally:
            try:
                upstream.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def _responses(self, upstream, client, pending, ready):
        reader = _Reader(upstream)
        try:
            while True:
                head = reader.until(b"\r\n\r\n")
                if head is None:
                    break
                first, headers = _parse_head(head)
                status = int(first.split(" ")[1])
                if 100 <= status < 200:
                    self._send(client, head, False)
                    continue
                with ready:
                    while not pending:
                        ready.wait(5)
                    ex = pending.popleft()
                ex.status = status
                ex.response_headers = headers
                limit = None
                with self.lock:
                    if self.fault and ex.method != "HEAD" and self.fault[0](ex):
                        limit = self.fault[1]
                        self.fault = None
                self._send(client, head, False)
                if ex.method == "HEAD" or status in (204, 304):
                    continue

                def count(n, ex=ex):
                    ex.response_body += n

                if not self._body(reader, client, headers, count, False, limit):
                    ex.cut = True
                    break
                if "content-length" not in headers and "chunked" not in headers.get("transfer-encoding", ""):
                    break
        except OSError:
            pass
        finally:
            self._close(client, upstream)
