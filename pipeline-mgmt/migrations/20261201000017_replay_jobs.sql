-- Replays of dead letters (issue 17): one row per job, written by pipeline-mgmt only.

CREATE TABLE replay_jobs (
  id CHAR(36) NOT NULL PRIMARY KEY,
  pipeline_id CHAR(36) NOT NULL,
  state VARCHAR(16) NOT NULL,
  filter JSON NOT NULL,
  matched BIGINT NOT NULL DEFAULT 0,
  replayed BIGINT NOT NULL DEFAULT 0,
  failed BIGINT NOT NULL DEFAULT 0,
  error TEXT NULL,
  started_by VARCHAR(255) NOT NULL,
  started_at DATETIME(6) NOT NULL,
  finished_at DATETIME(6) NULL,
  KEY ix_replay_jobs_pipeline (pipeline_id, started_at)
) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
