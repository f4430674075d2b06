-- A/B tests of ranking knobs and the knobs a stopped experiment's winner made the
-- served default: the rules store's tables (recommender/rules.py), under the same
-- version counter and audit log.
-- depends: 0002.events

CREATE TABLE recommender.experiments (
    id TEXT PRIMARY KEY, variants TEXT NOT NULL, status TEXT NOT NULL,
    started TEXT NOT NULL, stopped TEXT, promoted TEXT, who TEXT NOT NULL
);
CREATE TABLE recommender.served_knobs (
    name TEXT PRIMARY KEY, value DOUBLE PRECISION NOT NULL,
    who TEXT NOT NULL, at TEXT NOT NULL
);
