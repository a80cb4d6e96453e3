#!/usr/bin/env python3
"""Independent load for the cluster tests (confluent-kafka, its own bundled librdkafka).

    produce_stream.py BROKERS TOPIC RATE

Produces the tests' good events (`good_event` in tests/worker/helpers.rs), seq 0, 1, 2, … at RATE
per second, without keys, idempotent with acks=all, until it receives SIGTERM or the
process that started it ends. Then it waits for
every outstanding acknowledgement (a record may wait out a broker outage: the delivery timeout is
five minutes) and prints `ACKED FAILED` on one line; the acknowledged records are exactly seqs
0..ACKED when FAILED is 0. Exits 1 if any record failed.
"""
import json
import os
import signal
import sys
import time

from confluent_kafka import Producer

brokers, topic, rate = sys.argv[1], sys.argv[2], float(sys.argv[3])
producer = Producer({
    "bootstrap.servers": brokers,
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 20,
    "message.timeout.ms": 300000,
    "queue.buffering.max.messages": 1000000,
    # Brokers going away is what the tests do: librdkafka's reconnect lines are expected noise.
    "log_level": 0,
})
state = {"ok": 0, "failed": 0, "stop": False}


def delivered(err, _msg):
    if err is None:
        state["ok"] += 1
    else:
        state["failed"] += 1
        print(f"delivery failed: {err}", file=sys.stderr)


def stop(_signum, _frame):
    state["stop"] = True


def event(seq):
    return json.dumps({
        "seq": seq,
        "log_message": f"2026-11-21T10:00:00Z - web - INFO - request {seq} from user{seq}@example.com",
        "severity": "INFO",
        "service": "web",
    }, separators=(",", ":")).encode()


signal.signal(signal.SIGTERM, stop)
parent = os.getppid()
started, seq = time.monotonic(), 0
# The test that started it may die without stopping it (an aborted test binary runs no
# destructor): once its parent is gone, stop as on SIGTERM rather than produce for ever.
while not state["stop"] and os.getppid() == parent:
    due = int((time.monotonic() - started) * rate)
    while seq < due:
        producer.produce(topic, event(seq), on_delivery=delivered)
        seq += 1
    producer.poll(0.02)
remaining = producer.flush(330 if os.getppid() == parent else 10)
print(state["ok"], state["failed"] + remaining, flush=True)
sys.exit(0 if state["failed"] == 0 and remaining == 0 else 1)
