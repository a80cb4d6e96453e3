-- Per-minute samples of the workers' heartbeats (issue 17), for the console's last-hour charts.
-- pipeline-mgmt writes and prunes them; one row per task and minute holds that minute's last report.

CREATE TABLE worker_samples (
  pipeline_id CHAR(36) NOT NULL,
  worker_id VARCHAR(255) NOT NULL,
  minute DATETIME NOT NULL,
  consumed BIGINT NOT NULL,
  indexed BIGINT NOT NULL,
  dead_lettered BIGINT NOT NULL,
  lag BIGINT NULL,
  PRIMARY KEY (pipeline_id, worker_id, minute),
  KEY ix_worker_samples_minute (minute)
) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
