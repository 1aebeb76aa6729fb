-- Per-server content safety: the server's choices, and its own block-list terms.
-- Mirrors sqlite/0004_safety.sql. 0003 belongs to another branch; numbers are applied in order.

-- NULL level or people: follow the operator's default (CANVASBOT_SAFETY_LEVEL; adults allowed).
CREATE TABLE guild_safety (
    guild_id           BIGINT PRIMARY KEY,
    level              TEXT CHECK (level IN ('strict', 'standard', 'relaxed')),
    people             TEXT CHECK (people IN ('allow_adult', 'dont_allow')),
    modlog_channel_id  BIGINT,
    updated_at         TIMESTAMPTZ NOT NULL,
    updated_by         BIGINT
);

-- A server's own terms, stored in their canonical form (bot.services.safety.normalize_term).
CREATE TABLE guild_blocked_terms (
    guild_id  BIGINT NOT NULL,
    term      TEXT   NOT NULL CHECK (char_length(term) BETWEEN 2 AND 100),
    added_by  BIGINT,
    added_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (guild_id, term)
);
