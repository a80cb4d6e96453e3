#!/usr/bin/env python3
"""Prints the per-stage budget of scripts/bench-stages from criterion's estimates.

    bench-stages-prefixes.py CRITERION_HOME EVENTS LOAD_BEFORE LOAD_AFTER

CRITERION_HOME holds the `prefix` group of pipeline-common/benches/stages.rs: one benchmark per
prefix of the default chain (`decode++bulk`, `decode+parse+bulk`, ...), each iteration one pass
over EVENTS events. Each prefix's median time per event is printed with what its last stage adds
to the prefix before it.
"""
import json
import os
import sys


def prefixes(home):
    """(stages, median ns per iteration) for every benchmark of the `prefix` group."""
    found = []
    group = os.path.join(home, "prefix")
    for entry in sorted(os.listdir(group)) if os.path.isdir(group) else []:
        new = os.path.join(group, entry, "new")
        try:
            meta = json.load(open(os.path.join(new, "benchmark.json")))
            estimates = json.load(open(os.path.join(new, "estimates.json")))
        except FileNotFoundError:
            continue
        # function_id is "decode+<stage>+...+bulk"; the empty chain is "decode++bulk".
        stages = [s for s in meta["function_id"].split("+")[1:-1] if s]
        found.append((stages, estimates["median"]["point_estimate"]))
    return sorted(found, key=lambda item: len(item[0]))


def main():
    home, events, load_before, load_after = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    rows = prefixes(home)
    if not rows:
        sys.exit("bench-stages: criterion wrote no prefix estimates")
    print(f"per-stage budget (criterion, default chain cut after each stage, median ns per event "
          f"over {events} events; load {load_before} -> {load_after}):")
    previous = None
    for stages, ns in rows:
        per_event = ns / events
        label = "decode + bulk" if not stages else f"+ {stages[-1]}"
        added = "" if previous is None else f"  (stage adds {per_event - previous:+.0f} ns)"
        print(f"  {label:<14} {per_event:>6.0f} ns/event{added}")
        previous = per_event
    print(f"  whole chain    {rows[-1][1] / events:>6.0f} ns/event, "
          f"{1e9 * events / rows[-1][1]:.0f} events/s on one core")


if __name__ == "__main__":
    main()
