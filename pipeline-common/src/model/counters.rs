//! What a pipeline's task has counted since it started.

use serde::{Deserialize, Serialize};

/// The event counters of one task since it started: counted by the worker, written in its
/// heartbeat row (`worker_tasks`) and shown per worker in a pipeline's status. The JSON form is
/// camelCase (`deadLettered`), and it is meant to be flattened into the object that carries it.
///
/// An event ends as exactly one of indexed, dead-lettered or filtered, so once a task is drained
/// `consumed = indexed + dead_lettered + filtered`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    /// Events (Kafka messages) consumed from the input topic.
    pub consumed: i64,
    /// Documents indexed (and, with `output.enabled`, produced to the output topic).
    pub indexed: i64,
    /// Events written to the error topic.
    pub dead_lettered: i64,
    /// Events dropped by a filter stage, or not taken from the broker by the pipeline's source
    /// filter.
    pub filtered: i64,
    /// Events of the broker the source filter took (broker-sourced pipelines; 0 otherwise).
    pub matched: i64,
    /// Events of the broker whose CEL expression gave no boolean (a missing field): not taken,
    /// counted in `filtered` too.
    pub cel_errors: i64,
    /// Documents sent to the overflow index because the index name's field values reached
    /// `indexing.maxIndices`.
    pub overflowed: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_names_are_camel_case() {
        let c = Counters {
            consumed: 4,
            indexed: 2,
            dead_lettered: 1,
            filtered: 1,
            matched: 3,
            cel_errors: 1,
            overflowed: 0,
        };
        let json = serde_json::to_value(c).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"consumed": 4, "indexed": 2, "deadLettered": 1, "filtered": 1,
                               "matched": 3, "celErrors": 1, "overflowed": 0})
        );
    }
}
