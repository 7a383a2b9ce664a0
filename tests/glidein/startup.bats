#!/usr/bin/env bats
# glidein_startup.sh end to end: arguments, no-condor mode, validation failures,
# signals, a dead log server, and condor mode with a stand-in condor.

load helpers/common

setup() {
    pilot_files
    INGEST_URL=http://127.0.0.1:9/api/v1/logs
}

teardown() { stop_ingest; }

stored() { echo "$BATS_TEST_TMPDIR/srv/stored.ndjson"; }

@test "bad arguments exit 2 before anything runs" {
    pilot_args
    run "$GLIDEIN/glidein_startup.sh" --id x
    [ "$status" -eq 2 ]
    [[ $output == *"missing"*"--entry"* ]]
    run "$GLIDEIN/glidein_startup.sh" "${PILOT_ARGS[@]}" --bogus 1
    [ "$status" -eq 2 ]
    [[ $output == *"unknown argument: --bogus"* ]]
    run "$GLIDEIN/glidein_startup.sh" "${PILOT_ARGS[@]}" --max-walltime soon
    [ "$status" -eq 2 ]
    run "$GLIDEIN/glidein_startup.sh" "${PILOT_ARGS[@]/id.token/missing.token}"
    [ "$status" -eq 2 ]
    [[ $output == *"cannot read"* ]]
    run "$GLIDEIN/glidein_startup.sh" "${PILOT_ARGS[@]/127.0.0.1:9/no-port}"
    [ "$status" -eq 2 ]
    echo junk >bad.tgz
    run "$GLIDEIN/glidein_startup.sh" "${PILOT_ARGS[@]/glidein.tgz/bad.tgz}"
    [ "$status" -eq 2 ]
    [ -z "$(ls -d glide_* 2>/dev/null)" ]
}

@test "no-condor mode: validates, runs the workload, streams records, cleans up" {
    start_ingest ok
    pilot_args
    printf "GLIDEIN_Site='it'\\\\''s a site'\n" >>attrs
    GLIDEIN_CONDOR=none GLIDEIN_WORKLOAD='echo workload-ran; exit 3' \
        run "$GLIDEIN/glidein_startup.sh" "${PILOT_ARGS[@]}"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $output == *"Starting glidein_startup.sh"* ]]
    [[ $output == *"workload-ran"* ]]
    [[ $output == *"=== Glidein ending with code 0 (ok)"* ]]
    check_records "$(stored)"
    run events "$(stored)"
    [ "${lines[0]}" = glidein.start ]
    [[ $output == *validate.disk*validate.resources*validate.cvmfs*validate.apptainer*validate.gpus*validate.network*glidein.validated*workload.start*workload.end*glidein.end* ]]
    [ "$(field "$(stored)" glidein.attrs site)" = "it's a site" ]
    [ "$(field "$(stored)" workload.end exit_status)" = 3 ]
    [ "$(field "$(stored)" glidein.end reason)" = ok ]
    [ -z "$(ls -d glide_* 2>/dev/null)" ]   # private work dir removed
}

@test "a failed required check ends the glidein with exit 10 and the reason" {
    start_ingest ok
    pilot_args
    mkdir -p cvmfs/cms.cern.ch && touch cvmfs/cms.cern.ch/.cvmfsdirtab
    echo "GLIDEIN_CVMFS_REPOS='cms.cern.ch,atlas.cern.ch'" >>attrs
    GLIDEIN_CONDOR=none GLIDEIN_CVMFS_ROOT=$PWD/cvmfs run "$GLIDEIN/glidein_startup.sh" "${PILOT_ARGS[@]}"
    [ "$status" -eq 10 ]
    run events "$(stored)"
    [[ $output != *workload.start* ]]
    [ "$(field "$(stored)" validate.cvmfs result)" = fail ]
    [ "$(field "$(stored)" validate.cvmfs missing)" = atlas.cern.ch ]
    [ "$(field "$(stored)" glidein.validation_failed check)" = cvmfs ]
    [ "$(field "$(stored)" glidein.end reason)" = validation_failed ]
    [[ $(field "$(stored)" glidein.end detail) == *"atlas.cern.ch"* ]]
}

@test "SIGTERM in no-condor mode stops the workload and exits 13, logs flushed" {
    start_ingest ok
    pilot_args
    GLIDEIN_CONDOR=none GLIDEIN_WORKLOAD='sleep 61.5; echo never' \
        "$GLIDEIN/glidein_startup.sh" "${PILOT_ARGS[@]}" >out 2>err &
    pid=$!
    for ((i = 0; i < 100; i++)); do
        grep -q workload.start "$(stored)" 2>/dev/null && break
        sleep 0.1
    done
    grep -q workload.start "$(stored)"   # records arrive while it runs
    kill -TERM "$pid"
    wait "$pid" && status=0 || status=$?
    [ "$status" -eq 13 ]
    [ "$(field "$(stored)" glidein.signal signal)" = TERM ]
    [ "$(field "$(stored)" glidein.end reason)" = signalled ]
    sleep 0.5
    ! grep -qa 'sleep.61[.]5' /proc/[0-9]*/cmdline   # the workload's process group was stopped too
}

@test "SIGTERM to the whole process group (a batch system's kill): records still flushed" {
    start_ingest ok
    pilot_args
    GLIDEIN_CONDOR=none GLIDEIN_WORKLOAD='sleep 62.5; echo never' \
        setsid "$GLIDEIN/glidein_startup.sh" "${PILOT_ARGS[@]}" >out 2>err &
    pid=$!
    for ((i = 0; i < 100; i++)); do
        grep -q workload.start "$(stored)" 2>/dev/null && break
        sleep 0.1
    done
    kill -TERM -- "-$pid"
    wait "$pid" && status=0 || status=$?
    [ "$status" -eq 13 ]
    [ "$(field "$(stored)" glidein.end reason)" = signalled ]
    check_records "$(stored)"
    ! grep -q 'not delivered' out
}

@test "the max walltime stops the workload; heartbeats while it runs" {
    start_ingest ok
    pilot_args
    GLIDEIN_CONDOR=none GLIDEIN_WORKLOAD='sleep 63.5; echo never' GLIDEIN_HEARTBEAT_SECONDS=1 \
        SECONDS=0 run "$GLIDEIN/glidein_startup.sh" "${PILOT_ARGS[@]}" --max-walltime 3
    [ "$status" -eq 0 ]
    [ "$SECONDS" -lt 20 ]
    run events "$(stored)"
    [[ $output == *glidein.heartbeat*glidein.walltime*workload.end*glidein.end* ]]
    [ "$(field "$(stored)" glidein.end reason)" = ok ]
}

@test "a dead log server never stalls the glidein; records end up on stdout" {
    start_ingest hang
    pilot_args
    GLIDEIN_LOG_FLUSH_TIMEOUT=3 GLIDEIN_CONDOR=none SECONDS=0 \
        run "$GLIDEIN/glidein_startup.sh" "${PILOT_ARGS[@]}"
    [ "$status" -eq 0 ]
    [ "$SECONDS" -lt 15 ]
    [[ $output == *"log record(s) not delivered"* ]]
    printf '%s\n' "$output" | grep '^{"seq"' >undelivered.ndjson
    check_records undelivered.ndjson
    grep -q '"event":"glidein.end"' undelivered.ndjson
}

# condor mode, with helpers/fakecondor standing in for a condor install
condor_env() {
    export GLIDEIN_CONDOR_DIR=$HELPERS/fakecondor FAKE_CONDOR_STATE=$BATS_TEST_TMPDIR/condor
    export GLIDEIN_KEEP_WORKDIR=1 GLIDEIN_CONDOR_POLL_SECONDS=1
    mkdir -p "$FAKE_CONDOR_STATE"
    printf "GLIDEIN_BLACKHOLE_NUMJOBS='10'\nGLIDEIN_BLACKHOLE_RATE='0.01'\n" >>attrs
}

# start_condor_pilot [ARGS...]: the pilot in condor mode in the background (PILOT_PID),
# back once the fake master runs.
start_condor_pilot() {
    GLIDEIN_VALIDATE_SKIP=network "$GLIDEIN/glidein_startup.sh" "${PILOT_ARGS[@]}" "$@" >out 2>err &
    PILOT_PID=$!
    for ((i = 0; i < 100; i++)); do
        [[ -s $FAKE_CONDOR_STATE/master.pid ]] && break
        sleep 0.1
    done
}

@test "condor mode: config with the IDTOKEN, drain on SIGTERM, fast on the second" {
    start_ingest ok
    pilot_args
    condor_env
    export FAKE_DRAIN_SECONDS=60   # jobs still running: the drain takes long
    start_condor_pilot --retire-after 600 --max-walltime 3600
    config=$(cat "$FAKE_CONDOR_STATE/master.config")
    grep -q '^AglideinId = "g-'"$BATS_TEST_NUMBER"'"$' "$config"
    grep -q '^COLLECTOR_HOST = 127.0.0.1:9$' "$config"
    grep -q '^STARTD_LATCH_EXPRS = GLIDEIN_BLACKHOLE$' "$config"
    tokdir=$(sed -n 's/^SEC_TOKEN_DIRECTORY = //p' "$config")
    [ "$(stat -c %a "$tokdir/glidein.idtoken")" = 600 ]
    cmp -s "$tokdir/glidein.idtoken" id.token
    [[ $(cat "$FAKE_CONDOR_STATE/master.args") == "-f -pidfile "* ]]
    kill -TERM "$PILOT_PID"
    for ((i = 0; i < 50; i++)); do
        [[ -s $FAKE_CONDOR_STATE/master.signals ]] && break
        sleep 0.1
    done
    [ "$(cat "$FAKE_CONDOR_STATE/condor_off.calls")" = "-peaceful -daemon master" ]
    kill -TERM "$PILOT_PID"
    wait "$PILOT_PID" && status=0 || status=$?
    cat out err
    [ "$status" -eq 13 ]
    grep -q QUIT "$FAKE_CONDOR_STATE/master.signals"
    [ "$(field "$(stored)" condor.summary job_starts)" = 2 ]
    grep -q '"event":"condor.log_error"' "$(stored)"
    ! grep -q 'Daemon Log is logging' "$(stored)"   # HTCondor's banner names D_ERROR
    [ "$(field "$(stored)" condor.summary error_lines)" = 1 ]
    run events "$(stored)"
    [[ $output == *condor.configured*condor.started*condor.drain*condor.drain*condor.summary*glidein.end* ]]
}

@test "condor mode: one SIGTERM drains peacefully, ends the master and reports the end" {
    # issue 13: condor_off -daemon startd left condor_master up, so the pilot never
    # ended, sent no glidein.end, and the site job lingered.
    start_ingest ok
    pilot_args
    condor_env
    start_condor_pilot
    SECONDS=0
    kill -TERM "$PILOT_PID"
    wait "$PILOT_PID" && status=0 || status=$?
    cat out err
    [ "$status" -eq 13 ]
    [ "$SECONDS" -lt 30 ]
    [ "$(cat "$FAKE_CONDOR_STATE/master.signals")" = PEACEFUL ]
    ! kill -0 "$(cat "$FAKE_CONDOR_STATE/master.pid")" 2>/dev/null
    [ "$(field "$(stored)" glidein.end exit_code)" = 13 ]
    [ "$(field "$(stored)" glidein.end reason)" = signalled ]
    [ "$(field "$(stored)" condor.drain mode)" = peaceful ]
}

@test "condor mode: a tripped black hole exits 12; a failing master exits 11" {
    start_ingest ok
    pilot_args
    condor_env
    # the master would run for 150 s: the pilot ends it once it sees the latch
    SECONDS=0
    GLIDEIN_VALIDATE_SKIP=network FAKE_BLACKHOLE=true FAKE_MASTER_SECONDS=150 \
        run "$GLIDEIN/glidein_startup.sh" "${PILOT_ARGS[@]}"
    [ "$status" -eq 12 ]
    [ "$SECONDS" -lt 120 ]
    [ "$(cat "$FAKE_CONDOR_STATE/master.signals")" = PEACEFUL ]
    [ "$(field "$(stored)" condor.black_hole jobs)" = 25 ]
    [ "$(field "$(stored)" glidein.end reason)" = black_hole ]
    grep -q 'AglideinId =?= "g-' "$FAKE_CONDOR_STATE/condor_status.calls"
    # the pilot ends a black hole's condor itself, peacefully, once
    [ "$(grep -c -- '-peaceful -daemon master' "$FAKE_CONDOR_STATE/condor_off.calls")" -eq 1 ]
    GLIDEIN_VALIDATE_SKIP=network FAKE_MASTER_EXIT=4 run "$GLIDEIN/glidein_startup.sh" "${PILOT_ARGS[@]}"
    [ "$status" -eq 11 ]
    GLIDEIN_CONDOR_DIR=/nonexistent PATH=/usr/bin:/bin run "$GLIDEIN/glidein_startup.sh" "${PILOT_ARGS[@]}"
    [ "$status" -eq 11 ]
}
