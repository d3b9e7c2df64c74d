#!/usr/bin/env python3
"""5,000 requests without a token, each registering a distinct 40 KB document as a persisted
query, against a production-profile gateway on a fresh SQLite file; prints its RSS before,
right after and 12 s later. Usage: anonymous_documents.py BINARY PORT"""
import hashlib, json, os, subprocess, sys, tempfile, time, http.client, threading
binary = sys.argv[1]; port = int(sys.argv[2])
d = tempfile.mkdtemp()
env = dict(os.environ, DATABASE_URL="sqlite://" + d + "/gw.db", SG_JWT_SECRET="0123456789abcdef0123456789abcdef-secret", SG_PROFILE="production", RUST_LOG="warn")
subprocess.run([binary, "migrate"], env=env, capture_output=True)
gw = subprocess.Popen([binary, "serve", "--bind", f"127.0.0.1:{port}"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(1.5)
def rss(): return int([l for l in open(f"/proc/{gw.pid}/status") if l.startswith("VmRSS")][0].split()[1]) // 1024
def post(body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30); c.request("POST", "/graphql", body, {"content-type": "application/json"}); r = c.getresponse(); r.read(); c.close(); return r.status
for _ in range(20): post(json.dumps({"query": "{ __typename }"}))
before = rss()
def worker(w):
    for i in range(1250):
        doc = "{ __typename } # %d-%d %s" % (w, i, "x" * 40000)
        post(json.dumps({"query": doc, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(doc.encode()).hexdigest()}}}))
ts = [threading.Thread(target=worker, args=(w,)) for w in range(4)]; [t.start() for t in ts]; [t.join() for t in ts]
peak = rss(); time.sleep(12); after = rss()
print(f"RSS before {before} MiB, right after 5,000 anonymous 40 KB documents {peak} MiB, 12 s later {after} MiB")
gw.terminate()
