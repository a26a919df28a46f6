"""Keeps GET requests going through nginx (one keep-alive connection, reopened on error) until a
stop file appears; prints one JSON object: requests, failed, and the distinct bodies seen.
A request fails when it errors or answers other than 200. Usage: load.py PORT HOST STOPFILE [CAFILE]
With CAFILE the requests are HTTPS to 127.0.0.1:PORT with HOST as the TLS server name, verified
against CAFILE."""
import http.client
import json
import os
import socket
import ssl
import sys
import time

port, host, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3]
cafile = sys.argv[4] if len(sys.argv) > 4 else None


class LoopbackHTTPS(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1 whatever the name, with the name as SNI and for verification."""

    def connect(self):
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=host)


def connection():
    if cafile:
        return LoopbackHTTPS(host, port, timeout=10, context=ssl.create_default_context(cafile=cafile))
    return http.client.HTTPConnection("127.0.0.1", port, timeout=10)
requests = failed = 0
bodies = {}
errors = []
conn = None
deadline = time.time() + 600
retried = 0


def get(c):
    c.request("GET", "/", headers={"Host": host})
    return c.getresponse()


while not os.path.exists(stop) and time.time() < deadline:
    try:
        if conn is None:
            conn = connection()
            r = get(conn)
        else:
            # A GET sent on a reused keep-alive connection that the server closed without any
            # response (nginx's old workers close idle connections when they reload) is retried
            # once on a new connection, as browsers and HTTP libraries do (RFC 9110 9.2.2).
            # Counted apart; every other error and every non-200 answer is a failure.
            try:
                r = get(conn)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                retried += 1
                conn = connection()
                r = get(conn)
        body = r.read().decode("utf-8", "replace")
        requests += 1
        if r.status != 200:
            failed += 1
            errors.append("status %d" % r.status)
        else:
            bodies[body] = bodies.get(body, 0) + 1
    except Exception as e:  # noqa: BLE001 - every failure counts
        requests += 1
        failed += 1
        errors.append(repr(e)[:200])
        conn = None
print(json.dumps({"requests": requests, "failed": failed, "retriedAfterKeepAliveClose": retried, "bodies": bodies, "errors": errors[:10]}))
