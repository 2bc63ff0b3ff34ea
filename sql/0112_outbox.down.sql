-- Reverts 0112. Messages not yet delivered are lost.
DROP TABLE IF EXISTS outbox_messages;
