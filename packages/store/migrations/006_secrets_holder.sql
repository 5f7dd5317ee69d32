-- Secrets are never stored: a job with secrets can run only where they are, in the memory of the
-- control plane process that queued it. secrets_holder names that process (NULL: no secrets), and
-- only it claims the job.
ALTER TABLE jobs ADD COLUMN secrets_holder text;
CREATE INDEX jobs_held_idx ON jobs (secrets_holder) WHERE status = 'PENDING' AND secrets_holder IS NOT NULL;
-- The control plane processes using this database, each refreshing its row while it runs: a held
-- job whose holder is gone can never get its secrets and ends FAILED.
CREATE TABLE control_planes (
  id           text PRIMARY KEY,
  started_at   timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now()
);
