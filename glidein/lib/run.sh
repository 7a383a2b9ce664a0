#!/bin/bash
# shellcheck shell=bash disable=SC2034,SC2329  # globals shared with glidein_startup.sh; hooks are called by name
# The phases of a glidein after setup, sourced by glidein_startup.sh: validation,
# then either the no-condor workload or condor, each watched once a second (deadlines,
# heartbeats, black-hole polls) and ending through finish().

# run_validation: each validate/*.sh in turn (the known checks first), each
# bounded by GLIDEIN_VALIDATE_TIMEOUT; a failure ends the glidein (exit 10).
# GLIDEIN_VALIDATE_SKIP (env or attr) names checks to skip.
run_validation() {
    local order="disk resources cvmfs apptainer gpus network" script name rc reason
    local skip=" ${GLIDEIN_VALIDATE_SKIP:-$(attr_get GLIDEIN_VALIDATE_SKIP)} "
    local scripts=() seen=" "
    skip=${skip//,/ }
    for name in $order; do
        [[ -r $G_HOME/validate/$name.sh ]] && scripts+=("$G_HOME/validate/$name.sh") && seen+="$name "
    done
    for script in "$G_HOME"/validate/*.sh; do
        name=${script##*/}
        name=${name%.sh}
        [[ $seen == *" $name "* || ! -r $script ]] || scripts+=("$script")
    done
    export GLIDEIN_ATTRS_FILE=$G_ATTRS GLIDEIN_WORK_DIR=$G_WORK GLIDEIN_COLLECTOR=$G_COLLECTOR
    export GLIDEIN_VALIDATE_ATTRS=$G_WORK/validated.attrs GLIDEIN_CONDOR=$G_MODE
    export GLIDEIN_VALIDATE_RESULT=$G_WORK/validate.reason
    [[ $G_MODE == condor && -n $CONDOR_DIR ]] && export CONDOR_DIR
    : >"$GLIDEIN_VALIDATE_ATTRS"
    for script in "${scripts[@]}"; do
        name=${script##*/}
        name=${name%.sh}
        if [[ $skip == *" $name "* ]]; then
            log_event info "validate.$name" result=skip msg="skipped by GLIDEIN_VALIDATE_SKIP"
            continue
        fi
        rm -f "$GLIDEIN_VALIDATE_RESULT"
        # run with bash: a copy that lost its execute bit still runs
        run_with_timeout "${GLIDEIN_VALIDATE_TIMEOUT:-300}" bash "$script" </dev/null
        rc=$?
        if ((rc != 0)); then
            reason=""
            [[ -r $GLIDEIN_VALIDATE_RESULT ]] && reason=$(<"$GLIDEIN_VALIDATE_RESULT")
            ((rc == 124)) && reason="timed out after ${GLIDEIN_VALIDATE_TIMEOUT:-300}s"
            [[ -n $reason ]] || reason="exited with status $rc"
            log_event error glidein.validation_failed check="$name" exit_status:="$rc" \
                msg="node unusable: $name: $reason"
            finish "$EXIT_VALIDATION_FAILED" check="$name" detail="$reason"
        fi
    done
    # What the checks found joins the entry attrs (and so the startd ad).
    local line
    while IFS= read -r line; do
        [[ $line =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || continue
        local key=${BASH_REMATCH[1]}
        _attrs_unquote "${BASH_REMATCH[2]}" && GLIDEIN_ATTR["$key"]=$ATTR_V
    done <"$GLIDEIN_VALIDATE_ATTRS"
    log_event info glidein.validated checks:="${#scripts[@]}"
}

# wait_child DEADLINE_HOOK: wait for G_CHILD, calling the hook about once a second
# (signals interrupt the wait at once). Sets CHILD_STATUS.
wait_child() {
    local hook=$1 sleeper
    while kill -0 "$G_CHILD" 2>/dev/null; do
        sleep 1 &
        sleeper=$!
        wait "$sleeper" 2>/dev/null
        kill "$sleeper" 2>/dev/null
        "$hook"
    done
    wait "$G_CHILD" 2>/dev/null
    CHILD_STATUS=$?
}

_last_heartbeat=""
heartbeat() {
    now_epoch
    _last_heartbeat=${_last_heartbeat:-$NOW}
    if ((NOW - _last_heartbeat >= ${GLIDEIN_HEARTBEAT_SECONDS:-60})); then
        _last_heartbeat=$NOW
        log_event info glidein.heartbeat uptime_s:="$((NOW - G_START_TIME))" mode="$G_MODE"
    fi
}

# The deadline hooks: the die time ends everything, whatever the child says.
_die_sent=0
workload_tick() {
    heartbeat
    if ((NOW >= G_DIE_TIME && !_die_sent)); then
        _die_sent=1
        log_event warning glidein.walltime msg="max walltime reached; stopping the workload"
        kill -TERM -- "-$G_CHILD" 2>/dev/null || kill -TERM "$G_CHILD" 2>/dev/null
    fi
}

_condor_poll=0
_jobs_poll=0
_jobs_every=20
_blackhole_stop=0
condor_tick() {
    heartbeat
    if ((NOW - _jobs_poll >= _jobs_every)); then
        _jobs_poll=$NOW
        jobs_running_poll
        jobs_history_poll "$CONDOR_LOCAL/log/startd_history"
    fi
    if ((NOW - _condor_poll >= ${GLIDEIN_CONDOR_POLL_SECONDS:-120})); then
        _condor_poll=$NOW
        condor_check_blackhole
    fi
    # A latched black hole takes no more jobs: end condor now (peacefully: a job still
    # running on another dynamic slot may finish) instead of idling until
    # STARTD_NOCLAIM_SHUTDOWN, or being removed by the factory as an unused glidein
    # before it could report black_hole.
    if ((CONDOR_BLACKHOLE && _blackhole_stop == 0)); then
        _blackhole_stop=1
        condor_stop_graceful
    fi
    if ((NOW >= G_DIE_TIME + 60 && _die_sent == 0)); then
        _die_sent=1
        log_event warning glidein.walltime msg="die time passed and condor still runs; fast shutdown"
        condor_stop_fast
    fi
}

run_workload() {
    local cmd=${GLIDEIN_WORKLOAD:-sleep ${GLIDEIN_WORKLOAD_SECONDS:-30}}
    log_event info workload.start command="$cmd"
    banner "Workload starting"
    now_epoch
    local started=$NOW
    # Its own process group (set -m), so a signal reaches all of it.
    set -m
    bash -c "$cmd" </dev/null &
    G_CHILD=$!
    set +m
    wait_child workload_tick
    G_CHILD=""
    now_epoch
    local level=info
    ((CHILD_STATUS != 0)) && level=warning
    log_event "$level" workload.end exit_status:="$CHILD_STATUS" duration_s:="$((NOW - started))"
    banner "Workload ended with status $CHILD_STATUS after $((NOW - started)) s"
    if ((G_SIGNALS)); then
        finish "$EXIT_SIGNALLED"
    fi
    finish "$EXIT_OK" workload_status:="$CHILD_STATUS"
}

run_condor() {
    # how often the startd's user jobs are looked at: the environment, else the entry attr
    to_int "${GLIDEIN_JOBS_POLL_SECONDS:-$(attr_get GLIDEIN_JOBS_POLL_SECONDS 20)}" 20
    _jobs_every=$INT
    condor_write_config "$G_WORK/condor_config" ||
        finish "$EXIT_CONDOR_FAILED" detail="cannot write the condor config"
    log_event info condor.configured condor_dir="$CONDOR_DIR" \
        blackhole:="$( ((CONDOR_BLACKHOLE_PROTECTED)) && echo true || echo false)" \
        retire_time:="$G_RETIRE_TIME" die_time:="$G_DIE_TIME"
    banner "Condor starting"
    now_epoch
    local started=$NOW
    condor_start
    G_CHILD=$CONDOR_MASTER_PID
    log_event info condor.started master_pid:="$CONDOR_MASTER_PID"
    wait_child condor_tick
    G_CHILD=""
    now_epoch
    banner "Condor ended with status $CHILD_STATUS after $((NOW - started)) s"
    condor_check_blackhole
    jobs_history_poll "$CONDOR_LOCAL/log/startd_history"
    condor_summarize_logs
    log_event info condor.ended exit_status:="$CHILD_STATUS" duration_s:="$((NOW - started))"
    ((CONDOR_BLACKHOLE)) && finish "$EXIT_BLACK_HOLE"
    ((G_SIGNALS)) && finish "$EXIT_SIGNALLED"
    if ((CHILD_STATUS != 0)); then
        finish "$EXIT_CONDOR_FAILED" detail="condor_master exited with status $CHILD_STATUS"
    fi
    finish "$EXIT_OK"
}
