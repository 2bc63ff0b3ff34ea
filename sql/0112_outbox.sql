-- 0112 transactional outbox
-- Inputs: run by the owner after 0070.
-- Emails and webhook events are written here in the SAME transaction as the
-- change they announce (OutboxRepository.appendWithin), so a message exists
-- exactly when its change committed; the relay (OutboxRelay) delivers them at
-- least once afterwards.
--   payload:          SecretBox envelope (AES-256-GCM, key ring) of the JSON
--                     message, AAD `outbox_messages:<idempotency_key>:payload`:
--                     an email may carry a one-time link token
--   idempotency_key:  unique; sent with every delivery attempt (the webhook's
--                     `webhook-id`), so receivers drop repeats
--   aggregate_type/_id: messages of one aggregate are delivered in id order:
--                     only the oldest pending one of an aggregate is claimable
--   status:           pending → delivered, or dead after max attempts (the
--                     dead-letter view); attempts, next_attempt_at (backoff),
--                     locked_until (a claim's lease: a relay that dies
--                     mid-delivery loses it, and the message is claimed again)
-- RLS: a tenant transaction appends its own organization's messages (or
-- organization-less ones); the relay and the dead-letter view run in admin
-- scope (they serve every organization).

CREATE TABLE outbox_messages (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  organization_id  uuid REFERENCES organizations (id) ON DELETE CASCADE,
  kind             text NOT NULL CHECK (kind IN ('email', 'webhook')),
  topic            text NOT NULL CHECK (topic ~ '^[a-z][a-z0-9_.]{0,99}$'),
  aggregate_type   text NOT NULL CHECK (length(aggregate_type) BETWEEN 1 AND 100),
  aggregate_id     text NOT NULL CHECK (length(aggregate_id) BETWEEN 1 AND 200),
  idempotency_key  text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
  payload          bytea NOT NULL,
  status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
  attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  locked_until     timestamptz,
  last_error       text CHECK (length(last_error) <= 1000),
  created_at       timestamptz NOT NULL DEFAULT now(),
  delivered_at     timestamptz,
  CONSTRAINT outbox_messages_idempotency_key UNIQUE (idempotency_key)
);
CREATE INDEX outbox_messages_pending_idx ON outbox_messages (aggregate_type, aggregate_id, id) WHERE status = 'pending';
CREATE INDEX outbox_messages_dead_idx ON outbox_messages (created_at, id) WHERE status = 'dead';

ALTER TABLE outbox_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbox_messages FORCE ROW LEVEL SECURITY;
CREATE POLICY outbox_messages_append ON outbox_messages FOR INSERT TO platform_app
  WITH CHECK (organization_id IS NULL OR organization_id = platform_current_organization_id() OR platform_current_admin_actor() IS NOT NULL);
CREATE POLICY outbox_messages_admin_scope ON outbox_messages TO platform_app
  USING (platform_current_admin_actor() IS NOT NULL) WITH CHECK (platform_current_admin_actor() IS NOT NULL);
GRANT SELECT, INSERT, DELETE ON outbox_messages TO platform_app;
GRANT UPDATE (status, attempts, next_attempt_at, locked_until, last_error, delivered_at) ON outbox_messages TO platform_app;
