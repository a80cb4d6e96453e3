"""The index-template rows of bench_worker.py: the same documents into an index under dynamic
mapping and into one under the pipeline's derived template, by the plain bulk loader and by the
worker, in interleaved rounds (the order alternates each round), with OpenSearch's CPU per
document, the store size and OpenSearch's own node statistics per run, and the medians of the
per-round ratios.

Each run's OpenSearch CPU is counted from its start until the node is idle again (at most 20 s
after the run), so the merges and refreshes a run causes are charged to it; the node's idle CPU
rate, measured before the rounds, is subtracted over that time. `run_rounds(ctx, tools, start)` is called by
bench_worker.main with the helpers it needs (tools: run_python_child, run_worker, get_json, post,
log) and the output-topic offsets where the worker's documents begin.
"""
import json, os, statistics, subprocess, time, urllib.request

NODE_STATS = "_nodes/_local/stats/indices/indexing,merge,refresh,flush"


def put_json(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="PUT",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def delete(url):
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=60).read()
    except OSError:
        pass


def install_template(ctx, binary):
    """The pipeline's template as pipeline-mgmt derives it (the index-template binary), with the
    bench's own name and patterns: `<name>-tpl*` (loader) and `<name>-wtpl*` (worker)."""
    definition = {"name": ctx.name, "index": f"{ctx.name}-tpl"}
    if ctx.stages is not None:
        definition["stages"] = ctx.stages
    body = json.loads(subprocess.run([binary, json.dumps(definition)], check=True, capture_output=True,
                                     text=True).stdout)
    body["index_patterns"] = [f"{ctx.name}-tpl*", f"{ctx.name}-wtpl*"]
    name = f"bench-{ctx.name}"
    put_json(f"{ctx.os_url}/_index_template/{name}", body)
    return name


def node_stats(ctx, tools):
    """indexing, merge, refresh and flush totals of the local node (ms and counts)."""
    s = tools["get_json"](f"{ctx.os_url}/{NODE_STATS}")
    node = next(iter(s["nodes"].values()))["indices"]
    return {"index ms": node["indexing"]["index_time_in_millis"],
            "merge ms": node["merges"]["total_time_in_millis"],
            "merges": node["merges"]["total"],
            "refresh ms": node["refresh"]["total_time_in_millis"],
            "refreshes": node["refresh"]["total"],
            "flushes": node["flush"]["total"]}


def store_bytes(ctx, tools, index):
    tools["post"](f"{ctx.os_url}/{index}/_refresh")
    s = tools["get_json"](f"{ctx.os_url}/{index}/_stats/store,docs")
    p = s["_all"]["primaries"]
    return p["store"]["size_in_bytes"], p["docs"]["count"]


def measured(ctx, tools, index, run):
    """Runs `run()` -> (docs, rate, note) and charges OpenSearch's CPU to it until the node is idle."""
    before, stats0, t0 = ctx.servers.snapshot(), node_stats(ctx, tools), time.time()
    docs, rate, note = run()
    ctx.servers.settle(limit_s=20)
    used = ctx.servers.since(before).get("opensearch")
    if used is not None:
        used -= ctx.opensearch_idle * (time.time() - t0)
    stats1 = node_stats(ctx, tools)
    store, count = store_bytes(ctx, tools, index)
    delete(f"{ctx.os_url}/{index}")
    return {"docs": docs, "count": count, "rate": rate, "os_cpu": used, "store": store, "note": note,
            "stats": {k: stats1[k] - stats0[k] for k in stats0}}


def loader(ctx, tools, start, index):
    def run():
        r, res = tools["run_python_child"](
            ctx, f"loader -> {index}", "load",
            ["--topic", ctx.output_topic, "--n", str(ctx.n), "--start", json.dumps(start),
             "--url", ctx.os_url, "--index", index,
             "--flush-mib", str(ctx.args.flush_mib), "--flush-items", str(ctx.args.flush_items)])
        return r["records"], r["rate"], f"{res['failed']} failed items"
    return measured(ctx, tools, index, run)


def worker(ctx, tools, index, concurrency=None):
    """The worker into `index`; with `concurrency`, its worker.bulkConcurrency (through the
    environment the worker inherits)."""
    def run():
        saved = os.environ.get(CONCURRENCY_VAR)
        if concurrency is not None:
            os.environ[CONCURRENCY_VAR] = str(concurrency)
        try:
            r, _ = tools["run_worker"](ctx, f"worker -> {index}", "opensearch", output_enabled=False, index=index)
        finally:
            if saved is None:
                os.environ.pop(CONCURRENCY_VAR, None)
            else:
                os.environ[CONCURRENCY_VAR] = saved
        return r["records"], r["rate"], r["note"]
    return measured(ctx, tools, index, run)


CONCURRENCY_VAR = "FLOW__WORKER__BULK_CONCURRENCY"
BASE_KINDS = ("loader, dynamic", "loader, template", "worker, dynamic", "worker, template")
KINDS = BASE_KINDS


def concurrency_kinds(ctx):
    """The extra runs of --template-concurrency: ("worker, template, N in flight", N) each."""
    values = [int(v) for v in ctx.args.template_concurrency.split(",") if v.strip()]
    return [(f"worker, template, {n} in flight", n) for n in values]


def run_rounds(ctx, tools, start):
    binary = os.path.join(os.path.dirname(ctx.args.worker), "index-template")
    template = install_template(ctx, binary)
    ctx.servers.settle(limit_s=20)
    idle = ctx.servers.snapshot()
    time.sleep(5)
    ctx.opensearch_idle = ctx.servers.since(idle).get("opensearch") or 0.0
    tools["log"](f"OpenSearch idle: {100 * ctx.opensearch_idle / 5:.0f}% of a core")
    ctx.opensearch_idle /= 5
    global KINDS
    extra = concurrency_kinds(ctx)
    KINDS = BASE_KINDS + tuple(kind for kind, _ in extra)
    tools["log"](f"template rounds: {ctx.args.template_rounds} x {len(KINDS)} runs of {ctx.n} documents; "
                 f"load average {os.getloadavg()}")
    rounds = []
    try:
        for i in range(ctx.args.template_rounds):
            runs = {
                "loader, dynamic": lambda: loader(ctx, tools, start, f"{ctx.name}-dyn{i}"),
                "loader, template": lambda: loader(ctx, tools, start, f"{ctx.name}-tpl{i}"),
                "worker, dynamic": lambda: worker(ctx, tools, f"{ctx.name}-wdyn{i}"),
                "worker, template": lambda: worker(ctx, tools, f"{ctx.name}-wtpl{i}"),
            }
            for j, (kind, n) in enumerate(extra):
                runs[kind] = lambda j=j, n=n: worker(ctx, tools, f"{ctx.name}-wtpl{i}c{j}", n)
            order = list(KINDS) if i % 2 == 0 else list(reversed(KINDS))
            results = {}
            for kind in order:
                results[kind] = runs[kind]()
                r = results[kind]
                tools["log"](f"round {i + 1} {kind}: {r['docs']} docs, {r['rate']:.0f}/s, "
                             f"OpenSearch {per_doc(r):.1f} us/doc, store {r['store'] / 2**20:.1f} MiB")
            rounds.append(results)
    finally:
        delete(f"{ctx.os_url}/_index_template/{template}")
    return rounds


def per_doc(r):
    return r["os_cpu"] / r["docs"] * 1e6 if r["docs"] and r["os_cpu"] is not None else float("nan")


def median(values):
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def print_rounds(rounds):
    n = len(rounds)
    print()
    print(f"index templates: {n} interleaved rounds, medians; OpenSearch CPU counted until the node is idle "
          f"again, net of its idle rate; load average now {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    header = ["", "docs", "docs/s", "OpenSearch us/doc", "store MiB", "index ms", "merge ms", "refreshes", "flushes"]
    lines = []
    for kind in KINDS:
        rs = [r[kind] for r in rounds]
        lines.append([kind, f"{median([r['docs'] for r in rs]):.0f}", f"{median([r['rate'] for r in rs]):.0f}",
                      f"{median([per_doc(r) for r in rs]):.1f}", f"{median([r['store'] / 2**20 for r in rs]):.1f}",
                      f"{median([r['stats']['index ms'] for r in rs]):.0f}",
                      f"{median([r['stats']['merge ms'] for r in rs]):.0f}",
                      f"{median([r['stats']['refreshes'] for r in rs]):.0f}",
                      f"{median([r['stats']['flushes'] for r in rs]):.0f}"])
    widths = [max(len(x[i]) for x in lines + [header]) for i in range(len(header))]
    print("  ".join(h.ljust(widths[0]) if i == 0 else h.rjust(widths[i]) for i, h in enumerate(header)))
    for x in lines:
        print("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(x)))

    def ratio(a, b, f):
        return median([f(r[a]) / f(r[b]) if f(r[b]) else float("nan") for r in rounds])

    rate, store = (lambda r: r["rate"]), (lambda r: r["store"])
    checks = [
        ("OpenSearch CPU/doc, loader: template / dynamic", ratio("loader, template", "loader, dynamic", per_doc),
         "<=", 0.65),
        ("store, loader: template / dynamic", ratio("loader, template", "loader, dynamic", store), "<=", 0.85),
        ("rate, worker: template / dynamic", ratio("worker, template", "worker, dynamic", rate), ">=", 1.3),
        ("OpenSearch CPU/doc, template: worker / loader", ratio("worker, template", "loader, template", per_doc),
         "<=", 1.1),
        ("rate, template: worker / loader", ratio("worker, template", "loader, template", rate), ">=", 0.95),
        ("OpenSearch CPU/doc, worker: template / dynamic", ratio("worker, template", "worker, dynamic", per_doc),
         None, None),
    ]
    for kind in KINDS[len(BASE_KINDS):]:
        checks += [
            (f"OpenSearch CPU/doc, template: {kind} / loader",
             ratio(kind, "loader, template", per_doc), "<=", 1.1),
            (f"rate, template: {kind} / loader", ratio(kind, "loader, template", rate), ">=", 0.95),
        ]
    print("ratios (median of the per-round ratios):")
    for label, value, op, floor in checks:
        verdict = ""
        if op:
            ok = value <= floor if op == "<=" else value >= floor
            verdict = f"  (floor {op} {floor}: {'met' if ok else 'NOT met'})"
        print(f"  {label}: {value:.2f}{verdict}")
    for kind in KINDS:
        print(f"  {kind} per round: " + ", ".join(
            f"{per_doc(r[kind]):.1f} us/doc @ {r[kind]['rate']:.0f}/s" for r in rounds))
