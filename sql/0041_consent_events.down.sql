-- Reverts 0041. Drops the consent history (the current consent stays on users).
DROP TABLE IF EXISTS consent_events;
