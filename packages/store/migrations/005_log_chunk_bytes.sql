-- A chunk's lines as bytes: each line a hodei.LogEntry `more` field (see LogChunk in packages/api),
-- sent to subscribers as stored. Rows written before keep their JSON `lines` and no body.
ALTER TABLE job_log_chunks ADD COLUMN body bytea;
ALTER TABLE job_log_chunks ALTER COLUMN lines DROP NOT NULL;
