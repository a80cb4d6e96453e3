//! Fleet gauges for alerting, read from `worker_tasks` at scrape time: how many live tasks each
//! pipeline has in each status, and how long ago each worker last sent a heartbeat.
//!
//! They are written straight into the exposition text rather than through the recorder: a
//! recorder series outlives the pipeline or worker it describes, frozen at its last value, and a
//! frozen heartbeat age would hide exactly the silence it is there to show. Ages come from the
//! database clock, which also stamps the heartbeats.

use sqlx::MySqlPool;
use std::time::Duration;

/// Live tasks by pipeline and status.
pub const PIPELINE_TASKS: &str = "flow_fleet_pipeline_tasks";
/// Seconds since each worker's newest heartbeat.
pub const HEARTBEAT_AGE: &str = "flow_fleet_worker_heartbeat_age_seconds";

/// A worker silent for longer than this is taken as retired and leaves the heartbeat gauge, so an
/// alert on a worker that was replaced (a new pod, a new id) ends instead of firing forever.
pub const RETIRED_AFTER: Duration = Duration::from_secs(3600);

/// What the gauges show, as read from the database.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetSnapshot {
    /// (pipeline name, task status, tasks with a live heartbeat).
    pub tasks: Vec<(String, String, i64)>,
    /// (worker id, seconds since its newest heartbeat), for workers not yet retired.
    pub heartbeats: Vec<(String, f64)>,
}

impl FleetSnapshot {
    /// Reads the snapshot. A task is live when its heartbeat is at most `live_window` old (the
    /// window of the pipeline status view).
    pub async fn read(pool: &MySqlPool, live_window: Duration) -> Result<Self, sqlx::Error> {
        let tasks: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT p.name, t.status, COUNT(*) FROM worker_tasks t \
             JOIN pipelines p ON p.id = t.pipeline_id \
             WHERE t.heartbeat_at >= UTC_TIMESTAMP(6) - INTERVAL ? MICROSECOND \
             GROUP BY p.name, t.status ORDER BY p.name, t.status",
        )
        .bind(micros(live_window))
        .fetch_all(pool)
        .await?;
        let heartbeats: Vec<(String, i64)> = sqlx::query_as(
            "SELECT worker_id, TIMESTAMPDIFF(MICROSECOND, MAX(heartbeat_at), UTC_TIMESTAMP(6)) \
             FROM worker_tasks GROUP BY worker_id \
             HAVING MAX(heartbeat_at) >= UTC_TIMESTAMP(6) - INTERVAL ? MICROSECOND \
             ORDER BY worker_id",
        )
        .bind(micros(RETIRED_AFTER))
        .fetch_all(pool)
        .await?;
        Ok(FleetSnapshot {
            tasks,
            heartbeats: heartbeats
                .into_iter()
                .map(|(worker, us)| (worker, us.max(0) as f64 / 1e6))
                .collect(),
        })
    }

    /// Appends the gauges in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        out.push_str(&format!(
            "# HELP {PIPELINE_TASKS} Worker tasks with a live heartbeat, by pipeline and status.\n\
             # TYPE {PIPELINE_TASKS} gauge\n"
        ));
        for (pipeline, status, n) in &self.tasks {
            out.push_str(&format!(
                "{PIPELINE_TASKS}{{pipeline=\"{}\",status=\"{}\"}} {n}\n",
                escape(pipeline),
                escape(status)
            ));
        }
        out.push_str(&format!(
            "# HELP {HEARTBEAT_AGE} Seconds since the newest heartbeat of each worker.\n\
             # TYPE {HEARTBEAT_AGE} gauge\n"
        ));
        for (worker, age) in &self.heartbeats {
            out.push_str(&format!(
                "{HEARTBEAT_AGE}{{worker=\"{}\"}} {age}\n",
                escape(worker)
            ));
        }
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// A label value as the text format wants it: backslash, quote and newline escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_gauges_with_escaped_labels() {
        let snapshot = FleetSnapshot {
            tasks: vec![
                ("web".into(), "failed".into(), 1),
                ("web".into(), "running".into(), 2),
            ],
            heartbeats: vec![("pod-1".into(), 2.5), ("odd\"\\\nid".into(), 0.0)],
        };
        let mut text = String::new();
        snapshot.render(&mut text);
        assert!(text.contains("# TYPE flow_fleet_pipeline_tasks gauge\n"));
        assert!(text.contains("flow_fleet_pipeline_tasks{pipeline=\"web\",status=\"failed\"} 1\n"));
        assert!(text.contains("flow_fleet_pipeline_tasks{pipeline=\"web\",status=\"running\"} 2\n"));
        assert!(text.contains("flow_fleet_worker_heartbeat_age_seconds{worker=\"pod-1\"} 2.5\n"));
        assert!(text
            .contains("flow_fleet_worker_heartbeat_age_seconds{worker=\"odd\\\"\\\\\\nid\"} 0\n"));
        assert_eq!(text.lines().filter(|l| l.starts_with("# TYPE")).count(), 2);
    }
}
