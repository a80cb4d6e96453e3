#!/usr/bin/env python3
"""Benchmark driver of scripts/bench-broker: the worker's CPU per broker event when five
pipelines read one broker topic, each taking about 20 % of it by a CloudEvents attribute,
against one pipeline on the same topic that takes every event.

N events of ../shared/baseline/gen_events.py are produced once to one broker topic, each with an
extension attribute `bucket` (b0 … b4, one in five each), in binary mode (`ce_*` headers, the
data as the value) or structured mode (the envelope as the value), as --mode says. Each row is a
fresh database with the pipelines on that broker, one release worker, the blackhole bulk sink,
output topics on; it ends when every pipeline's consumer group has committed the whole broker
topic. The two configurations run in turns, ROUNDS times, because the machine is shared: the
table shows each round, the median per configuration, the ratio and the load average.

    bench_broker.py --worker BIN --sink BIN --events N --rounds R --mode binary|structured
Environment: FLOW_TEST_MYSQL_URL, FLOW_TEST_KAFKA_BROKERS (the stack's env).
"""
import argparse, json, os, statistics, subprocess, sys, time, uuid

import bench_worker as bw

FIVE = [{"attributes": {"bucket": f"b{i}"}} for i in range(5)]
EVERYTHING = [{}]
# The floor: the five pipelines together cost at most twice the single one per event.
FLOOR = 2.0


def events(n, mode):
    gen = os.path.join(bw.ROOT, "..", "shared", "baseline", "gen_events.py")
    lines = subprocess.run([sys.executable, gen, str(n)], check=True, capture_output=True,
                           text=True).stdout.splitlines()
    for i, line in enumerate(lines):
        ev = json.loads(line)
        ev["bucket"] = f"b{i % 5}"
        if mode == "structured":
            yield None, json.dumps(ev).encode()
        else:
            data = ev.pop("data")
            headers = [(f"ce_{k}", str(v).encode()) for k, v in ev.items()]
            yield headers, json.dumps(data).encode()


def produce(brokers, topic, records):
    p = bw.Producer({"bootstrap.servers": brokers, "enable.idempotence": True, "acks": "all",
                     "linger.ms": 20, "batch.num.messages": 10000,
                     "queue.buffering.max.messages": 1000000})
    for headers, value in records:
        while True:
            try:
                p.produce(topic, value=value, headers=headers)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    assert p.flush(120) == 0


def setup(ctx, filters):
    """A fresh database with the broker and one pipeline per filter (their own topics made)."""
    db = f"bench_{uuid.uuid4().hex[:8]}"
    db_url = bw.fresh_database(ctx.mysql_url, db)
    bw.mysql(ctx.mysql_url, "INSERT INTO brokers (id, name, description, partitions, replication_factor, "
                            f"created_by, created_at) VALUES ('{uuid.uuid4()}', '{ctx.broker}', '', "
                            f"{bw.PARTITIONS}, 1, 'bench', UTC_TIMESTAMP(6));", db)
    names = []
    for f in filters:
        name = f"bb-{uuid.uuid4().hex[:10]}"
        body = {"name": name, "index": name, "topics": {"partitions": bw.PARTITIONS, "replicationFactor": 1},
                "source": {"broker": ctx.broker, "filter": f}}
        definition = json.dumps(body).replace("\\", "\\\\").replace("'", "\\'")
        bw.mysql(ctx.mysql_url, "INSERT INTO pipelines (id, name, definition, state, version, created_by, "
                                f"created_at, updated_at) VALUES ('{uuid.uuid4()}', '{name}', '{definition}', "
                                "'running', 1, 'bench', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6));", db)
        bw.create_topics(ctx.brokers, [f"pipeline.{name}.{k}" for k in ("input", "output", "error")])
        names.append(name)
    return db_url, names


def run(ctx, label, filters):
    db_url, names = setup(ctx, filters)
    watchers = [bw.Committed(ctx.brokers, f"pipeline.{n}.worker", ctx.topic, ctx.ends) for n in names]
    sink = bw.Blackhole(ctx.args.sink)
    load = os.getloadavg()[0]
    t0 = time.time()
    worker = bw.start_worker(ctx, db_url, sink.url, f"bench-broker-{label}")
    try:
        while not all(w.caught_up() for w in watchers):
            if worker.poll() is not None or time.time() > t0 + bw.ROW_TIMEOUT_S:
                raise SystemExit(f"{label}: worker exited or timed out; see {ctx.logs}")
            time.sleep(0.2)
        wall = time.time() - t0
        cpu, hwm = bw.proc_stats(worker.pid)
    finally:
        for w in watchers:
            w.close()
        bw.stop(worker)
    docs = sink.stats()["docs"]
    sink.stop()
    return {"label": label, "cpu": cpu, "wall": wall, "docs": docs, "hwm": hwm, "load": load}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", required=True)
    ap.add_argument("--sink", required=True)
    ap.add_argument("--events", type=int, default=100000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mode", choices=["binary", "structured"], default="binary")
    args = ap.parse_args()

    class Ctx:
        pass
    ctx = Ctx()
    ctx.args = args
    ctx.mysql_url = os.environ["FLOW_TEST_MYSQL_URL"]
    ctx.brokers = os.environ["FLOW_TEST_KAFKA_BROKERS"]
    ctx.logs = bw.tempfile.mkdtemp(prefix="bench-broker-logs.")
    ctx.broker = f"bench-{uuid.uuid4().hex[:8]}"
    ctx.topic = f"pipeline.broker.{ctx.broker}"
    bw.create_topics(ctx.brokers, [ctx.topic])
    bw.log(f"producing {args.events} {args.mode}-mode events to {ctx.topic}")
    produce(ctx.brokers, ctx.topic, events(args.events, args.mode))
    ctx.ends = bw.end_offsets(ctx.brokers, ctx.topic)
    n = sum(ctx.ends.values())

    rows = []
    for r in range(args.rounds):
        for label, filters in (("one pipeline, no filter", EVERYTHING),
                               ("five pipelines, 20 % each", FIVE)):
            bw.log(f"round {r + 1}: {label}")
            row = run(ctx, label, filters)
            row["round"] = r + 1
            rows.append(row)

    print(f"\n{n} {args.mode}-mode events on one broker topic ({bw.PARTITIONS} partitions); "
          "release worker, blackhole sink, output topics on")
    print(f"{'round':>5}  {'configuration':<28} {'docs':>7} {'wall s':>7} {'CPU s':>7} "
          f"{'CPU us/broker event':>20} {'peak RSS MiB':>12} {'load 1m':>7}")
    for row in rows:
        print(f"{row['round']:>5}  {row['label']:<28} {row['docs']:>7} {row['wall']:>7.1f} "
              f"{row['cpu']:>7.2f} {row['cpu'] / n * 1e6:>20.1f} {row['hwm'] / 2**20:>12.0f} "
              f"{row['load']:>7.2f}")
    one = statistics.median(r["cpu"] for r in rows if r["label"].startswith("one"))
    five = statistics.median(r["cpu"] for r in rows if r["label"].startswith("five"))
    ratio = five / one
    verdict = "meets" if ratio <= FLOOR else "MISSES"
    print(f"median CPU per broker event: one pipeline {one / n * 1e6:.1f} us, five pipelines "
          f"{five / n * 1e6:.1f} us; five / one = {ratio:.2f} ({verdict} the floor of {FLOOR:.0f}x)")
    print(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; logs: {ctx.logs}")


if __name__ == "__main__":
    main()
