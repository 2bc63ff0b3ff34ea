-- Reverts 0120: SessionIssuer goes back to its separate statements (revert the code with it).
DROP FUNCTION platform_issue_sign_in_session(uuid, uuid, uuid, text, text, inet, text, integer, integer, uuid, bytea, uuid, integer, integer, text,
  uuid[], timestamptz[], text[], uuid[], uuid[], inet[], text[], text[], text[], int2[], jsonb[], text[], text[]);
