"""A small HTTP server on 127.0.0.1 standing in for something outside the platform (an external
fulfilment service, a brand's webhook endpoint). Tests script its answers."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Recorder:
    """Records every request; `respond(request)` returns (status, body[, headers dict]) or raises
    to hang up. A body is a dict, sent as JSON, or bytes, sent as they are."""

    def __init__(self, respond, port: int = 0, ssl_context=None):
        self.respond = respond
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                request = {"path": self.path, "headers": dict(self.headers), "body": self.rfile.read(length)}
                with recorder.lock:
                    recorder.requests.append(request)
                status, body, *headers = recorder.respond(request)
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (headers[0] if headers else {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        if ssl_context is not None:  # HTTPS: the handshake happens as each connection is accepted
            self.server.socket = ssl_context.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if ssl_context is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class HeldReceiver(Recorder):
    """Answers the n-th request to arrive with `statuses[n]` (then 200), only once `release` is set."""

    def __init__(self, *statuses):
        self.release = threading.Event()
        self.statuses = statuses
        super().__init__(self._answer)

    def _answer(self, request):
        with self.lock:
            index = next(i for i, seen in enumerate(self.requests) if seen is request)
        self.release.wait(20)
        return (self.statuses[index] if index < len(self.statuses) else 200), {}

    def wait_for_requests(self, count, timeout=10.0):
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            assert time.monotonic() < deadline, f"expected {count} request(s), got {len(self.requests)}"
            time.sleep(0.02)
