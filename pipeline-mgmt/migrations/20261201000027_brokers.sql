-- Brokers and triggers (issue 27): named shared input topics that pipelines read with a filter.

CREATE TABLE brokers (
  id CHAR(36) NOT NULL PRIMARY KEY,
  name VARCHAR(63) NOT NULL,
  description TEXT NOT NULL,
  partitions INT NOT NULL,
  replication_factor SMALLINT NOT NULL,
  retention_ms BIGINT NULL,
  created_by VARCHAR(255) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  UNIQUE KEY uq_brokers_name (name)
) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- The broker a pipeline reads, derived from its stored definition, so that the database itself
-- refuses a pipeline on a broker that does not exist (1452) and the deletion of a broker that a
-- pipeline still reads (1451), with no window between a check and a write.
ALTER TABLE pipelines
  ADD COLUMN source_broker VARCHAR(63)
    AS (JSON_VALUE(definition, '$.source.broker')) PERSISTENT,
  ADD CONSTRAINT fk_pipelines_source_broker FOREIGN KEY (source_broker) REFERENCES brokers (name);

-- What a broker-sourced pipeline's tasks count besides the other counters.
ALTER TABLE worker_tasks
  ADD COLUMN matched BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN cel_errors BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN overflowed BIGINT NOT NULL DEFAULT 0;

-- Audit rows of brokers share the table: `resource` says which kind the id and name are of.
ALTER TABLE audit_log
  ADD COLUMN resource VARCHAR(16) NOT NULL DEFAULT 'pipeline';
