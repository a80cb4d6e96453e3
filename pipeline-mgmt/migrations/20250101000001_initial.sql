-- flow-stream schema. pipeline-mgmt owns it; pipeline-worker reads `pipelines` and writes `worker_tasks`.

CREATE TABLE pipelines (
  id CHAR(36) NOT NULL PRIMARY KEY,
  name VARCHAR(63) NOT NULL,
  definition JSON NOT NULL,
  state VARCHAR(16) NOT NULL,
  state_reason TEXT NULL,
  version BIGINT NOT NULL,
  created_by VARCHAR(255) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  UNIQUE KEY uq_pipelines_name (name)
);

CREATE TABLE worker_tasks (
  pipeline_id CHAR(36) NOT NULL,
  worker_id VARCHAR(255) NOT NULL,
  status VARCHAR(16) NOT NULL,
  partitions JSON NOT NULL,
  consumed BIGINT NOT NULL DEFAULT 0,
  indexed BIGINT NOT NULL DEFAULT 0,
  dead_lettered BIGINT NOT NULL DEFAULT 0,
  filtered BIGINT NOT NULL DEFAULT 0,
  lag BIGINT NULL,
  last_error TEXT NULL,
  pipeline_version BIGINT NOT NULL,
  heartbeat_at DATETIME(6) NOT NULL,
  PRIMARY KEY (pipeline_id, worker_id)
);

CREATE TABLE audit_log (
  id BIGINT AUTO_INCREMENT PRIMARY KEY,
  pipeline_id CHAR(36) NOT NULL,
  pipeline_name VARCHAR(63) NOT NULL,
  actor VARCHAR(255) NOT NULL,
  action VARCHAR(32) NOT NULL,
  version_before BIGINT NULL,
  version_after BIGINT NULL,
  at DATETIME(6) NOT NULL,
  KEY ix_audit_log_pipeline (pipeline_id)
);
