-- A broker's topic takes `minInsyncReplicas` like a pipeline's topics (NULL: the Kafka cluster's
-- default).
ALTER TABLE brokers ADD COLUMN min_insync_replicas SMALLINT NULL AFTER replication_factor;
