"""The SQLite schema as the migrations leave it (store/sqlite.py MIGRATIONS), loaded into a
new database in one transaction instead of replaying every step, as Rails loads schema.rb:
a first `logctl ingest` spends milliseconds on its schema instead of a tenth of a second
importing sqlite_utils and replaying history. Each statement is the text SQLite keeps in
sqlite_master after the replay; tests/store/test_sqlite.py checks the two stay identical
(when a migration is added, it fails and prints the statements to paste here)."""

VERSION = 3
STATEMENTS = (
    'CREATE TABLE "meta" (\n'
    '   "key" TEXT PRIMARY KEY,\n'
    '   "value" TEXT\n'
    ')',
    'CREATE TABLE "series" (\n'
    '   "id" INTEGER PRIMARY KEY,\n'
    '   "source" TEXT NOT NULL,\n'
    '   "host" TEXT NOT NULL,\n'
    '   "method" TEXT NOT NULL,\n'
    '   "route" TEXT NOT NULL,\n'
    '   "status" INTEGER NOT NULL\n'
    ')',
    'CREATE UNIQUE INDEX "idx_series_source_host_method_route_status"\n'
    '    ON "series" ("source", "host", "method", "route", "status")',
    'CREATE TABLE "malformed" (\n'
    '   "source" TEXT,\n'
    '   "minute" INTEGER,\n'
    '   "count" INTEGER,\n'
    '   PRIMARY KEY ("source", "minute")\n'
    ')',
    'CREATE TABLE "malformed_samples" (\n'
    '   "id" INTEGER PRIMARY KEY,\n'
    '   "source" TEXT,\n'
    '   "line" TEXT\n'
    ')',
    'CREATE TABLE "batches" (\n'
    '   "batch_id" TEXT PRIMARY KEY,\n'
    '   "source" TEXT,\n'
    '   "source_id" TEXT,\n'
    '   "start_offset" INTEGER,\n'
    '   "end_offset" INTEGER,\n'
    '   "lines" INTEGER,\n'
    '   "committed_at" REAL\n'
    ')',
    'CREATE INDEX "idx_batches_source_id_end_offset"\n'
    '    ON "batches" ("source_id", "end_offset")',
    'CREATE TABLE "hour_points" (\n'
    '   "hour" INTEGER,\n'
    '   "series_id" INTEGER,\n'
    '   "count" INTEGER,\n'
    '   "errors" INTEGER,\n'
    '   "client_errors" INTEGER,\n'
    '   "bytes" INTEGER,\n'
    '   "latency_count" INTEGER,\n'
    '   "latency_sum" REAL,\n'
    '   "latency_max" REAL,\n'
    '   "hist" BLOB,\n'
    '   "first_ts" REAL,\n'
    '   "last_ts" REAL,\n'
    '   PRIMARY KEY ("hour", "series_id")\n'
    ')',
    'CREATE TABLE "source_points" (\n'
    '   "minute" INTEGER,\n'
    '   "source" TEXT,\n'
    '   "count" INTEGER,\n'
    '   "errors" INTEGER,\n'
    '   "client_errors" INTEGER,\n'
    '   "bytes" INTEGER,\n'
    '   "latency_count" INTEGER,\n'
    '   "latency_sum" REAL,\n'
    '   "latency_max" REAL,\n'
    '   "hist" BLOB,\n'
    '   "first_ts" REAL,\n'
    '   "last_ts" REAL,\n'
    '   PRIMARY KEY ("minute", "source")\n'
    ')',
    'CREATE TABLE "dirty_hours" (\n'
    '   "hour" INTEGER PRIMARY KEY,\n'
    '   "marked_at" REAL\n'
    ')',
    'CREATE TABLE "points" (\n'
    '   "series_id" INTEGER REFERENCES "series"("id"),\n'
    '   "minute" INTEGER,\n'
    '   "count" INTEGER,\n'
    '   "errors" INTEGER,\n'
    '   "client_errors" INTEGER,\n'
    '   "bytes" INTEGER,\n'
    '   "latency_count" INTEGER,\n'
    '   "latency_sum" REAL,\n'
    '   "latency_max" REAL,\n'
    '   "hist" BLOB,\n'
    '   "first_ts" REAL,\n'
    '   "last_ts" REAL,\n'
    '   PRIMARY KEY ("minute", "series_id")\n'
    ')',
)
