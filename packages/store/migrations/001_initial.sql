-- Jobs: one row per job; secrets are never stored.
CREATE TABLE jobs (
  id           text PRIMARY KEY,
  seq          bigserial NOT NULL,
  name         text NOT NULL,
  status       text NOT NULL,
  priority     smallint NOT NULL,
  spec         jsonb NOT NULL,
  queued_by    text NOT NULL DEFAULT '',
  worker_id    text,
  execution_id text,
  attempt      integer NOT NULL DEFAULT 0,
  exit_code    integer,
  message      text NOT NULL DEFAULT '',
  created_at   timestamptz NOT NULL DEFAULT now(),
  started_at   timestamptz,
  finished_at  timestamptz,
  updated_at   timestamptz NOT NULL DEFAULT now()
);
-- The queue: priority first, then age, only over waiting jobs.
CREATE INDEX jobs_queue_idx ON jobs (priority DESC, seq) WHERE status = 'PENDING';
CREATE INDEX jobs_status_idx ON jobs (status, seq DESC);
CREATE INDEX jobs_seq_idx ON jobs (seq DESC);

-- One row per attempt.
CREATE TABLE job_executions (
  id            text PRIMARY KEY,
  job_id        text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  attempt       integer NOT NULL,
  worker_id     text NOT NULL,
  status        text NOT NULL,
  assigned_at   timestamptz NOT NULL DEFAULT now(),
  started_at    timestamptz,
  finished_at   timestamptz,
  exit_code     integer,
  error_message text NOT NULL DEFAULT ''
);
CREATE INDEX job_executions_job_idx ON job_executions (job_id, attempt);

-- Log lines are stored in chunks: one row per batch received from a worker.
-- lines: JSON array of [sequence, timestamp_ms, is_stderr (0|1), text].
CREATE TABLE job_log_chunks (
  job_id     text NOT NULL,
  first_seq  bigint NOT NULL,
  last_seq   bigint NOT NULL,
  line_count integer NOT NULL,
  bytes      integer NOT NULL,
  lines      text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job_id, first_seq)
);

-- The audit log the user guide queries with SQL.
CREATE TABLE audit_logs (
  id             bigserial PRIMARY KEY,
  occurred_at    timestamptz NOT NULL DEFAULT now(),
  event_type     text NOT NULL,
  actor          text NOT NULL DEFAULT 'system',
  correlation_id text,
  payload        jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_logs_correlation_idx ON audit_logs (correlation_id, id);
CREATE INDEX audit_logs_occurred_idx ON audit_logs (occurred_at);

CREATE TABLE workers (
  id             text PRIMARY KEY,
  provider       text NOT NULL,
  state          text NOT NULL,
  hostname       text NOT NULL DEFAULT '',
  labels         jsonb NOT NULL DEFAULT '{}',
  capacity       jsonb NOT NULL DEFAULT '{}',
  created_at     timestamptz NOT NULL DEFAULT now(),
  registered_at  timestamptz,
  last_heartbeat timestamptz,
  terminated_at  timestamptz,
  reason         text NOT NULL DEFAULT ''
);

-- One-time registration tokens: stored as a SHA-256 hash, bound to one worker, single use.
CREATE TABLE worker_tokens (
  token_hash text PRIMARY KEY,
  worker_id  text NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at    timestamptz
);
