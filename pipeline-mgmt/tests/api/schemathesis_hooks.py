"""schemathesis hooks for tests/api/fuzz.rs: the test cluster, not the API, bounds two values.

The schema allows a replication factor up to 32 and 1000 partitions per topic, which is what the
server accepts; the broker under the tests is one node, so a replication factor above 1 is
refused by Kafka itself (502), and 3 × 1000 partitions per generated pipeline would load the shared
broker for nothing. In-range values are mapped to in-range values that this cluster can hold, so a
valid body stays valid and an invalid one (out of range, wrong type) is sent unchanged.
"""
import schemathesis


def _in_range(value, low, high):
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _fit_topics(definition):
    if not isinstance(definition, dict):
        return
    topics = definition.get("topics")
    if not isinstance(topics, dict):
        return
    if _in_range(topics.get("replicationFactor"), 1, 32):
        topics["replicationFactor"] = 1
    if _in_range(topics.get("partitions"), 1, 1000):
        topics["partitions"] = min(topics["partitions"], 2)


def _fit_indexing(definition):
    """Shards and replicas count against the one test node's shard limit (1000): in-range values
    become one primary without replicas, so generated pipelines cannot exhaust it."""
    if not isinstance(definition, dict):
        return
    indexing = definition.get("indexing")
    if not isinstance(indexing, dict):
        return
    if _in_range(indexing.get("shards"), 1, 64):
        indexing["shards"] = 1
    if _in_range(indexing.get("replicas"), 0, 16):
        indexing["replicas"] = 0


@schemathesis.hook
def before_call(context, case, kwargs=None):
    body = case.body
    if case.operation.method.upper() in ("POST", "PUT") and isinstance(body, dict):
        _fit_topics(body)
        _fit_topics(body.get("definition"))
        _fit_indexing(body)
        _fit_indexing(body.get("definition"))
