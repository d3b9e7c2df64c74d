#!/usr/bin/env python3
"""Another process holds BEGIN EXCLUSIVE on the gateway's SQLite file for 10 s while 8 writers
add notes; prints what the writers got and how long each took, how soon after the release a
write succeeds, and whether an outside process can write. Usage: sqlite_lock.py BINARY
(port 18600)."""
import json, os, sqlite3, subprocess, sys, tempfile, threading, time, urllib.request, collections
binary = sys.argv[1]
d = tempfile.mkdtemp()
db = os.path.join(d, "gw.db")
env = dict(os.environ, DATABASE_URL="sqlite://" + db, SG_JWT_SECRET="0123456789abcdef0123456789abcdef-secret", RUST_LOG="warn", SG_BIND="127.0.0.1:18600")
for k in list(env):
    if k.startswith("SG_PROFILE"): del env[k]
subprocess.run([binary, "seed", "--demo"], env=env, check=True, capture_output=True)
gw = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
url = "http://127.0.0.1:18600/graphql"
for _ in range(100):
    try:
        urllib.request.urlopen("http://127.0.0.1:18600/readyz", timeout=1); break
    except Exception: time.sleep(0.1)
token = subprocess.run([binary, "token", "--agent", "admin@northwind-cloud.example"], env=env, capture_output=True, text=True).stdout.strip()
def gql(q, v=None, timeout=30):
    req = urllib.request.Request(url, json.dumps({"query": q, "variables": v or {}}).encode(), {"content-type": "application/json", "authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r: return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e: return e.code, json.loads(e.read() or b"{}")
_, b = gql("{ serviceRequests(first: 1, filter: { status: [OPEN] }) { edges { node { id } } } }")
rid = b["data"]["serviceRequests"]["edges"][0]["node"]["id"]
NOTE = "mutation($i: AddServiceRequestNoteInput!) { addServiceRequestNote(input: $i) { serviceRequest { id } } }"
def note(body):
    t = time.time(); s, b = gql(NOTE, {"i": {"id": rid, "body": body}})
    code = (b.get("errors") or [{}])[0].get("extensions", {}).get("code", "OK") if isinstance(b, dict) else "?"
    return s, code, time.time() - t
outside = sqlite3.connect(db, timeout=1, isolation_level=None)
outside.execute("BEGIN EXCLUSIVE")
results = collections.Counter(); slowest = [0.0]; durs = []
stop = time.time() + 10
def writer(n):
    i = 0
    while time.time() < stop:
        s, c, dt = note(f"w{n}-{i}"); i += 1
        results[(s, c)] += 1; slowest[0] = max(slowest[0], dt); durs.append(round(dt,2))
ts = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
outside.execute("ROLLBACK"); released = time.time()
print("during the lock:", dict(results), "slowest %.1f s" % slowest[0], sorted(durs))
ok_at = None
while time.time() - released < 90:
    s, c, dt = note("after")
    if c == "OK": ok_at = time.time() - released; break
    time.sleep(0.1)
print("first gateway write after release: %s" % ("%.2f s" % ok_at if ok_at is not None else "none in 90 s"))
o2 = sqlite3.connect(db, timeout=1, isolation_level=None)
try:
    o2.execute("BEGIN IMMEDIATE"); o2.execute("ROLLBACK"); print("outside write: ok")
except Exception as e: print("outside write:", e)
gw.terminate()
