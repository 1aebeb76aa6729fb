-- Per-server content safety: the server's choices, and its own block-list terms.
-- 0003 belongs to another branch; numbers are applied in order, each once.

-- NULL level or people: follow the operator's default (CANVASBOT_SAFETY_LEVEL; adults allowed).
CREATE TABLE guild_safety (
    guild_id           INTEGER PRIMARY KEY,
    level              TEXT CHECK (level IN ('strict', 'standard', 'relaxed')),
    people             TEXT CHECK (people IN ('allow_adult', 'dont_allow')),
    modlog_channel_id  INTEGER,
    updated_at         REAL    NOT NULL,
    updated_by         INTEGER
);

-- A server's own terms, stored in their canonical form (bot.services.safety.normalize_term).
CREATE TABLE guild_blocked_terms (
    guild_id  INTEGER NOT NULL,
    term      TEXT    NOT NULL CHECK (length(term) BETWEEN 2 AND 100),
    added_by  INTEGER,
    added_at  REAL    NOT NULL,
    PRIMARY KEY (guild_id, term)
);
