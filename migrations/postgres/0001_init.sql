-- cimon store, version 1 (PostgreSQL). Keep in step with ../sqlite/0001_init.sql.
-- Ids are 64-bit hashes stored as signed integers: a run's id is store::run_id(key), a
-- test's id is model::TestId. Times are milliseconds since the Unix epoch (UTC).

-- One row per run key: the columns the queries filter and sort on. `seq` numbers runs in
-- the order they were stored; the per-run tables below are keyed by it, so a new run
-- appends to them instead of landing at a random place of their B-trees (the ids are
-- hashes).
CREATE TABLE runs (
    id                BIGINT PRIMARY KEY,
    seq               BIGINT  NOT NULL UNIQUE GENERATED ALWAYS AS IDENTITY,
    key               TEXT    NOT NULL UNIQUE,
    provider          TEXT    NOT NULL,
    repository        TEXT,
    workflow          TEXT,
    job               TEXT,
    branch            TEXT,
    sha               TEXT,
    run_id            TEXT,
    run_attempt       BIGINT NOT NULL,
    outcome           TEXT    NOT NULL,
    started_at        BIGINT,
    finished_at       BIGINT NOT NULL,
    received_at       BIGINT NOT NULL,
    duration_ms       BIGINT,
    queued_ms         BIGINT,
    tests_total       BIGINT NOT NULL,
    tests_passed      BIGINT NOT NULL,
    tests_failed      BIGINT NOT NULL,
    tests_errored     BIGINT NOT NULL,
    tests_skipped     BIGINT NOT NULL,
    tests_flaky       BIGINT NOT NULL,
    tests_duration_ms BIGINT NOT NULL
);
-- `runs` newest first, globally and per repository (+ branch): listing pages and the
-- windows of the test statistics.
CREATE INDEX runs_finished ON runs (finished_at, id);
CREATE INDEX runs_repository ON runs (repository, finished_at, id);
CREATE INDEX runs_repository_branch ON runs (repository, branch, finished_at, id);

-- The run report exactly as posted (JSON, deflated: see src/store/packed.rs), apart from
-- `runs` so that scans of `runs` stay small.
CREATE TABLE run_reports (
    run_seq BIGINT PRIMARY KEY REFERENCES runs (seq) ON DELETE CASCADE,
    report  BYTEA NOT NULL
);

-- The outcome of every test of a run, packed in one value (9 bytes per test: see
-- src/store/packed.rs): what `test_stats` reads, one value per run of the window.
CREATE TABLE run_tests_packed (
    run_seq BIGINT PRIMARY KEY REFERENCES runs (seq) ON DELETE CASCADE,
    tests   BYTEA NOT NULL
);
-- Both are compressed or incompressible already: store them out of line, uncompressed.
ALTER TABLE run_reports ALTER COLUMN report SET STORAGE EXTERNAL;
ALTER TABLE run_tests_packed ALTER COLUMN tests SET STORAGE EXTERNAL;

-- Names of the tests, once per test id.
CREATE TABLE tests (
    id         BIGINT PRIMARY KEY,
    repository TEXT,
    suite      TEXT NOT NULL,
    classname  TEXT,
    name       TEXT NOT NULL
);

-- One row per test per run (for `test_history` and SQL users). Keyed by run first: a new
-- run appends, and one test's history is one point lookup per run of the window.
CREATE TABLE test_results (
    run_seq     BIGINT NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,
    test        BIGINT NOT NULL,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('passed', 'failed', 'errored', 'skipped')),
    flaky       BOOLEAN NOT NULL,
    attempts    BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    PRIMARY KEY (run_seq, test)
);

-- Per pipeline (provider, repository, workflow, job, branch; '-' for a missing value): the
-- latest run, and counters kept up to date by each new run (monotonic, for /metrics).
-- b1..b9 are the cumulative duration-histogram buckets of model::DURATION_BUCKETS_SECONDS.
-- A pipeline is split into `shard` rows (PostgreSQL: 16, by run id; SQLite, one writer: 1)
-- so that concurrent runs of one pipeline do not queue on one row lock; readers add the
-- shards up and take the latest run across them.
CREATE TABLE pipelines (
    provider         TEXT    NOT NULL,
    repository       TEXT    NOT NULL,
    workflow         TEXT    NOT NULL,
    job              TEXT    NOT NULL,
    branch           TEXT    NOT NULL,
    shard            BIGINT NOT NULL,
    last_run         BIGINT NOT NULL,
    last_finished_at BIGINT NOT NULL,
    runs_success     BIGINT NOT NULL,
    runs_failure     BIGINT NOT NULL,
    runs_cancelled   BIGINT NOT NULL,
    runs_skipped     BIGINT NOT NULL,
    runs_unknown     BIGINT NOT NULL,
    duration_count   BIGINT NOT NULL,
    duration_sum_ms  BIGINT NOT NULL,
    b1 BIGINT NOT NULL, b2 BIGINT NOT NULL, b3 BIGINT NOT NULL,
    b4 BIGINT NOT NULL, b5 BIGINT NOT NULL, b6 BIGINT NOT NULL,
    b7 BIGINT NOT NULL, b8 BIGINT NOT NULL, b9 BIGINT NOT NULL,
    PRIMARY KEY (provider, repository, workflow, job, branch, shard)
);
CREATE INDEX pipelines_last_finished ON pipelines (last_finished_at);
