#!/usr/bin/env bash
# make bench: issue 9's figures in one run.
# 1. The file drops (bench/bench_file_drops.py): BENCH_MACRO_BYTES (default 10 MB) of GBK CSV and
#    BENCH_POLYGONS (default 5,000) boundary polygons, each beside raw COPY of the same rows.
# 2. bench/bench_population.py: BENCH_ROWS (default 1,000,000) simulated people through the real
#    pipeline beside raw COPY and beside the peer, dlt (merge, and scd2 with its rerun), then the
#    pipeline's no-change reruns (full, reconcile) and a 1 % delta; legal entities
#    (BENCH_LEGAL_ENTITY_ROWS, default 1,000,000) and certificates (BENCH_CERTIFICATE_ROWS,
#    default 200,000; beside paging through the same API), each beside raw COPY. It ends with every
#    target of issue 9, met or MISSED (the file drops' lines included, through BENCH_TARGETS_FILE).
# The peer is installed here, from the pinned bench/peer-requirements.txt, into its own virtual
# environment .bench-peer/ (git-ignored), so dlt never enters the project's requirements.txt.
# BENCH_PEER=none skips the peer (and its install). BENCH_RESOURCES (comma list among
# population,legal_entity,certificate,macro_economy,spatial; default all) selects.
# Server: WAREHOUSE_URL's if set, else TEST_DATABASE_URL's, else the embedded PostgreSQL.
# 3. bench/bench_themes.py (issue 10; BENCH_THEMES=0 skips it): the credit theme at BENCH_THEME_ROWS
#    (else BENCH_ROWS, else 200,000) registrants: first full build, then a 1 % input delta refreshed
#    incrementally beside a full rebuild of the same inputs (medians of BENCH_REPEAT); its target
#    line joins the targets block.
# The last two lines are pipeline_vs_dlt=<population pipeline seconds / dlt merge seconds> and
# pipeline_vs_copy=<population pipeline seconds / raw COPY seconds>.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export PYTHONPATH="$PWD/plugins${PYTHONPATH:+:$PYTHONPATH}"

PEER_VENV=.bench-peer
PEER_REQUIREMENTS=bench/peer-requirements.txt
if [[ "${BENCH_PEER:-dlt}" != none ]]; then
    if [[ ! -x "$PEER_VENV/bin/python" || ! -f "$PEER_VENV/.installed" || "$PEER_REQUIREMENTS" -nt "$PEER_VENV/.installed" ]]; then
        echo "== Installing the peer (dlt, pinned in $PEER_REQUIREMENTS) into $PEER_VENV/"
        test -x "$PEER_VENV/bin/python" || .venv/bin/uv venv --quiet --python .venv/bin/python "$PEER_VENV"
        .venv/bin/uv pip sync --quiet --python "$PEER_VENV/bin/python" "$PEER_REQUIREMENTS"
        touch "$PEER_VENV/.installed"
    fi
    export BENCH_PEER_PYTHON="$PWD/$PEER_VENV/bin/python"
fi

BENCH_TARGETS_FILE="$(mktemp -t baselib-bench-targets.XXXXXX)"
export BENCH_TARGETS_FILE
trap 'rm -f "$BENCH_TARGETS_FILE"' EXIT

python bench/bench_file_drops.py
if [[ "${BENCH_THEMES:-1}" != 0 ]]; then
    python bench/bench_themes.py
fi
python bench/bench_population.py
