-- A job still waiting for a worker at deadline_at ends TIMEOUT.
ALTER TABLE jobs ADD COLUMN deadline_at timestamptz;
CREATE INDEX jobs_deadline_idx ON jobs (deadline_at) WHERE status = 'PENDING' AND deadline_at IS NOT NULL;
