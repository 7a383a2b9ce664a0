#!/usr/bin/env bats
# lib/flush.sh against the scriptable fake ingest server.

load helpers/common

teardown() { stop_ingest; }

# flush_run N TIMEOUT: emit N records through a flusher posting to $INGEST_URL, then
# the final flush bounded by TIMEOUT; prints the seconds the final flush took.
flush_run() {
    echo secret >"$BATS_TEST_TMPDIR/token"
    bash -c '
        . "$1/lib/util.sh"; . "$1/lib/log.sh"; . "$1/lib/flush.sh"
        log_init "$2/spool"
        flusher_start "$3" "$2/token"
        for ((i = 0; i < $4; i++)); do log_event info test.rec i:=$i msg="record $i"; done
        sleep "${5:-0}"
        now_epoch; t0=$NOW
        flusher_stop "$6"
        now_epoch; echo "final_flush_s=$((NOW - t0))"
        echo "unsent=$(flusher_unsent | wc -l)"
        echo "state=$(cat "$2/spool/flusher.state")"
    ' _ "$GLIDEIN" "$BATS_TEST_TMPDIR" "$INGEST_URL" "$1" "${3:-0}" "$2"
}

@test "fails, 429s, 413s a big batch, then accepts: every record arrives exactly once" {
    export GLIDEIN_LOG_BATCH_RECORDS=20
    start_ingest 'drop,500,429:1,413>4,ok'
    run flush_run 45 30 1
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $output == *"unsent=0"* ]]
    cat "$BATS_TEST_TMPDIR/srv/requests.log"
    # the scripted answers all happened, in order
    run cut -d' ' -f1,2 "$BATS_TEST_TMPDIR/srv/requests.log"
    [ "${lines[0]}" = "drop 0" ]
    [ "${lines[1]}" = "500 500" ]
    [ "${lines[2]}" = "429:1 429" ]
    [ "${lines[3]}" = "413>4 413" ]
    grep -q '^413>4 200 lines=[1-4] ' "$BATS_TEST_TMPDIR/srv/requests.log"
    # stored exactly the spool, once each, nothing reported as duplicate
    run "$PYTHON" -c '
import json, sys
spool = [json.loads(l) for l in open(sys.argv[1])]
stored = [json.loads(l) for l in open(sys.argv[2])]
assert sorted(stored, key=lambda r: r["seq"]) == spool, (len(stored), len(spool))
assert len(spool) == 45
' "$BATS_TEST_TMPDIR/spool/records.ndjson" "$BATS_TEST_TMPDIR/srv/stored.ndjson"
    [ "$status" -eq 0 ]
    ! grep -q 'dup=[1-9]' "$BATS_TEST_TMPDIR/srv/requests.log"
    grep -q 'enc=gzip' "$BATS_TEST_TMPDIR/srv/requests.log"
}

@test "records are posted while the glidein runs, in batches of at most 100" {
    start_ingest ok
    echo secret >"$BATS_TEST_TMPDIR/token"
    run bash -c '
        . "$1/lib/util.sh"; . "$1/lib/log.sh"; . "$1/lib/flush.sh"
        log_init "$2/spool"
        flusher_start "$3" "$2/token"
        for ((i = 0; i < 250; i++)); do log_event info test.rec i:=$i; done
        for ((i = 0; i < 100; i++)); do
            [[ $(cat "$2/srv/stored.ndjson" 2>/dev/null | wc -l) -ge 250 ]] && break
            sleep 0.1
        done
        echo "before_stop=$(wc -l <"$2/srv/stored.ndjson")"
        flusher_stop 10' _ "$GLIDEIN" "$BATS_TEST_TMPDIR" "$INGEST_URL"
    [ "$status" -eq 0 ]
    [[ $output == *"before_stop=250"* ]]
    ! grep -q 'lines=\(10[1-9]\|1[1-9][0-9]\|[2-9][0-9][0-9]\)' "$BATS_TEST_TMPDIR/srv/requests.log"
}

@test "a 400 drops only the named lines and keeps them locally" {
    start_ingest ok
    echo secret >"$BATS_TEST_TMPDIR/token"
    run bash -c '
        . "$1/lib/util.sh"; . "$1/lib/log.sh"; . "$1/lib/flush.sh"
        log_init "$2/spool"
        log_event info test.good n:=1
        echo "{\"not\": \"a record\"}" >>"$2/spool/records.ndjson"
        log_event info test.good n:=2
        flusher_start "$3" "$2/token"
        flusher_stop 10
        echo "unsent=$(flusher_unsent | wc -l)"' _ "$GLIDEIN" "$BATS_TEST_TMPDIR" "$INGEST_URL"
    [ "$status" -eq 0 ]
    [[ $output == *"unsent=0"* ]]
    [ "$(wc -l <"$BATS_TEST_TMPDIR/srv/stored.ndjson")" -eq 2 ]
    grep -q '"not"' "$BATS_TEST_TMPDIR/spool/rejected.ndjson"
    [ "$(wc -l <"$BATS_TEST_TMPDIR/spool/rejected.ndjson")" -eq 1 ]
}

@test "a 400 that refuses the body as a whole: retried uncompressed, nothing lost" {
    start_ingest badgzip,ok
    run flush_run 5 10
    [ "$status" -eq 0 ]
    [[ $output == *"unsent=0"* ]]
    [ "$(wc -l <"$BATS_TEST_TMPDIR/srv/stored.ndjson")" -eq 5 ]
    grep -q '^ok 200 lines=5 dup=0 enc=identity$' "$BATS_TEST_TMPDIR/srv/requests.log"
}

@test "401 stops posting and keeps the spool" {
    start_ingest ok other-token
    run flush_run 5 10
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $output == *"state=auth_failed"* ]]
    [[ $output == *"unsent=5"* ]]
    [ "$(grep -c ' 401 ' "$BATS_TEST_TMPDIR/srv/requests.log")" -eq 1 ]
}

@test "a server that never answers does not delay exit beyond the flush timeout" {
    start_ingest hang
    run flush_run 5 3
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $output =~ final_flush_s=([0-9]+) ]]
    [ "${BASH_REMATCH[1]}" -le 6 ]
    [[ $output == *"unsent=5"* ]]
}

@test "a server that is down: backoff, then the final flush gives up in time" {
    start_ingest ok
    stop_ingest
    run flush_run 5 3 1
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $output =~ final_flush_s=([0-9]+) ]]
    [ "${BASH_REMATCH[1]}" -le 6 ]
    [[ $output == *"unsent=5"* ]]
}

@test "a pilot killed with -9: the orphaned flusher still delivers, then exits" {
    start_ingest ok
    echo secret >"$BATS_TEST_TMPDIR/token"
    GLIDEIN_LOG_BATCH_SECONDS=30 bash -c '
        . "$1/lib/util.sh"; . "$1/lib/log.sh"; . "$1/lib/flush.sh"
        log_init "$2/spool"
        flusher_start "$3" "$2/token"
        echo "$FLUSHER_PID" >"$2/flusher.pid"
        for ((i = 0; i < 7; i++)); do log_event info test.rec i:=$i; done
        kill -KILL $$' _ "$GLIDEIN" "$BATS_TEST_TMPDIR" "$INGEST_URL" || true
    flusher=$(cat "$BATS_TEST_TMPDIR/flusher.pid")
    for ((i = 0; i < 100; i++)); do
        kill -0 "$flusher" 2>/dev/null || break
        sleep 0.1
    done
    ! kill -0 "$flusher" 2>/dev/null
    [ "$(wc -l <"$BATS_TEST_TMPDIR/srv/stored.ndjson")" -eq 7 ]
}
