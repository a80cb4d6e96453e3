#!/usr/bin/env python3
"""The sampling and accounting half of scripts/soak (which starts the dev stack first).

Every 5 s it records, per worker, VmRSS from /proc, the demo pipeline's consumer lag (from
pipeline-mgmt's status API) and the index's document count; every --restart-min minutes it
SIGKILLs a Kafka broker and starts it again through scripts/stack (on a cluster, a different
broker each time, in turn). At the end it stops the load generator, waits until the workers have
caught up, and checks the count: every record of the input topic must be indexed (distinct
`_id`s), dead-lettered (distinct source offsets in the error topic) or filtered; and the workers'
resident memory must stay flat: the second half's peak within 10 % of the first half's.
"""
import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

from confluent_kafka import Consumer, TopicPartition

TOKEN = "flow-dev-admin-token"


def log(*args):
    print("soak:", *args, file=sys.stderr, flush=True)


def read_env(dev_dir):
    env = {}
    with open(os.path.join(dev_dir, "env")) as f:
        for line in f:
            if line.startswith("export "):
                key, _, value = line[len("export "):].strip().partition("=")
                env[key] = value.strip("'")
    ports = {}
    with open(os.path.join(dev_dir, "ports")) as f:
        for line in f:
            key, _, value = line.strip().partition("=")
            ports[key] = value
    return env, ports


def pid_of(dev_dir, name):
    for path in (os.path.join(dev_dir, "run", f"{name}.pid"), os.path.join(dev_dir, f"{name}.pid")):
        try:
            with open(path) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            continue
    return None


def rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def get_json(url, token=None, timeout=10):
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


def demo_id(mgmt):
    for p in get_json(f"{mgmt}/api/v1/pipelines?limit=1000", TOKEN).get("items", []):
        if p.get("name") == "demo":
            return p["id"]
    raise SystemExit("soak: no demo pipeline")


def status(mgmt, pipeline):
    try:
        return get_json(f"{mgmt}/api/v1/pipelines/{pipeline}/status", TOKEN)
    except Exception:  # mgmt briefly unready while the broker restarts
        return None


def doc_count(opensearch):
    try:
        return get_json(f"{opensearch}/demo/_count", timeout=10).get("count", 0)
    except Exception:
        return None


def end_offsets(brokers, topic):
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": "flow-soak-count",
                         "enable.auto.commit": False})
    try:
        metadata = consumer.list_topics(topic, timeout=30).topics[topic]
        ends = {}
        for p in metadata.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
            ends[p] = (low, high)
        return ends
    finally:
        consumer.close()


def read_all(brokers, topic, each):
    """Calls each(message) for every record of topic, from the start to the end offsets."""
    ends = end_offsets(brokers, topic)
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": "flow-soak-count",
                         "enable.auto.commit": False})
    remaining = {p: hi for p, (lo, hi) in ends.items() if hi > lo}
    consumer.assign([TopicPartition(topic, p, ends[p][0]) for p in remaining])
    deadline = time.time() + 300
    while remaining and time.time() < deadline:
        for m in consumer.consume(2000, 1.0):
            if m.error():
                continue
            each(m)
            if m.offset() + 1 >= remaining.get(m.partition(), 0):
                remaining.pop(m.partition(), None)
    consumer.close()


def content_key(value):
    """What the hash stage identifies an event by: its data, in canonical JSON."""
    try:
        event = json.loads(value)
    except (ValueError, TypeError):
        return None
    if isinstance(event, dict) and "specversion" in event:
        event = event.get("data")
    if not isinstance(event, dict):
        return None
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def expected_documents(brokers, topic, dead_offsets):
    """Distinct contents among the input records that were not dead-lettered: the documents
    the index must hold (identical events share one `_id` by design)."""
    keys = set()

    def each(m):
        if (str(m.partition()), str(m.offset())) not in dead_offsets:
            keys.add(content_key(m.value()))

    read_all(brokers, topic, each)
    return len(keys)


def dead_letter_offsets(brokers, topic):
    """The (source.partition, source.offset) of every record of the error topic."""
    seen = set()

    def each(m):
        headers = dict(m.headers() or [])
        seen.add(tuple((headers.get(k) or b"").decode() for k in
                       ("source.partition", "source.offset")))

    read_all(brokers, topic, each)
    return seen


def distinct_dead_letters(brokers, topic):
    """Distinct (source.partition, source.offset) of the error topic's records."""
    ends = end_offsets(brokers, topic)
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": "flow-soak-count",
                         "enable.auto.commit": False})
    seen, remaining = set(), {p: hi for p, (lo, hi) in ends.items() if hi > lo}
    consumer.assign([TopicPartition(topic, p, ends[p][0]) for p in remaining])
    deadline = time.time() + 120
    while remaining and time.time() < deadline:
        for m in consumer.consume(1000, 1.0):
            if m.error():
                continue
            headers = dict(m.headers() or [])
            seen.add((headers.get("source.partition"), headers.get("source.offset")))
            if m.offset() + 1 >= remaining.get(m.partition(), 0):
                remaining.pop(m.partition(), None)
    consumer.close()
    return len(seen)


def restart_broker(root, dev_dir, node):
    """SIGKILLs broker `node` (kafka, kafka-2, …), waits 10 s, starts it again."""
    pid = pid_of(dev_dir, node)
    if pid:
        log(f"SIGKILL {node} (pid {pid})")
        os.kill(pid, signal.SIGKILL)
        for _ in range(100):
            try:
                os.kill(pid, 0)
                time.sleep(0.1)
            except OSError:
                break
    time.sleep(10)
    env = dict(os.environ, FLOW_STACK_DIR=dev_dir)
    subprocess.run([os.path.join(root, "scripts", "stack"), "start", node], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    log(f"{node} restarted")


def plot(samples, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s["t"] / 60 for s in samples]
    fig, axes = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    for key, label in (("rss_worker_1", "worker-1"), ("rss_worker_2", "worker-2")):
        axes[0].plot(t, [s[key] for s in samples], label=label)
    axes[0].set_ylabel("RSS (MiB)")
    axes[0].legend()
    axes[1].plot(t, [s["lag"] for s in samples], color="tab:orange")
    axes[1].set_ylabel("consumer lag (records)")
    axes[2].plot(t, [s["indexed_per_s"] for s in samples], color="tab:green")
    axes[2].set_ylabel("indexed / s")
    axes[2].set_xlabel("minutes")
    for restart in [s["t"] / 60 for s in samples if s.get("restart")]:
        for ax in axes:
            ax.axvline(restart, color="grey", linestyle=":", linewidth=1)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dev-dir", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--restart-min", type=float, default=5)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    env, ports = read_env(args.dev_dir)
    # Every broker: the counting clients must start while any one of them is down.
    brokers = env.get("FLOW_TEST_KAFKA_BOOTSTRAP") or env["FLOW_TEST_KAFKA_BROKERS"]
    broker_count = int(env.get("FLOW_STACK_KAFKA_BROKERS") or 1)
    nodes = ["kafka"] + [f"kafka-{i}" for i in range(2, broker_count + 1)]
    opensearch = env["FLOW_TEST_OPENSEARCH_URL"]
    mgmt = f"http://127.0.0.1:{ports['mgmt']}"
    pipeline = demo_id(mgmt)

    samples, started = [], time.time()
    next_restart = started + args.restart_min * 60
    last_count, last_t = doc_count(opensearch) or 0, started
    while time.time() - started < args.minutes * 60:
        time.sleep(5)
        restarted, node = False, None
        if time.time() >= next_restart and time.time() - started < args.minutes * 60 - 60:
            restarts_so_far = sum(1 for s in samples if s["restart"])
            node = nodes[restarts_so_far % len(nodes)]
            restart_broker(args.root, args.dev_dir, node)
            next_restart = time.time() + args.restart_min * 60
            restarted = True
        now = time.time()
        count = doc_count(opensearch)
        st = status(mgmt, pipeline)
        lag = sum(w.get("lag") or 0 for w in st.get("workers", [])) if st else None
        sample = {
            "t": round(now - started, 1),
            "rss_worker_1": rss_mib(pid_of(args.dev_dir, "worker-1")),
            "rss_worker_2": rss_mib(pid_of(args.dev_dir, "worker-2")),
            "lag": lag,
            "indexed": count,
            "indexed_per_s": ((count - last_count) / (now - last_t)) if count is not None else None,
            "observed": st.get("observed") if st else None,
            "restart": restarted,
            "node": node,
        }
        if count is not None:
            last_count, last_t = count, now
        samples.append(sample)

    log("stopping the load generator, then waiting for the workers to catch up")
    # The dev stack's watcher would restart the load generator: stop it first.
    watcher = pid_of(args.dev_dir, "watch")
    if watcher:
        os.kill(watcher, signal.SIGTERM)
    loadgen = pid_of(args.dev_dir, "loadgen")
    if loadgen:
        os.kill(loadgen, signal.SIGTERM)
        # It sends what it has queued before it exits: count the input only after that.
        for _ in range(600):
            try:
                os.kill(loadgen, 0)
                time.sleep(0.1)
            except OSError:
                break
    deadline, stable, indexed, dead = time.time() + 300, 0, 0, 0
    while time.time() < deadline:
        time.sleep(5)
        produced = sum(hi - lo for lo, hi in end_offsets(brokers, "pipeline.demo.input").values())
        st = status(mgmt, pipeline)
        indexed = doc_count(opensearch) or 0
        dead = distinct_dead_letters(brokers, "pipeline.demo.error")
        filtered = sum(w.get("filtered") or 0 for w in st.get("workers", [])) if st else 0
        # Caught up once every input offset is committed and the counts stop moving.
        now_counts = (produced, indexed, dead)
        if st and all((w.get("lag") or 0) == 0 for w in st.get("workers", [])) \
                and now_counts == getattr(main, "last_counts", None):
            stable += 1
            if stable >= 2:
                break
        main.last_counts = now_counts
    filtered = 0  # the demo pipeline has no filter stage
    # Identical events (the load generator repeats one now and then) share one `_id`: the index
    # holds one document per distinct content, which is what "indexed" must be checked against.
    dead_offsets = dead_letter_offsets(brokers, "pipeline.demo.error")
    expected = expected_documents(brokers, "pipeline.demo.input", dead_offsets)
    duplicates = produced - len(dead_offsets) - filtered - expected
    with open(os.path.join(args.out, "soak.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(samples[0].keys()))
        writer.writeheader()
        writer.writerows(samples)
    what = (f"a broker of {broker_count} SIGKILLed and restarted, a different one each time"
            if broker_count > 1 else "the broker SIGKILLed and restarted")
    plot([s for s in samples if None not in (s["rss_worker_1"], s["rss_worker_2"], s["lag"],
                                             s["indexed_per_s"])],
         os.path.join(args.out, "soak.png"),
         f"flow-stream soak: dev stack, {what} (dotted lines)")

    warm = [s for s in samples if s["t"] >= 120]
    rss = [max(s["rss_worker_1"] or 0, s["rss_worker_2"] or 0) for s in warm] or [0]
    rss_range = (min(rss), max(rss))
    # Flat means the last half hour's high-water mark is near the first's: not every sample.
    half = len(rss) // 2 or 1
    growth = max(rss[half:] or [0]) / max(max(rss[:half]), 1) - 1
    lost = expected - indexed + (len(dead_offsets) - dead)
    restarts = sum(1 for s in samples if s["restart"])
    killed = sorted({n for n in (s.get("node") for s in samples) if n})
    verdict = "nothing lost" if lost == 0 else f"LOST {lost}"
    flat = growth <= 0.10
    memory = "flat" if flat else "GREW"
    print(f"soak: {args.minutes:g} min, {broker_count} broker(s), {restarts} broker restarts "
          f"({', '.join(killed) or 'none'}): produced {produced} = "
          f"indexed {indexed} + dead-lettered {dead} + filtered {filtered} + "
          f"{duplicates} repeats of an identical event (one `_id` each) -> {verdict}; "
          f"worker RSS after warm-up {rss_range[0]:.1f}-{rss_range[1]:.1f} MiB "
          f"(second half's peak {growth:+.0%} on the first half's: {memory}); "
          f"plot {os.path.join(args.out, 'soak.png')}")
    sys.exit(0 if lost == 0 and flat else 1)


if __name__ == "__main__":
    main()
