-- Replay jobs outlive the pipeline-mgmt process that runs them (issue 26).
--
-- The replica running a job holds a lease on its row: `owner` (its replica id) and `lease_until`
-- in the database's own clock, renewed with every step. Another replica takes over a running job
-- whose lease has expired, from where the broker-acknowledged steps end:
--   `ranges`    the error-topic offsets the job reads, fixed when it starts;
--   `progress`  per error-topic partition, the next offset to read (the acknowledged steps);
--   `inflight`  the step being written, with the input topic's end offsets before it, so that
--               a takeover finds which of its records reached the input topic and writes only
--               the others.
ALTER TABLE replay_jobs
  ADD COLUMN owner VARCHAR(255) NULL,
  ADD COLUMN lease_until DATETIME(6) NULL,
  ADD COLUMN ranges JSON NULL,
  ADD COLUMN progress JSON NULL,
  ADD COLUMN inflight JSON NULL;

-- A job running before this version kept no progress and cannot be taken over.
UPDATE replay_jobs
  SET state = 'failed', finished_at = UTC_TIMESTAMP(6),
      error = 'interrupted by an upgrade of pipeline-mgmt; start the replay again (records replayed so far are indexed under the same _id)'
  WHERE state = 'running';
