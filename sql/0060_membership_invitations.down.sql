-- Reverts 0060. Drops open invitations: organizations invite again.
DROP TABLE IF EXISTS membership_invitations;
