# Shared setup for the pilot's bats tests.
# shellcheck shell=bash

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
GLIDEIN=$REPO/glidein
HELPERS=$BATS_TEST_DIRNAME/helpers
PYTHON=${PYTHON:-$(command -v python3)}
[[ -x $REPO/.venv/bin/python ]] && PYTHON=$REPO/.venv/bin/python

# start_ingest PLAN [TOKEN]: the fake log server in $BATS_TEST_TMPDIR/srv;
# sets INGEST_URL and INGEST_PID.
start_ingest() {
    local plan=$1 token=${2:-secret} i
    "$PYTHON" "$HELPERS/fake_ingest.py" --dir "$BATS_TEST_TMPDIR/srv" --plan "$plan" \
        --token "$token" >"$BATS_TEST_TMPDIR/srv.out" 2>&1 3>&- &
    INGEST_PID=$!
    for ((i = 0; i < 100; i++)); do
        [[ -s $BATS_TEST_TMPDIR/srv/port ]] && break
        sleep 0.1
    done
    INGEST_URL="http://127.0.0.1:$(cat "$BATS_TEST_TMPDIR/srv/port")/api/v1/logs"
}

stop_ingest() {
    [[ -n ${INGEST_PID-} ]] && kill "$INGEST_PID" 2>/dev/null
    wait "$INGEST_PID" 2>/dev/null || true
    INGEST_PID=""
}

# pilot_files: token files, attrs and the glidein tarball in $BATS_TEST_TMPDIR.
pilot_files() {
    cd "$BATS_TEST_TMPDIR" || return 1
    echo secret >log.token
    echo eyJhbGciOiJIUzI1NiJ9.e30.sig >id.token
    printf "GLIDEIN_Site='TEST_SITE'\nGLIDEIN_CPUS='1'\n" >attrs
    tar -czf glidein.tgz -C "$REPO" glidein
}

# run_pilot [ARGS...]: glidein_startup.sh with the standard arguments (plus ARGS),
# fast settings for tests. Output in $output, status in $status (bats run).
pilot_args() {
    PILOT_ARGS=(--id "g-${BATS_TEST_NUMBER}" --entry ENTRY_T --factory fact
        --collector 127.0.0.1:9 --log-url "$INGEST_URL" --idtoken id.token
        --log-token log.token --attrs attrs --glidein-tarball glidein.tgz)
}

export GLIDEIN_LOG_BATCH_SECONDS=1
export GLIDEIN_LOG_POLL_SECONDS=0.2
export GLIDEIN_LOG_FLUSH_TIMEOUT=10
export GLIDEIN_WORKLOAD_SECONDS=1
export GLIDEIN_NETWORK_TIMEOUT=2
export GLIDEIN_LOG_STDERR_LEVEL=critical

# records FILE: assert every line is a record and seq strictly increases.
check_records() {
    "$PYTHON" - "$1" <<'PY'
import json, re, sys
seqs = []
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)", r["ts"]), r
    assert r["level"] in {"debug", "info", "warning", "error", "critical"}, r
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", r["event"]), r
    assert all(not isinstance(v, (dict, list)) and v is not None for v in r.values()), r
    seqs.append(r["seq"])
assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
PY
}

# events FILE: the event names, one a line, in seq order.
events() {
    "$PYTHON" -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
for r in sorted(recs, key=lambda r: r["seq"]):
    print(r["event"])' "$1"
}

# field FILE EVENT KEY: the value of KEY in the first record of EVENT.
field() {
    "$PYTHON" -c '
import json, sys
for l in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(l)
    if r["event"] == sys.argv[2]:
        v = r.get(sys.argv[3])
        print(json.dumps(v) if not isinstance(v, str) else v)
        break' "$1" "$2" "$3"
}
