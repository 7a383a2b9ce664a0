#!/usr/bin/env bats
# lib/jobs.sh: job.start / job.end records of the user jobs the glidein's startd ran.

load helpers/common

setup() {
    export FAKE_CONDOR_STATE=$BATS_TEST_TMPDIR/condor
    mkdir -p "$FAKE_CONDOR_STATE"
    HISTORY=$BATS_TEST_TMPDIR/startd_history
}

# An ad as the startd appends it to STARTD_HISTORY.
ad() { # GLOBALJOBID OWNER START END [EXTRA LINES]
    printf 'ClusterId = 1\nGlobalJobId = "%s"\nOwner = "%s"\nJobCurrentStartDate = %s\n' "$1" "$2" "$3"
    printf 'CompletionDate = %s\n%b' "$4" "${5-}"
    printf '*** Offset = 0 ClusterId = 1 ProcId = 0 Owner = "%s" CompletionDate = %s\n' "$2" "$4"
}

# SHORT_AD: a shell function `ad GLOBALJOBID START END` for in_libs scripts.
export SHORT_AD='ad() { printf "GlobalJobId = \"%s\"\nOwner = \"a\"\nJobCurrentStartDate = %s\nCompletionDate = %s\n*** x\n" "$@"; }'

# recorded_jobs: `run` printing the job of every record logged, in order.
recorded_jobs() {
    run "$PYTHON" -c '
import json, sys
print(" ".join(json.loads(l)["job"] for l in open(sys.argv[1])))' "$BATS_TEST_TMPDIR/log/records.ndjson"
}

# in_libs SCRIPT: run SCRIPT with the pilot's libs sourced and a spool in the tmp dir.
in_libs() {
    run bash -c '
        . "$1/lib/util.sh"; . "$1/lib/log.sh"; . "$1/lib/condor.sh"; . "$1/lib/jobs.sh"
        log_init "$2/log"
        CONDOR_DIR=$3 CONDOR_LOCAL=$2/local
        eval "$4"' _ "$GLIDEIN" "$BATS_TEST_TMPDIR" "$HELPERS/fakecondor" "$1"
}

@test "jobs_id turns a GlobalJobId into Cluster.Proc@schedd, and refuses other text" {
    in_libs '
        jobs_id "\"submit.example.org#1234.5#1700000000\"" && echo "$JOB_ID"
        jobs_id "schedd_1@host#7.0#1" && echo "$JOB_ID"
        jobs_id "1234.5" || echo refused
        jobs_id "a#b#c" || echo refused'
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "1234.5@submit.example.org" ]
    [ "${lines[1]}" = "7.0@schedd_1@host" ]
    [ "${lines[2]}" = refused ]
    [ "${lines[3]}" = refused ]
}

@test "each ad of the history file becomes one job.end, read once, half-written ads later" {
    {
        ad "vo#10.0#1700000000" alice 1700000100 1700000160 'ExitCode = 0\nExitBySignal = false\n'
        ad "vo#10.1#1700000000" bob 1700000100 1700000130 'ExitBySignal = true\nExitSignal = 9\n'
        printf 'GlobalJobId = "vo#11.0#1700000001"\nOwner = "carol"\n'
    } >"$HISTORY"
    in_libs '
        jobs_history_poll "$2/startd_history"
        jobs_history_poll "$2/startd_history"
        printf "JobCurrentStartDate = 1700000200\nCompletionDate = 1700000260\nExitCode = 3\n" >>"$2/startd_history"
        printf "*** Offset = 1 ClusterId = 11 ProcId = 0\n" >>"$2/startd_history"
        jobs_history_poll "$2/startd_history"
        jobs_history_poll "$2/startd_history"'
    [ "$status" -eq 0 ]
    records=$BATS_TEST_TMPDIR/log/records.ndjson
    check_records "$records"
    run "$PYTHON" -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    print(r["event"], r["level"], r["job"], r["owner"], r.get("start_time"), r["end_time"],
          r.get("exit_code"), r.get("exit_signal"), r.get("duration_s"))' "$records"
    [ "${#lines[@]}" -eq 3 ]
    [ "${lines[0]}" = "job.end info 10.0@vo alice 1700000100 1700000160 0 None 60" ]
    [ "${lines[1]}" = "job.end warning 10.1@vo bob 1700000100 1700000130 None 9 30" ]
    [ "${lines[2]}" = "job.end warning 11.0@vo carol 1700000200 1700000260 3 None 60" ]
}

@test "a missing history file is no error and records nothing" {
    in_libs 'jobs_history_poll "$2/nothing"; echo rc=$?'
    [ "$status" -eq 0 ]
    [ "$output" = "rc=0" ]
    [ ! -s "$BATS_TEST_TMPDIR/log/records.ndjson" ]
}

@test "jobs the startd runs get one job.start each, however often they are polled" {
    export FAKE_WHO=$'vo#10.0#1700000000 1700000100 "alice@vo.example"\nvo#10.1#1700000000 1700000101 bob@vo.example\nundefined undefined undefined'
    in_libs 'jobs_running_poll; jobs_running_poll'
    [ "$status" -eq 0 ]
    records=$BATS_TEST_TMPDIR/log/records.ndjson
    check_records "$records"
    [ "$(events "$records" | grep -c '^job.start$')" -eq 2 ]
    [ "$(field "$records" job.start job)" = "10.0@vo" ]
    [ "$(field "$records" job.start owner)" = alice ]
    [ "$(field "$records" job.start start_time)" = 1700000100 ]
    grep -q -- "-logdir $BATS_TEST_TMPDIR/local/log -af GlobalJobId JobStart RemoteOwner" \
        "$FAKE_CONDOR_STATE/condor_who.calls"
}

@test "a rotated history file is read from its start, without repeating ends" {
    {
        ad "vo#1.0#1" alice 100 160 'ExitCode = 0\n'
        ad "vo#2.0#1" alice 100 170 'ExitCode = 0\n'
    } >"$HISTORY"
    in_libs '
        jobs_history_poll "$2/startd_history"
        eval "$SHORT_AD"
        { ad "vo#2.0#1" 100 170; ad "vo#3.0#1" 200 260; } >"$2/startd_history"
        jobs_history_poll "$2/startd_history"'
    [ "$status" -eq 0 ]
    recorded_jobs
    [ "$output" = "1.0@vo 2.0@vo 3.0@vo" ]
}

@test "a history rotated after more ads than were read: the old file's rest, then the new file" {
    ad "vo#1.0#1" alice 100 160 'ExitCode = 0\n' >"$HISTORY"
    in_libs '
        jobs_history_poll "$2/startd_history"
        eval "$SHORT_AD"
        ad "vo#2.0#1" 100 170 >>"$2/startd_history"
        mv "$2/startd_history" "$2/startd_history.20261207T100000"
        { ad "vo#3.0#1" 200 260; ad "vo#4.0#1" 200 270; ad "vo#5.0#1" 200 280; } >"$2/startd_history"
        jobs_history_poll "$2/startd_history"
        ad "vo#6.0#1" 300 360 >>"$2/startd_history"
        jobs_history_poll "$2/startd_history"'
    [ "$status" -eq 0 ]
    recorded_jobs
    [ "$output" = "1.0@vo 2.0@vo 3.0@vo 4.0@vo 5.0@vo 6.0@vo" ]
}
