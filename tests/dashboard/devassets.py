"""A development aid, off unless `FEDML_DASHBOARD_ASSETS=1`: a proxy in front of the real server
that answers the dashboard's page and scripts (`/`, `/ui/…`) from `crates/api/web/assets/` on
disk and forwards everything else, so that a change to the page is tried without relinking the
binary. The server's public URL is the proxy's, so that signed URLs come back through it too.
The suite proper runs against the assets embedded in the binary (leave the variable unset)."""

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ASSETS = Path(__file__).resolve().parents[2] / "crates" / "api" / "web" / "assets"
TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


def start(listen_port: int, upstream_port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _asset(self, name):
            path = ASSETS / name
            if "/" in name or not path.is_file():
                return False
            body = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", TYPES.get(path.suffix, "application/octet-stream"))
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Cache-Control", "no-store")
            if name == "index.html":
                self.send_header("Content-Security-Policy", self._upstream_csp())
            self.end_headers()
            self.wfile.write(body)
            return True

        def _upstream_csp(self):
            conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=30)
            conn.request("GET", "/", headers={"Host": self.headers.get("Host", "")})
            response = conn.getresponse()
            response.read()
            conn.close()
            return response.getheader("Content-Security-Policy", "")

        def _forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=300)
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in self.headers.items():
                if k.lower() not in HOP:
                    conn.putheader(k, v)
            conn.endheaders()
            left = length
            while left > 0:
                chunk = self.rfile.read(min(left, 1 << 20))
                if not chunk:
                    break
                conn.send(chunk)
                left -= len(chunk)
            response = conn.getresponse()
            self.send_response(response.status, response.reason)
            body_length = response.getheader("Content-Length")
            for k, v in response.getheaders():
                if k.lower() not in HOP:
                    self.send_header(k, v)
            if body_length is None:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command != "HEAD":
                while True:
                    chunk = response.read(1 << 20)
                    if not chunk:
                        break
                    self.wfile.write(chunk)
            conn.close()

        def _handle(self):
            path = self.path.split("?", 1)[0]
            if self.command == "GET" and path == "/" and self._asset("index.html"):
                return
            if self.command == "GET" and path.startswith("/ui/") and self._asset(path[4:]):
                return
            self._forward()

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

    server = ThreadingHTTPServer(("127.0.0.1", listen_port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
