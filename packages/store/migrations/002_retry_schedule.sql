-- A job waiting to be retried is PENDING but may not be claimed before run_after.
ALTER TABLE jobs ADD COLUMN run_after timestamptz;
