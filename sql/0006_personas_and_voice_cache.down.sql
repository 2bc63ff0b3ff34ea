DROP TABLE IF EXISTS voice_cache_entries;
DROP TABLE IF EXISTS user_persona_preferences;
DROP TABLE IF EXISTS personas;
