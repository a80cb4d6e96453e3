-- The schema states its character set instead of taking the server's default: on a server whose
-- default is latin1 the first migration made latin1 tables, and comparing them with the
-- connection's utf8mb4 text failed (1267 Illegal mix of collations). The connection sets the
-- same character set and collation (store::pool), so text compares without conversion.
ALTER DATABASE CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
ALTER TABLE pipelines CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
ALTER TABLE worker_tasks CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
ALTER TABLE audit_log CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
