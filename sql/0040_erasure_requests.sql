-- 0040 erasure requests and their steps (GDPR erasure, organization deletion)
-- Inputs: run by the owner after 0006. Creates:
--   * erasure_requests: one row per request to erase a user or delete an
--     organization. subject_id has NO foreign key on purpose: the request must
--     outlive its subject, it is the record that the erasure happened. At most
--     one OPEN request per subject (partial unique index), so asking twice while
--     one runs returns the running one.
--   * erasure_steps: one row per (request, step), created with the request, so
--     a reconciler can find the first unfinished step of every open request
--     from Postgres alone (rule 1: every queued job can be re-created).
-- Neither table holds personal data beyond the subject's uuid (no email, no name);
-- `reason` is free text from an operator and must not carry personal data.
-- Access: owner only (RLS enabled and forced with no policy, no grants to
-- platform_app): erasure is privileged maintenance, never tenant work.
-- Errors: unique_violation erasure_requests_one_open_key (mapped to ConflictError)
--   when two requests for one subject race; the flow then reads the winner.

CREATE TABLE erasure_requests (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  subject_type  text NOT NULL CHECK (subject_type IN ('user', 'organization')),
  subject_id    uuid NOT NULL,
  reason        text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
  requested_by  text NOT NULL CHECK (length(requested_by) BETWEEN 1 AND 200),
  status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'completed', 'failed')),
  requested_at  timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  finished_at   timestamptz,
  last_error    text CHECK (length(last_error) <= 2000),
  CONSTRAINT erasure_requests_finished_pair CHECK ((status = 'completed') = (finished_at IS NOT NULL))
);
CREATE UNIQUE INDEX erasure_requests_one_open_key ON erasure_requests (subject_type, subject_id)
  WHERE status IN ('pending', 'running', 'failed');
CREATE INDEX erasure_requests_open_idx ON erasure_requests (requested_at) WHERE status <> 'completed';
CREATE INDEX erasure_requests_subject_idx ON erasure_requests (subject_id);
CREATE TRIGGER erasure_requests_touch_updated_at BEFORE UPDATE ON erasure_requests
  FOR EACH ROW EXECUTE FUNCTION platform_touch_updated_at();

CREATE TABLE erasure_steps (
  request_id   uuid NOT NULL REFERENCES erasure_requests (id) ON DELETE CASCADE,
  step         text NOT NULL CHECK (step ~ '^[a-z][a-z_]{0,39}$'),
  ordinal      smallint NOT NULL CHECK (ordinal >= 0),
  status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed')),
  attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  started_at   timestamptz,
  finished_at  timestamptz,
  last_error   text CHECK (length(last_error) <= 2000),
  -- Counts of what the step removed (e.g. {"conversations": 3}); no personal data.
  result       jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(result) = 'object'),
  PRIMARY KEY (request_id, step),
  CONSTRAINT erasure_steps_request_ordinal_key UNIQUE (request_id, ordinal),
  CONSTRAINT erasure_steps_done_pair CHECK ((status = 'done') = (finished_at IS NOT NULL))
);

ALTER TABLE erasure_requests ENABLE ROW LEVEL SECURITY;
ALTER TABLE erasure_requests FORCE ROW LEVEL SECURITY;
ALTER TABLE erasure_steps ENABLE ROW LEVEL SECURITY;
ALTER TABLE erasure_steps FORCE ROW LEVEL SECURITY;
