-- Results reported to a server's mod-log: one post per person per image, remembered across
-- restarts and shared by every shard process.
CREATE TABLE result_reports (
    generation_id  INTEGER NOT NULL,
    reporter_id    INTEGER NOT NULL,
    guild_id       INTEGER,
    reported_at    REAL    NOT NULL,
    PRIMARY KEY (generation_id, reporter_id)
);
