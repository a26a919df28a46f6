"""Keeps GET requests going through nginx (one keep-alive connection, reopened on error) until a
stop file appears; prints one JSON object: requests, failed, and the distinct bodies seen.
A request fails when it errors or answers other than 200. Usage: load.py PORT HOST STOPFILE"""
import http.client
import json
import os
import sys
import time

port, host, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3]
requests = failed = 0
bodies = {}
errors = []
conn = None
deadline = time.time() + 600
while not os.path.exists(stop) and time.time() < deadline:
    try:
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/", headers={"Host": host})
        r = conn.getresponse()
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
print(json.dumps({"requests": requests, "failed": failed, "bodies": bodies, "errors": errors[:10]}))
