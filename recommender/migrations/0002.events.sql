-- Reader events as time-decayed aggregates (see recommender/events.py): the
-- tables of events.sqlite under the same names. No row names a reader.
-- depends: 0001.shared-state

CREATE TABLE recommender.event_shown (
    shown TEXT NOT NULL, block TEXT NOT NULL, variant TEXT NOT NULL,
    impressions DOUBLE PRECISION NOT NULL, clicks DOUBLE PRECISION NOT NULL,
    as_of DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (shown, block, variant)
);
CREATE TABLE recommender.event_pairs (
    source TEXT NOT NULL, shown TEXT NOT NULL,
    impressions DOUBLE PRECISION NOT NULL, clicks DOUBLE PRECISION NOT NULL,
    as_of DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (source, shown)
);
CREATE TABLE recommender.event_positions (
    shown TEXT NOT NULL, block TEXT NOT NULL, position INTEGER NOT NULL,
    impressions DOUBLE PRECISION NOT NULL, clicks DOUBLE PRECISION NOT NULL,
    as_of DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (shown, block, position)
);
