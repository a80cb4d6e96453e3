-- Retention of dated indices (indexing.retention).
--
-- `leases`: a named lease that one pipeline-mgmt replica holds at a time (the retention sweeper),
-- with its expiry in the database's own clock so that replicas with skewed clocks agree.
-- `audit_log.detail`: what a change touched beyond the pipeline row (the index a retention sweep
-- deleted).

CREATE TABLE leases (
  name VARCHAR(64) NOT NULL PRIMARY KEY,
  holder VARCHAR(255) NOT NULL,
  expires_at DATETIME(6) NOT NULL
) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

ALTER TABLE audit_log ADD COLUMN detail VARCHAR(255) NULL;
