//! Dead letters: the original record, unchanged, plus headers that say what failed and where it
//! came from (DESIGN §4.7).

use pipeline_common::failure::{headers, FailedAt};
use rdkafka::message::{Header, OwnedHeaders};

/// Why and where one event failed.
#[derive(Debug, Clone)]
pub struct DeadLetter<'a> {
    /// Failed stage: `decode`, a stage type, or `index` for an OpenSearch rejection.
    pub stage: FailedAt,
    /// The reason (for `index`, the OpenSearch error object as JSON).
    pub reason: &'a str,
    /// The OpenSearch item status, if OpenSearch rejected the document.
    pub status: Option<u16>,
    /// Input topic.
    pub source_topic: &'a str,
    /// Input partition.
    pub source_partition: i32,
    /// Input offset.
    pub source_offset: i64,
    /// Pipeline name.
    pub pipeline: &'a str,
}

impl DeadLetter<'_> {
    /// The error record's headers.
    pub fn headers(&self) -> OwnedHeaders {
        let partition = self.source_partition.to_string();
        let offset = self.source_offset.to_string();
        let status = self.status.map(|s| s.to_string()).unwrap_or_default();
        let failed_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let pairs: [(&str, &str); 8] = [
            (headers::STAGE, self.stage.as_str()),
            (headers::REASON, self.reason),
            (headers::STATUS, &status),
            (headers::SOURCE_TOPIC, self.source_topic),
            (headers::SOURCE_PARTITION, &partition),
            (headers::SOURCE_OFFSET, &offset),
            (headers::PIPELINE_NAME, self.pipeline),
            (headers::FAILED_AT, &failed_at),
        ];
        pairs
            .iter()
            .fold(OwnedHeaders::new_with_capacity(8), |h, (key, value)| {
                h.insert(Header {
                    key,
                    value: Some(value.as_bytes()),
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::Headers;

    #[test]
    fn headers_name_the_failure_and_the_source() {
        let headers = DeadLetter {
            stage: FailedAt::Decode,
            reason: "not JSON",
            status: None,
            source_topic: "pipeline.a.input",
            source_partition: 2,
            source_offset: 41,
            pipeline: "a",
        }
        .headers();
        let get = |name: &str| {
            headers
                .iter()
                .find(|h| h.key == name)
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        assert_eq!(get("error.stage").as_deref(), Some("decode"));
        assert_eq!(get("error.reason").as_deref(), Some("not JSON"));
        assert_eq!(get("error.status").as_deref(), Some(""));
        assert_eq!(get("source.topic").as_deref(), Some("pipeline.a.input"));
        assert_eq!(get("source.partition").as_deref(), Some("2"));
        assert_eq!(get("source.offset").as_deref(), Some("41"));
        assert_eq!(get("pipeline.name").as_deref(), Some("a"));
        assert!(get("failed.at").unwrap().ends_with('Z'));
    }
}
