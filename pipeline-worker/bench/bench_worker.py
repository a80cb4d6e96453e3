#!/usr/bin/env python3
"""Benchmark driver of scripts/bench-worker (issue 5 acceptance 8, issue 14 point 7 and acceptance 5,
issue 15 point 6). Independent of the worker's code: confluent-kafka for topics, producing and the
plain clients, the mariadb client for the database, urllib for OpenSearch, /proc for CPU and memory.

One run feeds the same N events of ../shared/baseline/gen_events.py, produced once to one input
topic, through every row of one table:

  broker alone               a confluent-kafka consumer draining the topic
  broker + output topic      the same consumer producing every record to another topic
  Rust pipe                  kafka-pipe: consume -> produce with rdkafka and the worker's settings
  worker -> blackhole        the release worker, default chain, output topic on
  worker, output off         the same with `output.enabled: false` (skipped if the definition is
                             rejected)
  rsyslog -> blackhole       --peers: Debian's rsyslog, imkafka -> mmjsonparse -> omelasticsearch
  worker -> OpenSearch       the worker against the stack's OpenSearch node
  bulk loader -> OpenSearch  a plain Python _bulk loader indexing the documents the worker wrote
                             to its output topic, in batches of the same size, into a fresh index

Every measured program is its own process: CPU is utime + stime of all its threads
(/proc/PID/stat), memory its VmHWM (/proc/PID/status). The broker's and OpenSearch's CPU over
each row come from their pids. Rates leave out start-up and the first batch: they count the
events after the first batch (first consume call, first bulk request) over the time from it to
the last event done.

    bench_worker.py --worker BIN --sink BIN --pipe BIN --events N [--peers] ...
Environment: FLOW_TEST_MYSQL_URL, FLOW_TEST_KAFKA_BROKERS, FLOW_TEST_OPENSEARCH_URL (the stack's
env); BENCH_BY_TID=1 splits the worker's CPU-by-thread line per thread instead of per name.
"""
import argparse, atexit, hashlib, http.client, json, os, re, shutil, subprocess, sys, tempfile, threading, time
import urllib.error, urllib.parse, urllib.request, uuid
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import bench_templates

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PARTITIONS = 3
ROW_TIMEOUT_S = 600
# The worker's own setting (kafka.fetchWaitMaxMs); librdkafka's 500 ms default would make the
# plain consumers look slower than they are.
FETCH_WAIT_MAX_MS = 100


# Every process the driver starts, so that none outlives it when a row fails.
CHILDREN = []


def spawn(*a, **kw):
    p = subprocess.Popen(*a, **kw)
    CHILDREN.append(p)
    return p


@atexit.register
def reap():
    for p in CHILDREN:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# /proc

def stat_cpu(stat):
    """utime + stime, in seconds, from the text of a /proc/.../stat file."""
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_cpu(pid):
    """CPU seconds of all threads of pid (None when there is no such pid)."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            return stat_cpu(f.read())
    except OSError:
        return None


def proc_stats(pid):
    """(CPU seconds, VmHWM bytes) of pid."""
    cpu = proc_cpu(pid) or 0.0
    hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
    return cpu, hwm


def thread_cpu(pid):
    """CPU seconds by thread name (tokio workers, librdkafka broker threads, ...)."""
    by_name = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        if os.environ.get("BENCH_BY_TID"):
            name += f"#{tid}"
        by_name[name] = by_name.get(name, 0) + stat_cpu(stat)
    return by_name


class Servers:
    """CPU of the broker and of OpenSearch over a row, when their pids are known."""

    def __init__(self, broker_pid, opensearch_pid):
        self.pids = {"broker": broker_pid, "opensearch": opensearch_pid}

    def snapshot(self):
        return {k: proc_cpu(p) for k, p in self.pids.items()}

    def since(self, snap):
        now = self.snapshot()
        return {k: (now[k] - snap[k]) if now[k] is not None and snap[k] is not None else None for k in now}

    def settle(self, limit_s=60, busy=0.1):
        """Waits (at most limit_s) until no server uses more than `busy` of a core, so that the
        refreshes and merges of one row do not land in the next."""
        deadline = time.time() + limit_s
        while time.time() < deadline:
            snap = self.snapshot()
            time.sleep(1)
            if all(v is None or v < busy for v in self.since(snap).values()):
                return


# ---------------------------------------------------------------------------------------------
# Kafka, MariaDB, HTTP helpers

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


def insert_pipeline(url, database, name, index, stages, output_enabled):
    body = {"name": name, "index": index, "topics": {"partitions": PARTITIONS, "replicationFactor": 1}}
    if stages is not None:
        body["stages"] = stages
    if not output_enabled:
        body["output"] = {"enabled": False}
    definition = json.dumps(body).replace("\\", "\\\\").replace("'", "\\'")
    pid = str(uuid.uuid4())
    mysql(url, "INSERT INTO pipelines (id, name, definition, state, version, created_by, created_at, updated_at) "
               f"VALUES ('{pid}', '{name}', '{definition}', 'running', 1, 'bench', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6));",
          database)


def failed_task(url, database):
    """The last_error of a failed task of this database's pipeline, or None."""
    out = mysql(url, "SELECT last_error FROM worker_tasks WHERE status = 'failed' LIMIT 1;", database)
    return out.strip() or None


def create_topics(brokers, names):
    admin = AdminClient({"bootstrap.servers": brokers, "log_level": 3})
    for f in admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in names]).values():
        f.result()
    # The controller has made them, but a broker's metadata may not show them yet: a worker
    # started now could find its input missing and wait a whole watch interval (5 minutes) to
    # retry, which would time the wait and a second start-up instead of the work.
    deadline = time.time() + 30
    while True:
        topics = admin.list_topics(timeout=10).topics
        if all(t in topics and len(topics[t].partitions) == PARTITIONS and
               all(p.leader >= 0 for p in topics[t].partitions.values()) for t in names):
            return
        if time.time() > deadline:
            raise SystemExit(f"topics {names} not in the broker's metadata after 30 s")
        time.sleep(0.1)


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


def end_offsets(brokers, topic):
    """{partition: high watermark} of topic."""
    c = Consumer({"bootstrap.servers": brokers, "group.id": "bench-watermarks", "log_level": 3})
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(PARTITIONS)}
    finally:
        c.close()


def delete_group(brokers, group):
    """Deletes a consumer group so that the next member starts from the beginning again; waits
    while the group still has members (a stopped worker leaves it on close)."""
    admin = AdminClient({"bootstrap.servers": brokers, "log_level": 3})
    deadline = time.time() + 120
    while True:
        try:
            admin.delete_consumer_groups([group], request_timeout=10)[group].result()
            return
        except KafkaException as e:
            err = e.args[0]
            if err.name() in ("GROUP_ID_NOT_FOUND", "_UNKNOWN_GROUP"):
                return
            if time.time() > deadline:
                raise
            time.sleep(1)


class Committed:
    """Watches a consumer group's committed offsets, without joining it."""

    def __init__(self, brokers, group, topic, ends):
        self.c = Consumer({"bootstrap.servers": brokers, "group.id": group, "enable.auto.commit": False,
                           "log_level": 3})
        self.tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        self.ends = ends

    def caught_up(self):
        try:
            got = self.c.committed(self.tps, timeout=5)
        except KafkaException:
            return False
        return all(tp.offset >= self.ends[tp.partition] for tp in got)

    def close(self):
        self.c.close()


def get_json(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def post(url, body=b""):
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def index_total(os_url, index):
    """Index operations OpenSearch has done on index's primaries (0 before the index exists);
    unlike _count it needs no refresh."""
    try:
        s = get_json(f"{os_url}/{index}/_stats/indexing?filter_path=_all.primaries.indexing.index_total", 5)
        return s["_all"]["primaries"]["indexing"]["index_total"]
    except (urllib.error.HTTPError, KeyError):
        return 0


class IndexWatch(threading.Thread):
    """Polls an index's index_total in the background: when indexing was first seen and when the
    count reached n. The worker's and the loader's runs are both watched, so that the polling
    costs OpenSearch the same in both."""

    def __init__(self, os_url, index, n, interval=0.2):
        super().__init__(daemon=True)
        self.os_url, self.index, self.n, self.interval = os_url, index, n, interval
        self.first_seen = self.last_seen = None
        self.done = threading.Event()
        self.start()

    def run(self):
        while not self.done.is_set():
            total = index_total(self.os_url, self.index)
            now = time.time()
            if total > 0 and self.first_seen is None:
                self.first_seen = (now, total)
            if total >= self.n and self.last_seen is None:
                self.last_seen = (now, total)
            self.done.wait(self.interval)

    def rate(self):
        if self.first_seen and self.last_seen and self.last_seen[0] > self.first_seen[0]:
            return (self.last_seen[1] - self.first_seen[1]) / (self.last_seen[0] - self.first_seen[0])
        return 0.0

    def stop(self):
        self.done.set()
        self.join()


def count_docs(os_url, index):
    post(f"{os_url}/{index}/_refresh")
    return get_json(f"{os_url}/{index}/_count")["count"]


class Blackhole:
    def __init__(self, binary):
        self.proc = spawn([binary, "0"], stdout=subprocess.PIPE, text=True)
        self.url = "http://" + self.proc.stdout.readline().split()[-1]

    def stats(self):
        return get_json(self.url + "/_stats")

    def rate(self):
        """Documents after the first bulk request over the time from its start to the end of the
        last one."""
        s = self.stats()
        window = (s["lastMs"] - s["firstMs"]) / 1000
        return (s["docs"] - s["firstDocs"]) / window if window > 0 else 0.0

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def bulk_note(requests, body_bytes):
    return f"{requests} bulk requests of {body_bytes / max(requests, 1) / 2**20:.1f} MiB on average"


def stop(proc, timeout=60):
    proc.terminate()
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


# ---------------------------------------------------------------------------------------------
# Child roles: the plain Python clients run in their own process, so that their CPU and memory
# are theirs alone. Protocol: print {"ready": true} once set up, wait for a line on stdin, do the
# work, print the result, and wait for stdin to close (the driver reads /proc in between).

def drain(c, n, each=None, after_batch=None):
    """Consumes up to n records (5 minutes at most), calling each(record) for every one and
    after_batch() after every consume call; returns (records, records in the first batch, time of
    the first batch, time of the last)."""
    got, first_batch, first, last = 0, 0, None, None
    deadline = time.time() + 300
    while got < n and time.time() < deadline:
        msgs = c.consume(1000, 1.0)
        for m in msgs:
            if m.error() is None:
                got += 1
                if each:
                    each(m)
        if after_batch:
            after_batch()
        if msgs:
            last = time.time()
            if first is None:
                first, first_batch = last, got
    return got, first_batch, first, last


def role_consume(args):
    c = Consumer({"bootstrap.servers": args.brokers, "group.id": f"bench-alone-{uuid.uuid4().hex[:8]}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "fetch.wait.max.ms": FETCH_WAIT_MAX_MS})
    yield
    c.subscribe([args.topic])
    got, first_batch, first, last = drain(c, args.n)
    c.close()
    yield {"records": got, "firstBatch": first_batch, "first": first, "last": last}


def role_pipe(args):
    """Produces every record it reads to another topic, keyed by the record's sha256 like the
    worker's `_id`. The producer has the worker's settings."""
    c = Consumer({"bootstrap.servers": args.brokers, "group.id": f"bench-pipe-{uuid.uuid4().hex[:8]}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "fetch.wait.max.ms": FETCH_WAIT_MAX_MS})
    p = Producer({"bootstrap.servers": args.brokers, "enable.idempotence": True, "acks": "all",
                  "max.in.flight.requests.per.connection": 1, "linger.ms": 200, "batch.num.messages": 10000,
                  "batch.size": 1000000, "queue.buffering.max.kbytes": 16384, "partitioner": "murmur2_random"})
    yield
    c.subscribe([args.topic])

    def forward(m):
        value = m.value()
        key = hashlib.sha256(value).hexdigest()
        while True:
            try:
                p.produce(args.out, key=key, value=value)
                return
            except BufferError:
                p.poll(0.05)

    got, first_batch, first, _ = drain(c, args.n, each=forward, after_batch=lambda: p.poll(0))
    left = p.flush(120)
    last = time.time()
    c.close()
    yield {"records": got - left, "firstBatch": first_batch, "first": first, "last": last}


def role_load(args):
    """A plain bulk loader: reads the documents back from the output topic (not measured), then
    indexes them one request at a time, like the worker's task, flushing at the same thresholds."""
    c = Consumer({"bootstrap.servers": args.brokers, "group.id": f"bench-load-{uuid.uuid4().hex[:8]}",
                  "enable.auto.commit": False, "enable.partition.eof": False})
    start = json.loads(args.start)
    c.assign([TopicPartition(args.topic, int(p), o) for p, o in start.items()])
    docs = []
    deadline = time.time() + 300
    while len(docs) < args.n and time.time() < deadline:
        for m in c.consume(10000, 1.0):
            if m.error() is None:
                docs.append((m.key(), m.value()))
    c.close()
    docs = docs[:args.n]
    u = urllib.parse.urlparse(args.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    max_bytes, max_items = args.flush_mib * 2**20, args.flush_items
    yield

    indexed = failed = requests = sent_bytes = 0
    first_batch, first, pending, size = 0, None, [], 0

    def send(batch):
        nonlocal indexed, failed, requests, sent_bytes
        for attempt in range(10):
            body = b"".join(b'{"index":{"_id":"' + k + b'"}}\n' + v + b"\n" for k, v in batch)
            conn.request("POST", f"/{args.index}/_bulk", body, {"Content-Type": "application/x-ndjson"})
            r = conn.getresponse()
            answer = json.loads(r.read())
            requests += 1
            sent_bytes += len(body)
            if r.status != 200:
                raise RuntimeError(f"bulk answered {r.status}: {answer}")
            retry = []
            for (k, v), item in zip(batch, answer["items"]):
                status = next(iter(item.values()))["status"]
                if status < 300:
                    indexed += 1
                elif status == 429 or status >= 500:
                    retry.append((k, v))
                else:
                    failed += 1
            if not retry:
                return
            batch = retry
            time.sleep(0.1 * 2 ** attempt)
        failed += len(batch)

    for k, v in docs:
        pending.append((k, v))
        size += len(k) + len(v) + 24
        if size >= max_bytes or len(pending) >= max_items:
            send(pending)
            pending, size = [], 0
            if first is None:
                first, first_batch = time.time(), indexed
    if pending:
        send(pending)
    last = time.time()
    if first is None:
        first, first_batch = last, 0
    yield {"records": indexed, "failed": failed, "requests": requests, "bytes": sent_bytes, "read": len(docs),
           "firstBatch": first_batch, "first": first, "last": last}


def child_main(args):
    steps = {"consume": role_consume, "pipe": role_pipe, "load": role_load}[args.role](args)
    next(steps)
    print(json.dumps({"ready": True}), flush=True)
    sys.stdin.readline()
    print(json.dumps(next(steps)), flush=True)
    sys.stdin.read()


# ---------------------------------------------------------------------------------------------
# Rows

def row(name, records, rate, wall, cpu=None, hwm=None, servers=None, note=""):
    servers = servers or {}
    return {"name": name, "records": records, "rate": rate, "wall": wall, "cpu": cpu, "hwm": hwm,
            "broker": servers.get("broker"), "opensearch": servers.get("opensearch"), "note": note}


def steady_rate(result):
    span = result["last"] - result["first"] if result.get("first") and result.get("last") else 0
    return (result["records"] - result["firstBatch"]) / span if span > 0 else 0.0


def run_python_child(ctx, name, role, extra, note=""):
    cmd = [sys.executable, os.path.abspath(__file__), "--role", role, "--brokers", ctx.brokers] + extra
    p = spawn(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if json.loads(p.stdout.readline()).get("ready") is not True:
        raise RuntimeError(f"{role}: no ready line")
    snap, cpu0, t0 = ctx.servers.snapshot(), proc_cpu(p.pid), time.time()
    p.stdin.write("go\n")
    p.stdin.flush()
    result = json.loads(p.stdout.readline())
    wall = time.time() - t0
    cpu, hwm = proc_stats(p.pid)
    used = ctx.servers.since(snap)
    p.stdin.close()
    p.wait(60)
    return row(name, result["records"], steady_rate(result), wall, cpu - cpu0, hwm, used, note), result


def run_rust_pipe(ctx):
    out = f"{ctx.topic_base}.rpipe"
    host, port = ctx.brokers.rsplit(":", 1)
    env = dict(os.environ, FLOW__MQ__MQ_HOST=host, FLOW__MQ__MQ_PORT=port, FLOW__LOG__LOG_LEVEL="warn")
    snap, t0 = ctx.servers.snapshot(), time.time()
    p = spawn([ctx.args.pipe, ctx.topic, out, str(ctx.n)], env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    wall = time.time() - t0
    if not line:
        p.wait()
        return row("Rust pipe (rdkafka consume -> produce)", 0, 0, wall, note=f"failed (exit {p.returncode})")
    result = json.loads(line)
    cpu, hwm = proc_stats(p.pid)
    used = ctx.servers.since(snap)
    p.stdin.close()
    p.wait(60)
    span = (result["lastMs"] - result["firstMs"]) / 1000
    rate = (result["records"] - 1) / span if span > 0 else 0.0
    return row("Rust pipe (rdkafka consume -> produce)", result["records"], rate, wall, cpu, hwm, used,
               "worker's client settings, no commits")


def start_worker(ctx, db_url, sink_url, worker_id):
    host, port = ctx.brokers.rsplit(":", 1)
    env = dict(os.environ,
               FLOW__DATABASE__URL=db_url, FLOW__MQ__MQ_HOST=host, FLOW__MQ__MQ_PORT=port,
               FLOW__OPENSEARCH__URLS=sink_url, FLOW__WORKER__HTTP_PORT="0", FLOW__WORKER__ID=worker_id,
               FLOW__WORKER__RECONCILE_INTERVAL_MS="500", FLOW__LOG__LOG_LEVEL="warn")
    return spawn([ctx.args.worker, "run"], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=open(f"{ctx.logs}/{worker_id}.log", "w"))


def run_worker(ctx, name, sink, output_enabled=True, index=None):
    """One worker run over the whole input topic: a fresh database with the one pipeline, the
    pipeline's consumer group deleted first so that it starts from the beginning. Done once the
    worker has committed every input offset (so its output records are acknowledged too)."""
    group = f"pipeline.{ctx.name}.worker"
    delete_group(ctx.brokers, group)
    db = f"bench_{uuid.uuid4().hex[:8]}"
    db_url = fresh_database(ctx.mysql_url, db)
    index = index or ctx.name
    insert_pipeline(ctx.mysql_url, db, ctx.name, index, ctx.stages, output_enabled)
    out_before = sum(end_offsets(ctx.brokers, ctx.output_topic).values())
    blackhole = Blackhole(ctx.args.sink) if sink == "blackhole" else None
    sink_url = blackhole.url if blackhole else ctx.os_url
    committed = Committed(ctx.brokers, group, ctx.topic, ctx.ends)
    worker_id = f"bench-{re.sub('[^a-z0-9]+', '-', name.lower()).strip('-')}"
    snap, t0 = ctx.servers.snapshot(), time.time()
    worker = start_worker(ctx, db_url, sink_url, worker_id)
    watch = None if blackhole else IndexWatch(ctx.os_url, index, ctx.n)
    rejected = exited = None
    failure = None
    next_db_check = t0 + 1
    try:
        while time.time() < t0 + ROW_TIMEOUT_S:
            if worker.poll() is not None:
                exited = worker.returncode
                break
            if committed.caught_up():
                break
            if time.time() >= next_db_check:
                rejected = failed_task(ctx.mysql_url, db)
                if rejected:
                    break
                next_db_check = time.time() + 1
            time.sleep(0.2)
        wall = time.time() - t0
        if exited is not None:
            failure = f"worker exited with {exited}; see {ctx.logs}/{worker_id}.log"
        elif rejected:
            failure = f"skipped: the worker rejected the definition ({rejected})"
        elif not committed.caught_up():
            failure = f"timed out after {ROW_TIMEOUT_S} s; see {ctx.logs}/{worker_id}.log"
        else:
            cpu, hwm = proc_stats(worker.pid)
            threads = thread_cpu(worker.pid)
            used = ctx.servers.since(snap)
    finally:
        committed.close()
        code = stop(worker)
        if watch:
            watch.stop()
        if blackhole and failure is not None:
            blackhole.stop()
    if failure:
        return row(name, 0, 0, wall, note=failure), None
    out_after = sum(end_offsets(ctx.brokers, ctx.output_topic).values())
    produced = out_after - out_before
    notes = [f"{produced} output records"]
    if code != 0:
        notes.append(f"exit {code} after SIGTERM")
    extra = {"threads": threads, "produced": produced}
    if blackhole:
        s = blackhole.stats()
        rate = blackhole.rate()
        blackhole.stop()
        records = s["docs"]
        notes.insert(0, bulk_note(s["requests"], s["bytes"]))
    else:
        records = count_docs(ctx.os_url, index)
        rate = watch.rate()
    return row(name, records, rate, wall, cpu, hwm, used, "; ".join(notes)), extra


RSYSLOG_CONF = """\
global(workDirectory="{work}" maxMessageSize="64k")
module(load="imkafka")
module(load="mmjsonparse")
module(load="omelasticsearch")
template(name="document" type="list") {{ property(name="$!all-json") }}
# rsyslog's own messages go to a file, never to the sink.
if $inputname == "rsyslogd" then {{ action(type="omfile" file="{work}/rsyslogd.log") stop }}
ruleset(name="bench" queue.type="LinkedList" queue.size="200000" queue.dequeueBatchSize="{items}"
        queue.workerThreads="1") {{
  action(type="mmjsonparse" cookie="")
  action(type="omelasticsearch" server="{host}" serverport="{port}" searchIndex="{index}"
         template="document" bulkmode="on" maxbytes="{mib}m")
}}
input(type="imkafka" topic="{topic}" broker=["{brokers}"] consumergroup="{group}"
      confParam=["auto.offset.reset=earliest", "fetch.wait.max.ms={fetch_wait}"] ruleset="bench")
"""


def run_rsyslog(ctx):
    """Debian's rsyslog as a private foreground process (its own config, pid file and work
    directory) on the same input topic, into a fresh blackhole sink; done when the sink has
    received every event."""
    name = "rsyslog -> blackhole"
    rsyslogd = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
    work = tempfile.mkdtemp(prefix="rsyslog-", dir=ctx.logs)
    blackhole = Blackhole(ctx.args.sink)
    u = urllib.parse.urlparse(blackhole.url)
    conf = os.path.join(work, "rsyslog.conf")
    with open(conf, "w") as f:
        f.write(RSYSLOG_CONF.format(work=work, host=u.hostname, port=u.port, index=ctx.name, topic=ctx.topic,
                                    brokers=ctx.brokers, group=f"bench-rsyslog-{uuid.uuid4().hex[:8]}",
                                    items=ctx.args.flush_items, mib=ctx.args.flush_mib,
                                    fetch_wait=FETCH_WAIT_MAX_MS))
    snap, t0 = ctx.servers.snapshot(), time.time()
    proc = spawn([rsyslogd, "-n", "-f", conf, "-i", os.path.join(work, "rsyslogd.pid")],
                            stdin=subprocess.DEVNULL, stdout=open(os.path.join(work, "stdout.log"), "w"),
                            stderr=subprocess.STDOUT)
    docs = 0
    try:
        while time.time() < t0 + ROW_TIMEOUT_S and proc.poll() is None:
            docs = blackhole.stats()["docs"]
            if docs >= ctx.n:
                break
            time.sleep(0.2)
        wall = time.time() - t0
        if proc.poll() is not None:
            return row(name, docs, 0, wall, note=f"rsyslogd exited with {proc.returncode}; see {work}")
        cpu, hwm = proc_stats(proc.pid)
        used = ctx.servers.since(snap)
    finally:
        if proc.poll() is None:
            stop(proc)
    s = blackhole.stats()
    rate = blackhole.rate()
    blackhole.stop()
    note = f"{bulk_note(s['requests'], s['bytes'])}; imkafka -> mmjsonparse -> omelasticsearch"
    if s["docs"] < ctx.n:
        note += f"; timed out, see {work}"
    return row(name, s["docs"], rate, wall, cpu, hwm, used, note)


# ---------------------------------------------------------------------------------------------
# Report

def fmt(v, spec, none="-"):
    return none if v is None else format(v, spec)


def print_table(rows, n):
    header = ["", "events", "events/s", "wall s", "CPU us/ev", "peak RSS MiB", "broker us/ev", "OpenSearch us/ev"]
    lines = []
    for r in rows:
        done = r["records"] > 0
        per = lambda s: None if s is None or not done else s / r["records"] * 1e6
        lines.append([r["name"], str(r["records"]), fmt(r["rate"] if done else None, ".0f"), fmt(r["wall"], ".1f"),
                      fmt(per(r["cpu"]), ".1f"), fmt(None if r["hwm"] is None else r["hwm"] / 2**20, ".1f"),
                      fmt(per(r["broker"]), ".1f"),
                      fmt(per(r["opensearch"]) if r.get("show_os") else None, ".1f")])
    widths = [max(len(x[i]) for x in lines + [header]) for i in range(len(header))]
    print(f"{n} events of gen_events.py; CPU = utime+stime of all threads of the row's process, per event")
    print("  ".join(h.ljust(widths[0]) if i == 0 else h.rjust(widths[i]) for i, h in enumerate(header)))
    for x in lines:
        print("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(x)))
    print("notes:")
    for r in rows:
        if r["note"]:
            print(f"  {r['name']}: {r['note']}")


def ratio(a, b):
    return a / b if a and b else None


def print_ratios(by, args):
    def rate(k): return by[k]["rate"] if k in by and by[k]["records"] else None
    def cpu(k): return by[k]["cpu"] / by[k]["records"] * 1e6 if k in by and by[k]["records"] and by[k]["cpu"] else None
    w = "worker -> blackhole"
    print("ratios:")
    for other in ("broker alone", "broker + output topic", "Rust pipe"):
        r = ratio(rate(w), rate(other))
        if r:
            print(f"  rate, worker (output on) / {other}: {100 * r:.0f}%")
    if cpu(w) and cpu("Rust pipe"):
        print(f"  CPU, worker (output on) - Rust pipe: {cpu(w) - cpu('Rust pipe'):.1f} us/event "
              f"(decode, stages, bulk encoding and HTTP, commits)")
    if "rsyslog" in by and by["rsyslog"]["records"]:
        for k, label in ((w, "output on"), ("worker, output off", "output off")):
            rr, cr = ratio(rate(k), rate("rsyslog")), ratio(cpu(k), cpu("rsyslog"))
            if rr and cr:
                print(f"  worker ({label}) / rsyslog: rate x{rr:.2f}, CPU per event x{cr:.2f}"
                      + (" (rsyslog writes no output topic)" if label == "output on" else ""))
    o, l = "worker -> OpenSearch", "bulk loader"
    if rate(o) and rate(l):
        print(f"  rate, worker -> OpenSearch / bulk loader: {100 * rate(o) / rate(l):.0f}%")
    if o in by and l in by and by[o]["opensearch"] and by[l]["opensearch"] and by[o]["records"] and by[l]["records"]:
        print(f"  OpenSearch CPU per event, worker's run / loader's: "
              f"{(by[o]['opensearch'] / by[o]['records']) / (by[l]['opensearch'] / by[l]['records']):.2f}")
    if w in by and by[w]["hwm"]:
        budget = 64 + 3 * args.flush_mib
        print(f"  worker peak RSS {by[w]['hwm'] / 2**20:.1f} MiB (target <= {budget} MiB)")


# The floors of the worker's performance issue, each beside its figure: (label, figure, floor,
# holds). A figure this run did not measure prints "-" and "not measured".
def print_floors(by):
    def per_event(k, field="cpu"):
        r = by.get(k)
        return r[field] / r["records"] * 1e6 if r and r["records"] and r.get(field) else None
    def rate(k):
        r = by.get(k)
        return r["rate"] if r and r["records"] else None
    w, off, rs = "worker -> blackhole", "worker, output off", "rsyslog"
    hwm = by[w]["hwm"] / 2**20 if w in by and by[w]["hwm"] else None
    floors = [
        ("worker CPU per event, output on (us)", per_event(w), 6.0, lambda v: v <= 6.0, "<="),
        ("worker CPU per event, output off (us)", per_event(off), 4.5, lambda v: v <= 4.5, "<="),
        ("CPU per event vs rsyslog, output on", ratio(per_event(w), per_event(rs)), 0.40, lambda v: v <= 0.40, "<="),
        ("rate vs rsyslog, output on", ratio(rate(w), rate(rs)), 2.0, lambda v: v >= 2.0, ">="),
        ("worker peak RSS (MiB)", hwm, 79, lambda v: v <= 79, "<="),
    ]
    print("floors:")
    for label, value, floor, holds, sign in floors:
        verdict = "not measured" if value is None else "holds" if holds(value) else "below floor"
        print(f"  {label}: {fmt(value, '.2f')} (floor {sign} {floor}): {verdict}")


# ---------------------------------------------------------------------------------------------

class Context:
    pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--role", choices=["consume", "pipe", "load"], help=argparse.SUPPRESS)
    ap.add_argument("--brokers", help=argparse.SUPPRESS)
    ap.add_argument("--topic", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--start", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--index", help=argparse.SUPPRESS)
    ap.add_argument("--worker")
    ap.add_argument("--sink")
    ap.add_argument("--pipe")
    ap.add_argument("--events", type=int, default=100000)
    ap.add_argument("--flush-mib", type=int, default=5, help="the worker's server.flushMiB (for the loader)")
    ap.add_argument("--flush-items", type=int, default=10000, help="the worker's server.flushItems")
    ap.add_argument("--stages", help="stages JSON instead of the default chain (to split costs)")
    ap.add_argument("--peers", action="store_true", help="also run rsyslog on the same topic")
    ap.add_argument("--skip-opensearch", action="store_true")
    ap.add_argument("--broker-pid", type=int, help="the broker's pid, to report its CPU")
    ap.add_argument("--opensearch-pid", type=int, help="OpenSearch's pid, to report its CPU")
    ap.add_argument("--logs", help="directory for the worker's and rsyslog's logs")
    ap.add_argument("--template-rounds", type=int, default=5,
                    help="interleaved rounds of dynamic mapping against the derived index template (0: none)")
    ap.add_argument("--template-concurrency", default="",
                    help="comma-separated worker.bulkConcurrency values: the worker-into-template run is "
                         "made once per value in every round (default: the worker's own setting only)")
    ap.add_argument("--only-templates", action="store_true",
                    help="only the worker -> blackhole run (for the documents) and the template rounds")
    args = ap.parse_args()
    if args.role:
        return child_main(args)
    for need in ("worker", "sink", "pipe"):
        if not getattr(args, need):
            ap.error(f"--{need} is required")

    ctx = Context()
    ctx.args = args
    ctx.brokers = os.environ["FLOW_TEST_KAFKA_BROKERS"]
    ctx.mysql_url = os.environ["FLOW_TEST_MYSQL_URL"]
    ctx.os_url = os.environ.get("FLOW_TEST_OPENSEARCH_URL", "").rstrip("/")
    ctx.servers = Servers(args.broker_pid, args.opensearch_pid)
    ctx.stages = json.loads(args.stages) if args.stages else None
    ctx.logs = args.logs or tempfile.mkdtemp(prefix="bench-worker-")
    os.makedirs(ctx.logs, exist_ok=True)

    gen = os.path.join(ROOT, "..", "shared", "baseline", "gen_events.py")
    out = subprocess.run([sys.executable, gen, str(args.events)], capture_output=True, check=True).stdout
    lines = [l for l in out.split(b"\n") if l]
    ctx.n = len(lines)
    log(f"generated {ctx.n} events, {sum(map(len, lines)) / ctx.n:.0f} bytes on average")

    ctx.name = f"bench-{uuid.uuid4().hex[:8]}"
    ctx.topic_base = f"pipeline.{ctx.name}"
    ctx.topic = f"{ctx.topic_base}.input"
    ctx.output_topic = f"{ctx.topic_base}.output"
    create_topics(ctx.brokers, [f"{ctx.topic_base}.{k}" for k in ("input", "output", "error", "pipe", "rpipe")])
    t = time.time()
    produce(ctx.brokers, ctx.topic, lines)
    del lines
    ctx.ends = end_offsets(ctx.brokers, ctx.topic)
    log(f"produced {ctx.n} events to {ctx.topic} in {time.time() - t:.1f}s")

    idle = ctx.servers.snapshot()
    time.sleep(3)
    idle = {k: v / 3 for k, v in ctx.servers.since(idle).items() if v is not None}

    rows, by = [], {}
    template_rounds = None

    def add(key, r):
        rows.append(r)
        by[key] = r
        log(f"{r['name']}: {r['records']} events, {r['rate']:.0f}/s, {r['wall']:.1f}s"
            + (f" ({r['note']})" if r["note"] else ""))

    if not args.only_templates:
        add("broker alone", run_python_child(ctx, "broker alone (confluent-kafka consumer)", "consume",
                                             ["--topic", ctx.topic, "--n", str(ctx.n)])[0])
        add("broker + output topic", run_python_child(
            ctx, "broker + output topic (confluent-kafka)", "pipe",
            ["--topic", ctx.topic, "--out", f"{ctx.topic_base}.pipe", "--n", str(ctx.n)],
            "sha256 key, no commits")[0])
        add("Rust pipe", run_rust_pipe(ctx))
    blackhole_output = end_offsets(ctx.brokers, ctx.output_topic)
    r, worker_extra = run_worker(ctx, "worker -> blackhole", "blackhole")
    add("worker -> blackhole", r)
    if not args.only_templates:
        r, _ = run_worker(ctx, "worker, output off -> blackhole", "blackhole", output_enabled=False)
        add("worker, output off", r)
    if args.peers:
        add("rsyslog", run_rsyslog(ctx))
    if not args.skip_opensearch and ctx.os_url:
        def load(key, label, start, index, note):
            watch = IndexWatch(ctx.os_url, index, ctx.n)
            lr, res = run_python_child(
                ctx, label, "load",
                ["--topic", ctx.output_topic, "--n", str(ctx.n), "--start", json.dumps(start),
                 "--url", ctx.os_url, "--index", index,
                 "--flush-mib", str(args.flush_mib), "--flush-items", str(args.flush_items)], note)
            watch.stop()
            lr["show_os"] = True
            lr["note"] += f"; {bulk_note(res['requests'], res['bytes'])}, {res['failed']} failed items"
            if res["read"] < ctx.n:
                lr["note"] += f"; read only {res['read']} documents back"
            add(key, lr)

        # A node that has just started compiles its indexing path while it indexes: the first load
        # (the documents of the blackhole run) warms it up for both measured rows.
        if by["worker -> blackhole"]["records"]:
            load("warm-up", "bulk loader -> OpenSearch, warm-up", blackhole_output, f"{ctx.name}-warmup",
                 "the blackhole run's documents; warms the node up")
            ctx.servers.settle()
        if args.template_rounds > 0 and by["worker -> blackhole"]["records"]:
            template_rounds = bench_templates.run_rounds(ctx, {
                "run_python_child": run_python_child, "run_worker": run_worker, "get_json": get_json,
                "post": post, "log": log}, blackhole_output)
        before = end_offsets(ctx.brokers, ctx.output_topic)
    if not args.skip_opensearch and ctx.os_url and not args.only_templates:
        r, _ = run_worker(ctx, "worker -> OpenSearch", "opensearch", index=f"{ctx.name}-worker")
        r["show_os"] = True
        add("worker -> OpenSearch", r)
        if r["records"]:
            ctx.servers.settle()
            load("bulk loader", "bulk loader -> OpenSearch (Python)", before, f"{ctx.name}-loader",
                 "the worker's documents from its output topic; peak RSS holds them all")

    print()
    print_table(rows, ctx.n)
    print_ratios(by, args)
    if template_rounds:
        bench_templates.print_rounds(template_rounds)
    print_floors(by)
    if idle:
        print("idle CPU before the rows (included in the server columns): " +
              ", ".join(f"{k} {100 * v:.0f}% of a core" for k, v in idle.items()))
    if worker_extra and by["worker -> blackhole"]["records"]:
        n = by["worker -> blackhole"]["records"]
        print("worker (output on, blackhole) CPU by thread: " + ", ".join(
            f"{name} {seconds / n * 1e6:.1f} us" for name, seconds in
            sorted(worker_extra["threads"].items(), key=lambda kv: -kv[1]) if seconds > 0))
    print(f"logs: {ctx.logs}")


if __name__ == "__main__":
    main()
