-- Reverts 0117: back to a plain index (the repository's single-statement create needs the unique one,
-- so revert the code with it). Deleted duplicate tokens are not restored: they were superseded links.
DROP INDEX verification_tokens_one_live_key;
CREATE INDEX verification_tokens_user_purpose_idx ON verification_tokens (user_id, purpose) WHERE consumed_at IS NULL;
