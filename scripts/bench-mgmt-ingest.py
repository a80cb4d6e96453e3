#!/usr/bin/env python3
"""The ingest part of scripts/bench-mgmt: sets up what wrk posts and reads what wrk prints.

    bench-mgmt-ingest.py create BASE TOKEN NAME          a stopped pipeline NAME (3 partitions); prints its id
    bench-mgmt-ingest.py bodies EVENTS ONE BATCH         ONE = the first event, BATCH = a JSON array of all
    bench-mgmt-ingest.py lua TOKEN CONTENT_TYPE BODY     a wrk script posting BODY
    bench-mgmt-ingest.py cpu PID                         utime + stime of PID so far, in seconds
    bench-mgmt-ingest.py line WRK_OUTPUT PER CLIENTS LOAD CPU_BEFORE CPU_AFTER
                                                         one result line from wrk --latency output,
                                                         with pipeline-mgmt's CPU per event
    bench-mgmt-ingest.py floors RESULT_LINES             the floors beside their figures
"""
import json
import os
import re
import sys
import urllib.request

# (events per request, clients) -> the floor in events/s.
FLOORS = {(1, 32): 15000, (100, 8): 100000, (100, 32): 100000}
LINE = re.compile(r"ingest\s+(\d+) event\(s\)/request,\s+(\d+) clients:\s+(\d+) events/s")


def create(base, token, name):
    body = json.dumps({"name": name, "index": name, "state": "stopped",
                       "topics": {"partitions": 3, "replicationFactor": 1}}).encode()
    request = urllib.request.Request(f"{base}/api/v1/pipelines", data=body, method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request) as response:
        assert response.status == 201, response.status
        print(json.load(response)["id"])


def bodies(events, one, batch):
    lines = [json.loads(line) for line in open(events) if line.strip()]
    with open(one, "w") as f:
        f.write(json.dumps(lines[0]))
    with open(batch, "w") as f:
        f.write(json.dumps(lines))


def lua(token, content_type, body):
    print(f'wrk.method = "POST"\n'
          f'wrk.headers["Content-Type"] = "{content_type}"\n'
          f'wrk.headers["Authorization"] = "Bearer {token}"\n'
          f'local f = io.open("{body}", "rb"); wrk.body = f:read("*a"); f:close()')


def cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    print((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))


def millis(text, percent):
    m = re.search(rf"^\s*{percent}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]


def line(output, per, clients, load, cpu_before, cpu_after):
    text, per, clients = open(output).read(), int(per), int(clients)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    requests = int(re.search(r"(\d+) requests in", text).group(1))
    cpu_us = (float(cpu_after) - float(cpu_before)) / (requests * per) * 1e6
    print(f"ingest {per:>3} event(s)/request, {clients:>2} clients: {rps * per:>7.0f} events/s "
          f"({rps:.0f} requests/s, {requests} requests), p50 {millis(text, 50):.2f} ms, "
          f"p99 {millis(text, 99):.2f} ms, mgmt CPU {cpu_us:.1f} us/event (load {load})")


def floors(results):
    rates = {}
    for text in open(results):
        m = LINE.match(text)
        if m:
            rates[(int(m.group(1)), int(m.group(2)))] = int(m.group(3))
    print("ingest floors:")
    for (per, clients), floor in FLOORS.items():
        rate = rates.get((per, clients))
        verdict = "holds" if rate is not None and rate >= floor else "below floor"
        print(f"  {per} event(s)/request, {clients} clients: {rate} events/s, floor >= {floor}: {verdict}")


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"create": create, "bodies": bodies, "lua": lua, "cpu": cpu, "line": line,
     "floors": floors}[command](*args)
