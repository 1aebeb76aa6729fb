-- Every request, from arrival to result: enough to answer /vary and /reseed and to audit spend.
CREATE TABLE generations (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id             INTEGER NOT NULL,
    guild_id            INTEGER,
    channel_id          INTEGER,
    interaction_id      INTEGER,
    kind                TEXT    NOT NULL DEFAULT 'generate',
    parent_id           INTEGER REFERENCES generations(id),
    prompt              TEXT    NOT NULL,
    negative_prompt     TEXT,
    aspect              TEXT    NOT NULL,
    count               INTEGER NOT NULL,
    requested_seed      INTEGER,
    model               TEXT    NOT NULL,
    private             INTEGER NOT NULL DEFAULT 0,
    status              TEXT    NOT NULL DEFAULT 'pending',
    provider            TEXT,
    model_id            TEXT,
    seeds               TEXT    NOT NULL DEFAULT '[]',
    cost_usd            REAL,
    cost_source         TEXT,
    error               TEXT,
    provider_latency_ms REAL,
    total_latency_ms    REAL,
    created_at          REAL    NOT NULL,
    finished_at         REAL,
    message_id          INTEGER
);

CREATE INDEX generations_user_latest ON generations (user_id, status, id);
CREATE INDEX generations_message ON generations (message_id);
CREATE INDEX generations_guild_created ON generations (guild_id, created_at);
