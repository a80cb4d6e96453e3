//! The topics a task reads. Every pipeline reads its own input topic; a broker-sourced one also
//! reads its broker's topic, in the same consumer group. Its own topic stays, so that a replay
//! of its dead letters and a producer that addresses the pipeline reach this pipeline alone
//! (replaying into the broker would hand the events to every pipeline on it again), and the
//! source filter applies to the broker's events only.

/// Which of a task's topics a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// The pipeline's own input topic.
    Input,
    /// Its broker's topic.
    Broker,
}

/// The topics of one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInputs {
    /// `<prefix>.<name>.input`.
    pub input: String,
    /// `<prefix>.broker.<broker>`, for a broker-sourced pipeline.
    pub broker: Option<String>,
}

impl TaskInputs {
    /// Where a message of `topic` came from (anything but the broker's topic is the input).
    pub fn source_of(&self, topic: &str) -> Source {
        match &self.broker {
            Some(broker) if broker == topic => Source::Broker,
            _ => Source::Input,
        }
    }

    /// The topic of `source` (the input's when the task has no broker).
    pub fn topic(&self, source: Source) -> &str {
        match (source, &self.broker) {
            (Source::Broker, Some(broker)) => broker,
            _ => &self.input,
        }
    }

    /// Every topic, to subscribe to.
    pub fn topics(&self) -> Vec<&str> {
        std::iter::once(self.input.as_str())
            .chain(self.broker.as_deref())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_and_sources() {
        let plain = TaskInputs {
            input: "p.a.input".into(),
            broker: None,
        };
        assert_eq!(plain.topics(), ["p.a.input"]);
        assert_eq!(plain.source_of("p.broker.x"), Source::Input);
        let triggered = TaskInputs {
            broker: Some("p.broker.x".into()),
            ..plain
        };
        assert_eq!(triggered.topics(), ["p.a.input", "p.broker.x"]);
        assert_eq!(triggered.source_of("p.broker.x"), Source::Broker);
        assert_eq!(triggered.topic(Source::Broker), "p.broker.x");
        assert_eq!(triggered.topic(Source::Input), "p.a.input");
    }
}
