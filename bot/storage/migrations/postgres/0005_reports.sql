-- Results reported to a server's mod-log: one post per person per image, remembered across
-- restarts and shared by every shard process. Mirrors sqlite/0005_reports.sql.
CREATE TABLE result_reports (
    generation_id  BIGINT      NOT NULL,
    reporter_id    BIGINT      NOT NULL,
    guild_id       BIGINT,
    reported_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (generation_id, reporter_id)
);
