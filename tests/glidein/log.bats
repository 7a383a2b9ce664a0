#!/usr/bin/env bats
# lib/log.sh: flat NDJSON records, JSON escaping checked against Python's json.

load helpers/common

@test "nasty strings round-trip through Python's json exactly" {
    "$PYTHON" - "$BATS_TEST_TMPDIR" <<'PY'
import random, sys
from pathlib import Path
d = Path(sys.argv[1])
cases = [
    b'plain', b'', b'"quoted"', b'back\\slash', b'\\"', b'new\nline', b'cr\rlf\r\n',
    b'tab\there', b'\x01\x02\x07\x08\x0b\x0c\x1b\x1f', b'del\x7f', b'caf\xc3\xa9',
    b'\xe6\x97\xa5\xe6\x9c\xac', b'\xf0\x9f\x98\x80 emoji', b'$(rm -rf /) `x` $HOME',
    b"it's", b'%s %d %%', b'\\u0000', b'\xef\xbf\xbd', b'a=b=c', b'{"json":1}',
    b'\xff bad', b'\xc3', b'\xe2\x82', b'\xed\xa0\x80 surrogate', b'\xc0\xaf overlong',
    b'\xf4\x90\x80\x80 too big', b'x' * 3000,
]
rng = random.Random(7)
alphabet = [bytes([b]) for b in range(1, 256)] + ['é'.encode(), '😀'.encode(), b'\\', b'"']
for _ in range(150):
    cases.append(b''.join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))))
for i, case in enumerate(cases):
    (d / f'case{i:03d}').write_bytes(case)
PY
    run bash -c '
        . "$1/lib/log.sh"
        for f in "$2"/case*; do
            v=$(cat "$f"; printf x)
            log_event info test.escape "v=${v%x}" case="${f##*/}"
        done 2>/dev/null >"$2/out.ndjson"' _ "$GLIDEIN" "$BATS_TEST_TMPDIR"
    [ "$status" -eq 0 ]
    run "$PYTHON" - "$BATS_TEST_TMPDIR" <<'PY'
import json, sys
from pathlib import Path
d = Path(sys.argv[1])
lines = (d / 'out.ndjson').read_bytes().split(b'\n')[:-1]
assert len(lines) == len(list(d.glob('case*'))), len(lines)
for line in lines:
    record = json.loads(line)          # must be valid JSON (and valid UTF-8)
    want = (d / record['case']).read_bytes().decode('utf-8', 'replace')
    assert record['v'] == want, (record['case'], record['v'], want)
print('ok', len(lines))
PY
    echo "$output"
    [ "$status" -eq 0 ]
}

@test "records are flat, typed and carry seq, ts, level, event" {
    run bash -c '
        . "$1/lib/log.sh"
        log_event warning test.types msg="hello" n:=42 f:=-1.5e3 yes:=true s=42 bad:=nan seq=9 glidein=x
        log_event bogus test.level
        log_event info "bad event/name"' _ "$GLIDEIN"
    [ "$status" -eq 0 ]
    printf '%s\n' "$output" | grep '^{' >"$BATS_TEST_TMPDIR/r.ndjson"
    check_records "$BATS_TEST_TMPDIR/r.ndjson"
    run "$PYTHON" -c '
import json, sys
a, b, c = [json.loads(l) for l in open(sys.argv[1])]
assert a["level"] == "warning" and a["event"] == "test.types" and a["msg"] == "hello"
assert a["n"] == 42 and a["f"] == -1500.0 and a["yes"] is True and a["s"] == "42"
assert a["bad"] == "nan"                      # not a JSON number: kept as a string
assert a["seq"] != 9 and a["field_seq"] == "9" and a["field_glidein"] == "x"
assert b["level"] == "info"                   # unknown level coerced
assert c["event"] == "bad_event_name"
' "$BATS_TEST_TMPDIR/r.ndjson"
    [ "$status" -eq 0 ]
}

@test "seq keeps increasing across processes sharing the spool" {
    run bash -c '
        . "$1/lib/log.sh"
        log_init "$2/spool"
        log_event info parent.one
        bash -c ". \"$1/lib/log.sh\"; for i in 1 2 3; do log_event info child.rec i:=\$i; done" &
        bash -c ". \"$1/lib/log.sh\"; for i in 1 2 3; do log_event info other.rec i:=\$i; done" &
        wait
        log_event info parent.two' _ "$GLIDEIN" "$BATS_TEST_TMPDIR" 2>/dev/null
    [ "$status" -eq 0 ]
    check_records "$BATS_TEST_TMPDIR/spool/records.ndjson"
    [ "$(wc -l <"$BATS_TEST_TMPDIR/spool/records.ndjson")" -eq 8 ]
    run events "$BATS_TEST_TMPDIR/spool/records.ndjson"
    [ "${lines[0]}" = parent.one ]
    [ "${lines[7]}" = parent.two ]
}

@test "an oversized record is cut to fit, and stays valid" {
    run bash -c '
        . "$1/lib/log.sh"
        big=$(printf "%05000d" 0)
        args=()
        for i in $(seq 1 80); do args+=("k$i=$big"); done
        log_event info test.big msg="$big$big" "${args[@]}"' _ "$GLIDEIN"
    [ "$status" -eq 0 ]
    printf '%s\n' "$output" | grep '^{' >"$BATS_TEST_TMPDIR/r.ndjson"
    check_records "$BATS_TEST_TMPDIR/r.ndjson"
    [ "$(wc -c <"$BATS_TEST_TMPDIR/r.ndjson")" -lt 16384 ]
    [ "$(field "$BATS_TEST_TMPDIR/r.ndjson" test.big truncated)" = true ]
    [ "$(field "$BATS_TEST_TMPDIR/r.ndjson" test.big fields_dropped)" -gt 0 ]
}

# in_lock_signal SCRIPT: run SCRIPT (after sourcing log.sh, log_init) with a USR1 sent to
# the shell itself inside the spool lock of its first append, as a signal arriving
# mid-append would; its trap logs. Records in $BATS_TEST_TMPDIR/spool.
in_lock_signal() {
    bash -c '
        . "$1/lib/log.sh"
        log_init "$2/spool"
        eval "original$(declare -f _log_write)"
        sent=0
        _log_write() {
            if ((!sent)); then sent=1; kill -USR1 "$BASHPID"; fi
            original_log_write "$@"
        }
        eval "$3"' _ "$GLIDEIN" "$BATS_TEST_TMPDIR" "$1" 2>/dev/null
}

@test "a trap that logs mid-append: no record lost, no seq taken twice (flock)" {
    SECONDS=0
    run in_lock_signal '
        trap "log_event warning trap.fired n:=1" USR1
        log_event info main.one
        log_event info main.two'
    [ "$status" -eq 0 ]
    [ "$SECONDS" -lt 4 ]   # the trap never waited for a lock its own shell held
    check_records "$BATS_TEST_TMPDIR/spool/records.ndjson"
    run events "$BATS_TEST_TMPDIR/spool/records.ndjson"
    [ "${lines[*]}" = "main.one trap.fired main.two" ]
}

@test "a trap that ends the shell mid-append (log_when_idle): both records kept" {
    run in_lock_signal '
        on_usr1() { log_event error trap.ending; exit 13; }
        trap "log_when_idle on_usr1" USR1
        log_event info main.one
        log_event info main.never'
    [ "$status" -eq 13 ]
    check_records "$BATS_TEST_TMPDIR/spool/records.ndjson"
    run events "$BATS_TEST_TMPDIR/spool/records.ndjson"
    [ "${lines[*]}" = "main.one trap.ending" ]
}

@test "without flock: the same, and writers in parallel never share a seq" {
    export GLIDEIN_LOG_NO_FLOCK=1
    run in_lock_signal '
        trap "log_event warning trap.fired" USR1
        log_event info main.one
        for w in 1 2 3; do
            bash -c ". \"$1/lib/log.sh\"; for i in \$(seq 1 30); do log_event info child.rec w:=$w i:=\$i; done" &
        done
        for i in $(seq 1 30); do log_event info main.rec i:=$i; done
        wait'
    [ "$status" -eq 0 ]
    check_records "$BATS_TEST_TMPDIR/spool/records.ndjson"
    [ "$(wc -l <"$BATS_TEST_TMPDIR/spool/records.ndjson")" -eq 122 ]
    [ ! -e "$BATS_TEST_TMPDIR/spool/.lock.owner" ]
}

@test "without flock: a lock left by a dead writer is broken once, a live one never" {
    export GLIDEIN_LOG_NO_FLOCK=1
    mkdir -p "$BATS_TEST_TMPDIR/spool"
    sleep 60 &
    live=$!
    bash -c 'exit 0' &
    dead=$!
    wait "$dead"
    printf '%s.1.1\n' "$dead" >"$BATS_TEST_TMPDIR/spool/.lock.owner"
    run bash -c '. "$1/lib/log.sh"; log_init "$2/spool"; log_event info after.dead' _ \
        "$GLIDEIN" "$BATS_TEST_TMPDIR" 2>/dev/null
    [ "$status" -eq 0 ]
    [ -e "$BATS_TEST_TMPDIR/spool/.lock.stale.$dead.1.1" ]
    printf '%s.2.2\n' "$live" >"$BATS_TEST_TMPDIR/spool/.lock.owner"
    run timeout 3 bash -c '. "$1/lib/log.sh"; log_init "$2/spool"; log_event info blocked' _ \
        "$GLIDEIN" "$BATS_TEST_TMPDIR"
    kill "$live"
    [ "$status" -eq 124 ]   # still waiting for the live holder
    run events "$BATS_TEST_TMPDIR/spool/records.ndjson"
    [ "${lines[*]}" = "after.dead" ]
}

@test "a file system where flock fails: the lock file takes over, nothing is lost" {
    mkdir -p "$BATS_TEST_TMPDIR/bin"
    printf '#!/bin/sh\nexit 1\n' >"$BATS_TEST_TMPDIR/bin/flock"
    chmod +x "$BATS_TEST_TMPDIR/bin/flock"
    PATH=$BATS_TEST_TMPDIR/bin:$PATH run bash -c '
        . "$1/lib/log.sh"
        log_init "$2/spool"
        log_event info one
        bash -c ". \"$1/lib/log.sh\"; for i in 1 2 3; do log_event info child i:=\$i; done" &
        log_event info two
        wait' _ "$GLIDEIN" "$BATS_TEST_TMPDIR" 2>/dev/null
    [ "$status" -eq 0 ]
    check_records "$BATS_TEST_TMPDIR/spool/records.ndjson"
    [ "$(wc -l <"$BATS_TEST_TMPDIR/spool/records.ndjson")" -eq 5 ]
    [ ! -e "$BATS_TEST_TMPDIR/spool/.lock.owner" ]
}
