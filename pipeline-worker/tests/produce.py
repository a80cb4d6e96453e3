#!/usr/bin/env python3
"""Independent test producer (confluent-kafka, its own bundled librdkafka).

    produce.py BROKERS TOPIC FILE

FILE is `*.jsonl` (one record value per line, no key), `*.json` (a list of records
`{"key": str|null, "value": str, "headers": {name: str}}`, for records with headers), or a binary
file of records, each `>i key_len` (-1: no key), key bytes, `>i value_len`, value bytes. Prints the number of records the
broker acknowledged; exits 1 if any failed.
"""
import struct
import sys

from confluent_kafka import Producer

brokers, topic, path = sys.argv[1:4]
producer = Producer({
    "bootstrap.servers": brokers,
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 20,
    "batch.num.messages": 10000,
    "queue.buffering.max.messages": 1000000,
})
state = {"ok": 0, "failed": 0}


def delivered(err, _msg):
    if err is None:
        state["ok"] += 1
    else:
        state["failed"] += 1
        print(f"delivery failed: {err}", file=sys.stderr)


def records():
    if path.endswith(".json"):
        import json
        with open(path, "rb") as f:
            for r in json.load(f):
                key = r.get("key")
                headers = [(k, v.encode()) for k, v in r.get("headers", {}).items()]
                yield (key.encode() if key is not None else None), r["value"].encode(), headers
        return
    if path.endswith(".jsonl"):
        with open(path, "rb") as f:
            for line in f:
                line = line.rstrip(b"\n")
                if line:
                    yield None, line, None
        return
    with open(path, "rb") as f:
        data = f.read()
    i = 0
    while i < len(data):
        (klen,) = struct.unpack_from(">i", data, i)
        i += 4
        key = None
        if klen >= 0:
            key = data[i:i + klen]
            i += klen
        (vlen,) = struct.unpack_from(">i", data, i)
        i += 4
        yield key, data[i:i + vlen], None
        i += vlen


for key, value, headers in records():
    while True:
        try:
            producer.produce(topic, value=value, key=key, headers=headers, on_delivery=delivered)
            break
        except BufferError:
            producer.poll(0.05)
    producer.poll(0)
remaining = producer.flush(120)
print(state["ok"])
sys.exit(1 if state["failed"] or remaining else 0)
