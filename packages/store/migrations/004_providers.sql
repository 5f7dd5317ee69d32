-- Several providers. A job is placed on a lane when it is queued: the provider that will run it,
-- and for providers with images the image and the resources its worker is created with. Workers
-- claim only jobs of their own lane.
ALTER TABLE jobs ADD COLUMN lane text NOT NULL DEFAULT 'local';
DROP INDEX jobs_queue_idx;
CREATE INDEX jobs_queue_idx ON jobs (lane, priority DESC, seq) WHERE status = 'PENDING';

-- Providers as records: the ones configured from the environment and the ones registered over
-- the API. config holds the provider's variables (HODEI_DOCKER_MAX_WORKERS, DOCKER_HOST, ...).
CREATE TABLE providers (
  name       text PRIMARY KEY,
  kind       text NOT NULL,
  enabled    boolean NOT NULL DEFAULT true,
  source     text NOT NULL DEFAULT 'api',
  config     jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per provisioning attempt: latency and failures for GetProviderStats.
ALTER TABLE workers ADD COLUMN lane text NOT NULL DEFAULT '';
ALTER TABLE workers ADD COLUMN provisioned_ms integer;
CREATE INDEX workers_provider_idx ON workers (provider, created_at);
