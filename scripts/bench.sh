#!/usr/bin/env bash
# make bench: N simulated population rows (BENCH_ROWS, default 1,000,000) through the real
# pipeline, timed next to raw COPY (the floor) and pandas to_sql (the tutorial baseline); then the
# legal-entity pipeline (BENCH_LEGAL_ENTITY_ROWS, default 1,000,000) and the certificate API
# pipeline (BENCH_CERTIFICATE_ROWS, default 200,000), each beside raw COPY of the same rows.
# Then the file drops (bench_file_drops.py): BENCH_MACRO_BYTES (default 10 MB) of GBK CSV and
# BENCH_POLYGONS (default 5,000) boundary polygons, each beside raw COPY of the same rows.
# BENCH_RESOURCES (comma list among population,legal_entity,certificate,macro_economy,spatial;
# default all) selects.
# Server: WAREHOUSE_URL's if set, else TEST_DATABASE_URL's, else the embedded PostgreSQL.
# The last line of output is pipeline_vs_copy=<population pipeline seconds / raw COPY seconds>.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export PYTHONPATH="$PWD/plugins${PYTHONPATH:+:$PYTHONPATH}"

python bench/bench_file_drops.py
python bench/bench_population.py
