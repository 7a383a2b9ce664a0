#!/usr/bin/env bats
# lib/condor.sh inside the pilot's own setup (glidein_setup, as main() runs it).

load helpers/common

setup() {
    pilot_files
    INGEST_URL=http://127.0.0.1:9/api/v1/logs
    export GLIDEIN_CONDOR_DIR=$HELPERS/fakecondor FAKE_CONDOR_STATE=$BATS_TEST_TMPDIR/condor
    export FAKE_MASTER_EXIT=0 GLIDEIN_WORK_BASE=$BATS_TEST_TMPDIR
    mkdir -p "$FAKE_CONDOR_STATE"
    printf "GLIDEIN_BLACKHOLE_NUMJOBS='10'\nGLIDEIN_BLACKHOLE_RATE='0.01'\n" >>attrs
}

@test "the black-hole config is generated once per start, and used everywhere" {
    pilot_args
    run bash -c '
        . "$1/glidein_startup.sh"
        shift
        glidein_setup "$@"
        attrs_load "$G_ATTRS"
        condor_locate || exit 99
        eval "original_$(declare -f condor_blackhole_config)"
        condor_blackhole_config() { echo call >>"$FAKE_CONDOR_STATE/blackhole.calls"; original_condor_blackhole_config "$@"; }
        G_FINISHED=1    # finish() only exits: no flusher runs here
        run_condor' _ "$GLIDEIN" "${PILOT_ARGS[@]}"
    [ "$status" -eq 0 ]
    [ "$(wc -l <"$FAKE_CONDOR_STATE/blackhole.calls")" -eq 1 ]
    config=$(cat "$FAKE_CONDOR_STATE/master.config")
    [ "$(grep -c '^GLIDEIN_BLACKHOLE_TRIPPED = ' "$config")" -eq 1 ]
    grep -q '^STARTD.DAEMON_SHUTDOWN = .*GLIDEIN_BLACKHOLE_SHUTDOWN' "$config"
    records=$(dirname "$config")/log/records.ndjson
    [ "$(field "$records" condor.configured blackhole)" = true ]
}

@test "the pilot records the user jobs its startd ran: job.start while running, job.end from the history" {
    printf 'GlobalJobId = "vo#42.0#1700000000"\nOwner = "alice"\nJobCurrentStartDate = 1700000100\nCompletionDate = 1700000190\nExitCode = 0\n*** Offset = 0\n' \
        >"$BATS_TEST_TMPDIR/history"
    export FAKE_STARTD_HISTORY=$BATS_TEST_TMPDIR/history FAKE_WHO='vo#42.0#1700000000 1700000100 alice@vo'
    unset FAKE_MASTER_EXIT
    export FAKE_MASTER_SECONDS=2 GLIDEIN_JOBS_POLL_SECONDS=1
    pilot_args
    run bash -c '
        . "$1/glidein_startup.sh"
        shift
        glidein_setup "$@"
        attrs_load "$G_ATTRS"
        condor_locate || exit 99
        G_FINISHED=1
        run_condor' _ "$GLIDEIN" "${PILOT_ARGS[@]}"
    [ "$status" -eq 0 ]
    config=$(cat "$FAKE_CONDOR_STATE/master.config")
    grep -q '^STARTD_HISTORY = $(LOG)/startd_history$' "$config"
    records=$(dirname "$config")/log/records.ndjson
    check_records "$records"
    [ "$(events "$records" | grep -c '^job.start$')" -eq 1 ]
    [ "$(events "$records" | grep -c '^job.end$')" -eq 1 ]
    [ "$(field "$records" job.end job)" = "42.0@vo" ]
    [ "$(field "$records" job.end exit_code)" = 0 ]
    [ "$(field "$records" job.end duration_s)" = 90 ]
    # the end is read before condor's summary, so it is in the glidein's records
    events "$records" | grep -n -e '^job.end$' -e '^condor.summary$' | head -1 | grep -q 'job.end'
}
