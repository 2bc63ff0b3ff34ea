-- Reverts 0050. Drops pending MFA challenges: users in the middle of a sign-in start again.
DROP TABLE IF EXISTS mfa_challenges;
