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

The CPU of a row is the whole worker process from its start: start-up (database, reconciling,
each task's consumer and producer joining) and the client threads' idle wake-ups are in it. So
that the figure per broker event can also be read without them, each configuration then runs
once more on an empty broker topic for its median wall time ("idle" rows): the same worker and
pipelines, nothing to consume. "Net" subtracts that from the median; the floor is judged on
the total, start-up included, as the issue words it ("worker CPU per broker event").

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


def setup(ctx, broker, filters):
    """A fresh database with the broker and one pipeline per filter (their own topics made)."""
    db = f"bench_{uuid.uuid4().hex[:8]}"
    db_url = bw.fresh_database(ctx.mysql_url, db)
    bw.mysql(ctx.mysql_url, "INSERT INTO brokers (id, name, description, partitions, replication_factor, "
                            f"created_by, created_at) VALUES ('{uuid.uuid4()}', '{broker}', '', "
                            f"{bw.PARTITIONS}, 1, 'bench', UTC_TIMESTAMP(6));", db)
    names = []
    for f in filters:
        name = f"bb-{uuid.uuid4().hex[:10]}"
        body = {"name": name, "index": name, "topics": {"partitions": bw.PARTITIONS, "replicationFactor": 1},
                "source": {"broker": broker, "filter": f}}
        definition = json.dumps(body).replace("\\", "\\\\").replace("'", "\\'")
        bw.mysql(ctx.mysql_url, "INSERT INTO pipelines (id, name, definition, state, version, created_by, "
                                f"created_at, updated_at) VALUES ('{uuid.uuid4()}', '{name}', '{definition}', "
                                "'running', 1, 'bench', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6));", db)
        bw.create_topics(ctx.brokers, [f"pipeline.{name}.{k}" for k in ("input", "output", "error")])
        names.append(name)
    return db_url, names


def run(ctx, label, filters, idle_for=None):
    """One row: until every pipeline has committed the broker topic, or with `idle_for`
    seconds on the empty idle broker instead."""
    broker, topic = (ctx.idle_broker, ctx.idle_topic) if idle_for else (ctx.broker, ctx.topic)
    db_url, names = setup(ctx, broker, filters)
    watchers = [bw.Committed(ctx.brokers, f"pipeline.{n}.worker", topic, ctx.ends) for n in names]
    sink = bw.Blackhole(ctx.args.sink)
    load = os.getloadavg()[0]
    t0 = time.time()
    worker = bw.start_worker(ctx, db_url, sink.url, f"bench-broker-{label}")
    try:
        if idle_for:
            time.sleep(idle_for)
            if worker.poll() is not None:
                raise SystemExit(f"{label}: worker exited; see {ctx.logs}")
        while not idle_for and not all(w.caught_up() for w in watchers):
            if worker.poll() is not None or time.time() > t0 + bw.ROW_TIMEOUT_S:
                raise SystemExit(f"{label}: worker exited or timed out; see {ctx.logs}")
            time.sleep(0.2)
        wall = time.time() - t0
        cpu, hwm = bw.proc_stats(worker.pid)
        threads = bw.thread_cpu(worker.pid)
    finally:
        for w in watchers:
            w.close()
        bw.stop(worker)
    docs = sink.stats()["docs"]
    sink.stop()
    # librdkafka names its threads rdk:main, rdk:broker<N> ...; the rest is the worker's own.
    rdk = sum(v for k, v in threads.items() if k.startswith("rdk:"))
    return {"label": label, "cpu": cpu, "rdk": rdk, "wall": wall, "docs": docs, "hwm": hwm,
            "load": load}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", required=True)
    ap.add_argument("--sink", required=True)
    ap.add_argument("--events", type=int, default=100000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mode", choices=["binary", "structured"], default="binary")
    ap.add_argument("--no-idle", action="store_true",
                    help="skip the idle rows (when the worker runs under a profiler)")
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
    ctx.idle_broker = f"bench-idle-{uuid.uuid4().hex[:8]}"
    ctx.idle_topic = f"pipeline.broker.{ctx.idle_broker}"
    bw.create_topics(ctx.brokers, [ctx.topic, ctx.idle_topic])
    bw.log(f"producing {args.events} {args.mode}-mode events to {ctx.topic}")
    produce(ctx.brokers, ctx.topic, events(args.events, args.mode))
    ctx.ends = bw.end_offsets(ctx.brokers, ctx.topic)
    n = sum(ctx.ends.values())

    configurations = (("one pipeline, no filter", EVERYTHING), ("five pipelines, 20 % each", FIVE))
    rows = []
    for r in range(args.rounds):
        for label, filters in configurations:
            bw.log(f"round {r + 1}: {label}")
            row = run(ctx, label, filters)
            row["round"] = r + 1
            rows.append(row)
    median = {label: {k: statistics.median(r[k] for r in rows if r["label"] == label)
                      for k in ("cpu", "rdk", "wall")} for label, _ in configurations}
    idle = {}
    for label, filters in configurations if not args.no_idle else ():
        bw.log(f"idle: {label}, {median[label]['wall']:.1f} s on an empty broker topic")
        idle[label] = run(ctx, label, filters, idle_for=median[label]["wall"])
        idle[label]["round"] = "idle"
        rows.append(idle[label])

    print(f"\n{n} {args.mode}-mode events on one broker topic ({bw.PARTITIONS} partitions); "
          "release worker, blackhole sink, output topics on")
    print(f"{'round':>5}  {'configuration':<28} {'docs':>7} {'wall s':>7} {'CPU s':>7} {'rdk s':>6} "
          f"{'CPU us/broker event':>20} {'peak RSS MiB':>12} {'load 1m':>7}")
    for row in rows:
        print(f"{row['round']:>5}  {row['label']:<28} {row['docs']:>7} {row['wall']:>7.1f} "
              f"{row['cpu']:>7.2f} {row['rdk']:>6.2f} {row['cpu'] / n * 1e6:>20.1f} "
              f"{row['hwm'] / 2**20:>12.0f} {row['load']:>7.2f}")
    (one_label, _), (five_label, _) = configurations
    one, five = median[one_label]["cpu"], median[five_label]["cpu"]
    ratio = five / one
    verdict = "meets" if ratio <= FLOOR else "MISSES"
    print(f"median CPU per broker event, start-up included: one pipeline {one / n * 1e6:.1f} us, "
          f"five pipelines {five / n * 1e6:.1f} us; five / one = {ratio:.2f} "
          f"({verdict} the floor of {FLOOR:.0f}x)")
    if idle:
        one_net, five_net = one - idle[one_label]["cpu"], five - idle[five_label]["cpu"]
        print(f"net of the idle rows (start-up and idle client threads for the same wall time): "
              f"one pipeline {one_net / n * 1e6:.1f} us, five pipelines {five_net / n * 1e6:.1f} "
              f"us; five / one = {five_net / one_net:.2f}")
    print(f"librdkafka threads, median: one pipeline {median[one_label]['rdk']:.2f} s, "
          f"five pipelines {median[five_label]['rdk']:.2f} s")
    print(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; logs: {ctx.logs}")


if __name__ == "__main__":
    main()
