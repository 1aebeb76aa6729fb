-- The quota ledger: every charge is a reservation first (checked against every limit, atomically),
-- then committed at the actual cost, or released. Money is integer micro-dollars (exact sums);
-- times are UTC epoch seconds; `day` ('YYYY-MM-DD') and `month` ('YYYY-MM') are UTC periods.

-- An admin's reset of a user's day in one server: the audit trail, and what was forgiven.
CREATE TABLE quota_resets (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id    INTEGER,
    user_id     INTEGER NOT NULL,
    day         TEXT    NOT NULL,
    reset_by    INTEGER,
    created_at  REAL    NOT NULL,
    images      INTEGER NOT NULL,
    usd_micros  INTEGER NOT NULL
);

CREATE TABLE quota_reservations (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id            INTEGER NOT NULL,
    guild_id           INTEGER,
    generation_id      INTEGER REFERENCES generations(id),
    images             INTEGER NOT NULL CHECK (images >= 0),
    est_usd_micros     INTEGER NOT NULL CHECK (est_usd_micros >= 0),
    actual_images      INTEGER CHECK (actual_images >= 0),
    actual_usd_micros  INTEGER CHECK (actual_usd_micros >= 0),
    status             TEXT    NOT NULL DEFAULT 'reserved'
                       CHECK (status IN ('reserved', 'committed', 'released', 'expired')),
    release_reason     TEXT,
    created_at         REAL    NOT NULL,
    expires_at         REAL    NOT NULL,
    settled_at         REAL,
    day                TEXT    NOT NULL,
    month              TEXT    NOT NULL,
    reset_id           INTEGER REFERENCES quota_resets(id),
    CHECK (status != 'committed' OR (actual_images IS NOT NULL AND actual_usd_micros IS NOT NULL))
);

CREATE INDEX quota_reservations_user_day ON quota_reservations (user_id, guild_id, day);
CREATE INDEX quota_reservations_user_month ON quota_reservations (user_id, guild_id, month);
CREATE INDEX quota_reservations_user_created ON quota_reservations (user_id, created_at);
CREATE INDEX quota_reservations_guild_month ON quota_reservations (guild_id, month);
CREATE INDEX quota_reservations_guild_day ON quota_reservations (guild_id, day);
CREATE INDEX quota_reservations_day ON quota_reservations (day);
CREATE INDEX quota_reservations_open ON quota_reservations (expires_at) WHERE status = 'reserved';

-- A server's own limits; NULL inherits the bot's default.
CREATE TABLE guild_quotas (
    guild_id                  INTEGER PRIMARY KEY,
    user_daily_images         INTEGER CHECK (user_daily_images >= 0),
    user_daily_usd_micros     INTEGER CHECK (user_daily_usd_micros >= 0),
    cooldown_seconds          REAL    CHECK (cooldown_seconds >= 0),
    max_concurrent            INTEGER CHECK (max_concurrent >= 0),
    guild_monthly_usd_micros  INTEGER CHECK (guild_monthly_usd_micros >= 0),
    updated_at                REAL    NOT NULL,
    updated_by                INTEGER
);

-- A role's limits in one server: more (or fewer) than the server's, or none at all (exempt).
CREATE TABLE role_quotas (
    guild_id               INTEGER NOT NULL,
    role_id                INTEGER NOT NULL,
    exempt                 INTEGER NOT NULL DEFAULT 0,
    user_daily_images      INTEGER CHECK (user_daily_images >= 0),
    user_daily_usd_micros  INTEGER CHECK (user_daily_usd_micros >= 0),
    cooldown_seconds       REAL    CHECK (cooldown_seconds >= 0),
    max_concurrent         INTEGER CHECK (max_concurrent >= 0),
    updated_at             REAL    NOT NULL,
    updated_by             INTEGER,
    PRIMARY KEY (guild_id, role_id)
);
