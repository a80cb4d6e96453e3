#!/usr/bin/env python3
"""Benchmark driver of scripts/bench-worker (issue 5, acceptance 8). Independent of the worker's
code: confluent-kafka for topics, producing and the broker-alone consumer, the mariadb client for
the database, /proc for the worker's CPU and memory.

    bench_worker.py --worker BIN --sink BIN --events N --osmem-events M
Environment: FLOW_TEST_MYSQL_URL, FLOW_TEST_KAFKA_BROKERS, FLOW_OSMEM_BIN (from the stack's env);
BENCH_BY_TID=1 splits the CPU-by-thread line per thread instead of per thread name.
"""
import argparse, hashlib, json, os, re, subprocess, sys, time, urllib.request, uuid
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PARTITIONS = 3


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def mysql(url, sql, database=None):
    m = re.match(r"mysql://([^:]+):([^@]*)@([^:/]+):(\d+)", url)
    user, password, host, port = m.groups()
    cmd = ["mariadb", "-u", user, f"-p{password}", "-h", host, "-P", port, "--batch", "--skip-column-names"]
    if database:
        cmd.append(database)
    return subprocess.run(cmd, input=sql, text=True, check=True, capture_output=True).stdout


def fresh_database(url, name):
    mysql(url, f"CREATE DATABASE `{name}`;")
    migrations = os.path.join(ROOT, "pipeline-mgmt", "migrations")
    for f in sorted(os.listdir(migrations)):
        with open(os.path.join(migrations, f)) as fh:
            mysql(url, fh.read(), name)
    return f"{url.rstrip('/')}/{name}"


STAGES = None


def insert_pipeline(url, database, name):
    body = {"name": name, "index": name, "topics": {"partitions": PARTITIONS, "replicationFactor": 1}}
    if STAGES is not None:
        body["stages"] = STAGES
    definition = json.dumps(body)
    pid = str(uuid.uuid4())
    mysql(url, "INSERT INTO pipelines (id, name, definition, state, version, created_by, created_at, updated_at) "
               f"VALUES ('{pid}', '{name}', '{definition}', 'running', 1, 'bench', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6));",
          database)


def create_topics(brokers, name):
    admin = AdminClient({"bootstrap.servers": brokers})
    topics = [NewTopic(f"pipeline.{name}.{k}", PARTITIONS, 1) for k in ("input", "output", "error")]
    for f in admin.create_topics(topics).values():
        f.result()


def produce(brokers, topic, lines):
    p = Producer({"bootstrap.servers": brokers, "enable.idempotence": True, "acks": "all",
                  "linger.ms": 20, "batch.num.messages": 10000, "queue.buffering.max.messages": 1000000})
    for line in lines:
        while True:
            try:
                p.produce(topic, value=line)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    assert p.flush(120) == 0


def broker_alone(brokers, topic, n, **config):
    """A plain librdkafka consumer draining the topic: the broker's consume ceiling."""
    c = Consumer({"bootstrap.servers": brokers, "group.id": f"bench-alone-{uuid.uuid4().hex[:8]}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False, **config})
    c.subscribe([topic])
    got, rate = drain(c, n)
    c.close()
    return got, rate


def drain(c, n, each=None, after_batch=None):
    """Consumes up to n records (5 minutes at most), calling each(record) for every one and
    after_batch() after every consume call; returns (records, records/s from first to last)."""
    got, first, last = 0, None, None
    deadline = time.time() + 300
    while got < n and time.time() < deadline:
        msgs = c.consume(10000, 1.0)
        for m in msgs:
            if m.error() is None:
                got += 1
                if each:
                    each(m)
        if after_batch:
            after_batch()
        if msgs:
            now = time.time()
            first = first or now
            last = now
    return got, (got / (last - first)) if first and last and last > first else 0.0


def broker_pipe(brokers, topic, n):
    """A plain librdkafka consumer that produces every record it reads to another topic, keyed by
    the record's sha256: the ceiling the broker leaves a pipeline that must also write its output
    topic (DESIGN §4 step 7), with no processing. The producer has the worker's settings but a
    10 MiB queue (the worker's: 16 MiB); the consumer has librdkafka's unbounded prefetch and
    large fetches, which cost the broker less per record than the worker's bounded ones."""
    out = topic.rsplit(".", 1)[0] + ".pipe"
    admin = AdminClient({"bootstrap.servers": brokers})
    for f in admin.create_topics([NewTopic(out, PARTITIONS, 1)]).values():
        f.result()
    c = Consumer({"bootstrap.servers": brokers, "group.id": f"bench-pipe-{uuid.uuid4().hex[:8]}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False, "fetch.wait.max.ms": 100})
    p = Producer({"bootstrap.servers": brokers, "enable.idempotence": True, "acks": "all",
                  "max.in.flight.requests.per.connection": 1, "linger.ms": 200, "batch.num.messages": 10000,
                  "batch.size": 1000000, "queue.buffering.max.kbytes": 10240})
    c.subscribe([topic])

    def forward(m):
        value = m.value()
        key = hashlib.sha256(value).hexdigest()
        while True:
            try:
                p.produce(out, key=key, value=value)
                return
            except BufferError:
                p.poll(0.05)

    got, rate = drain(c, n, each=forward, after_batch=lambda: p.poll(0))
    assert p.flush(120) == 0
    c.close()
    return got, rate


def stat_cpu(stat):
    """utime + stime, in seconds, from the text of a /proc/.../stat file."""
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_stats(pid):
    with open(f"/proc/{pid}/stat") as f:
        cpu = stat_cpu(f.read())
    hwm = rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    return cpu, rss, hwm


def broker_cpu(args):
    """CPU seconds the broker process has used so far, when its pid is known (else None)."""
    return proc_stats(args.broker_pid)[0] if args.broker_pid else None


def thread_cpu(pid):
    """CPU seconds by thread name (tokio workers, librdkafka broker threads, ...), to show where
    the worker's time goes."""
    by_name = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        if os.environ.get("BENCH_BY_TID"): name += f"#{tid}"
        by_name[name] = by_name.get(name, 0) + stat_cpu(stat)
    return by_name


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def start_worker(args, db_url, sink_url, worker_id):
    host, port = os.environ["FLOW_TEST_KAFKA_BROKERS"].rsplit(":", 1)
    env = dict(os.environ,
               FLOW__DATABASE__URL=db_url, FLOW__MQ__MQ_HOST=host, FLOW__MQ__MQ_PORT=port,
               FLOW__OPENSEARCH__URLS=sink_url, FLOW__WORKER__HTTP_PORT="0", FLOW__WORKER__ID=worker_id,
               FLOW__WORKER__RECONCILE_INTERVAL_MS="500", FLOW__LOG__LOG_LEVEL="warn")
    return subprocess.Popen([args.worker, "run"], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=open(f"/tmp/bench-{worker_id}.log", "w"))


def stop(proc):
    proc.terminate()
    try:
        return proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def run_blackhole(args, brokers, mysql_url, lines):
    name = f"bench-{uuid.uuid4().hex[:8]}"
    create_topics(brokers, name)
    topic = f"pipeline.{name}.input"
    t = time.time()
    produce(brokers, topic, lines)
    log(f"produced {len(lines)} events in {time.time() - t:.1f}s")
    alone_cpu = broker_cpu(args)
    got, default_rate = broker_alone(brokers, topic, len(lines))
    if alone_cpu is not None:
        alone_cpu = broker_cpu(args) - alone_cpu
    log(f"broker alone, librdkafka defaults: {got} events, {default_rate:.0f}/s")
    # The worker asks for fetch.wait.max.ms=100 (kafka.fetchWaitMaxMs), which tansu answers faster;
    # the same setting here keeps the comparison fair, and the higher rate is the one that counts.
    got, tuned_rate = broker_alone(brokers, topic, len(lines), **{"fetch.wait.max.ms": 100})
    log(f"broker alone, fetch.wait.max.ms=100: {got} events, {tuned_rate:.0f}/s")
    alone_rate = max(default_rate, tuned_rate)
    got, pipe_rate = broker_pipe(brokers, topic, len(lines))
    log(f"broker with an output topic (consume + produce, no processing): {got} events, {pipe_rate:.0f}/s")

    db = f"bench_{uuid.uuid4().hex[:8]}"
    db_url = fresh_database(mysql_url, db)
    insert_pipeline(mysql_url, db, name)
    sink = subprocess.Popen([args.sink, "0"], stdout=subprocess.PIPE, text=True)
    sink_url = "http://" + sink.stdout.readline().split()[-1]
    worker = start_worker(args, db_url, sink_url, "bench-blackhole")
    worker_broker_cpu = broker_cpu(args)
    t0 = time.time()
    deadline = t0 + 600
    stats = {}
    while time.time() < deadline:
        stats = get_json(sink_url + "/_stats")
        if stats["docs"] >= len(lines):
            break
        time.sleep(0.2)
    t_end = time.time()
    if worker_broker_cpu is not None:
        worker_broker_cpu = broker_cpu(args) - worker_broker_cpu
    cpu, rss, hwm = proc_stats(worker.pid)
    threads = thread_cpu(worker.pid)
    code = stop(worker)
    sink.terminate()
    sink.wait()
    window = (stats["lastMs"] - stats["firstMs"]) / 1000
    return {
        "events": len(lines), "docs": stats["docs"], "requests": stats["requests"],
        "bulk_window_s": window, "rate_bulk_window": stats["docs"] / window if window > 0 else 0,
        "rate_end_to_end": stats["docs"] / (t_end - t0),
        "cpu_s": cpu, "cpu_us_per_event": cpu / max(stats["docs"], 1) * 1e6,
        "rss": rss, "peak_rss": hwm, "broker_alone_rate": alone_rate, "exit": code,
        "broker_alone_default": default_rate, "broker_alone_tuned": tuned_rate, "broker_pipe": pipe_rate,
        "threads": threads, "broker_cpu_alone": alone_cpu, "broker_cpu_worker": worker_broker_cpu,
        "seconds": t_end - t0,
    }


def run_osmem(args, brokers, mysql_url, lines):
    osmem = subprocess.Popen([os.environ["FLOW_OSMEM_BIN"], "-addr", "127.0.0.1:0", "-no-stdin-watch", "-no-ja"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = json.loads(osmem.stdout.readline())["url"]
    name = f"bench-{uuid.uuid4().hex[:8]}"
    create_topics(brokers, name)
    produce(brokers, f"pipeline.{name}.input", lines)
    db = f"bench_{uuid.uuid4().hex[:8]}"
    db_url = fresh_database(mysql_url, db)
    insert_pipeline(mysql_url, db, name)
    worker = start_worker(args, db_url, url, "bench-osmem")
    t0 = time.time()
    count = 0
    while time.time() < t0 + 600:
        try:
            count = get_json(f"{url}/{name}/_count")["count"]
        except Exception:
            count = 0
        if count >= len(lines):
            break
        time.sleep(0.2)
    t_end = time.time()
    cpu, rss, hwm = proc_stats(worker.pid)
    code = stop(worker)
    osmem.terminate()
    osmem.wait()
    return {"events": len(lines), "indexed": count, "seconds": t_end - t0,
            # From the worker's start: with a fast sink every document can land between two polls,
            # which would leave no measurable window after the first one.
            "rate": count / max(t_end - t0, 1e-3), "cpu_us_per_event": cpu / max(count, 1) * 1e6,
            "peak_rss": hwm, "exit": code}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", required=True)
    ap.add_argument("--sink", required=True)
    ap.add_argument("--events", type=int, default=100000)
    ap.add_argument("--osmem-events", type=int, default=20000)
    ap.add_argument("--flush-mib", type=int, default=5)
    ap.add_argument("--stages", help="stages JSON instead of the default chain (to split costs)")
    ap.add_argument("--skip-osmem", action="store_true")
    ap.add_argument("--skip-blackhole", action="store_true")
    ap.add_argument("--broker-pid", type=int, help="the broker's pid, to report its CPU")
    args = ap.parse_args()
    global STAGES
    STAGES = json.loads(args.stages) if args.stages else None
    brokers = os.environ["FLOW_TEST_KAFKA_BROKERS"]
    mysql_url = os.environ["FLOW_TEST_MYSQL_URL"]
    gen = os.path.join(ROOT, "..", "shared", "baseline", "gen_events.py")
    out = subprocess.run([sys.executable, gen, str(args.events)], capture_output=True, check=True).stdout
    lines = [l for l in out.split(b"\n") if l]
    size = sum(map(len, lines)) / len(lines)
    log(f"generated {len(lines)} events, {size:.0f} bytes on average")

    if args.skip_blackhole:
        return print_osmem(args, brokers, mysql_url, lines)
    b = run_blackhole(args, brokers, mysql_url, lines)
    budget = 64 * 2**20 + 3 * args.flush_mib * 2**20
    print(f"blackhole: {b['docs']}/{b['events']} docs in {b['requests']} bulk requests; "
          f"bulk window {b['bulk_window_s']:.2f}s")
    print(f"  worker rate (bulk window): {b['rate_bulk_window']:.0f} events/s; end to end incl. start-up: "
          f"{b['rate_end_to_end']:.0f} events/s")
    print(f"  broker alone (confluent-kafka consumer): {b['broker_alone_default']:.0f} events/s with librdkafka's "
          f"defaults, {b['broker_alone_tuned']:.0f} events/s with fetch.wait.max.ms=100")
    print(f"  broker alone, the higher: {b['broker_alone_rate']:.0f} events/s; "
          f"worker/broker = {100 * b['rate_bulk_window'] / max(b['broker_alone_rate'], 1):.0f}% (target >= 90%)")
    print(f"  broker with an output topic (confluent-kafka consume + produce, no processing): "
          f"{b['broker_pipe']:.0f} events/s; worker/that = "
          f"{100 * b['rate_bulk_window'] / max(b['broker_pipe'], 1):.0f}%")
    print(f"  worker CPU: {b['cpu_s']:.2f}s = {b['cpu_us_per_event']:.1f} us/event (target <= 10)")
    print("  worker CPU by thread: " + ", ".join(
        f"{name} {seconds / max(b['docs'], 1) * 1e6:.1f} us" for name, seconds in
        sorted(b["threads"].items(), key=lambda kv: -kv[1]) if seconds > 0))
    if b["broker_cpu_worker"] is not None:
        n = max(b["docs"], 1)
        print(f"  broker CPU per event: {b['broker_cpu_alone'] / n * 1e6:.1f} us for the plain consumer (defaults), "
              f"{b['broker_cpu_worker'] / n * 1e6:.1f} us during the worker's run (input fetches, output and "
              f"commits), {100 * b['broker_cpu_worker'] / max(b['seconds'], 1e-3):.0f}% of a core over its "
              f"{b['seconds']:.1f} s")
    print(f"  peak RSS: {b['peak_rss'] / 2**20:.1f} MiB (target <= {budget / 2**20:.0f} MiB); "
          f"exit code after SIGTERM: {b['exit']}")

    if not args.skip_osmem:
        print_osmem(args, brokers, mysql_url, lines)


def print_osmem(args, brokers, mysql_url, lines):
    o = run_osmem(args, brokers, mysql_url, lines[: args.osmem_events])
    print(f"osmem: {o['indexed']}/{o['events']} indexed in {o['seconds']:.1f}s, {o['rate']:.0f} docs/s incl. start-up (sink-bound); "
          f"worker CPU {o['cpu_us_per_event']:.1f} us/event, peak RSS {o['peak_rss'] / 2**20:.1f} MiB; exit {o['exit']}")


if __name__ == "__main__":
    main()
