#!/bin/bash
# aglidein pilot: validate the node, start a condor startd that joins the pool with
# its IDTOKEN, and stream structured log records to the factory. See README.md.
#
# glidein_startup.sh --id ID --entry E --factory F --collector HOST:PORT
#     --log-url URL --idtoken FILE --log-token FILE --attrs FILE
#     --glidein-tarball FILE [--condor-tarball FILE] [--retire-after SECONDS]
#     [--max-walltime SECONDS]
#
# Exit: 0 ok, 2 bad_arguments, 10 validation_failed, 11 condor_failed,
#       12 black_hole, 13 signalled.
# shellcheck disable=SC2034,SC2329  # globals are read by the sourced libs; traps and hooks call functions

EXIT_OK=0
EXIT_BAD_ARGUMENTS=2
EXIT_VALIDATION_FAILED=10
EXIT_CONDOR_FAILED=11
EXIT_BLACK_HOLE=12
EXIT_SIGNALLED=13

G_VERSION=1
G_ID="" G_ENTRY="" G_FACTORY="" G_COLLECTOR="" G_LOG_URL="" G_IDTOKEN="" G_LOG_TOKEN=""
G_ATTRS="" G_TARBALL="" G_CONDOR_TARBALL="" G_RETIRE_AFTER="" G_MAX_WALLTIME=""
G_WORK="" G_HOME="" G_FINISHED=0 G_SIGNALS=0 G_CHILD="" G_MODE=condor
G_STARTED_AT=""

usage() {
    cat <<'EOF'
usage: glidein_startup.sh --id ID --entry E --factory F --collector HOST:PORT
         --log-url URL --idtoken FILE --log-token FILE --attrs FILE
         --glidein-tarball FILE [--condor-tarball FILE] [--retire-after SECONDS]
         [--max-walltime SECONDS]
EOF
}

# bad_arguments MESSAGE: nothing is set up yet, so stderr is the only channel.
bad_arguments() {
    printf 'glidein_startup.sh: %s\n' "$1" >&2
    usage >&2
    exit "$EXIT_BAD_ARGUMENTS"
}

parse_args() {
    local opt
    while (($#)); do
        opt=$1
        case $opt in
            -h | --help) usage; exit 0 ;;
            --id | --entry | --factory | --collector | --log-url | --idtoken | --log-token | \
                --attrs | --glidein-tarball | --condor-tarball | --retire-after | --max-walltime)
                (($# >= 2)) || bad_arguments "$opt needs a value"
                case $opt in
                    --id) G_ID=$2 ;;
                    --entry) G_ENTRY=$2 ;;
                    --factory) G_FACTORY=$2 ;;
                    --collector) G_COLLECTOR=$2 ;;
                    --log-url) G_LOG_URL=$2 ;;
                    --idtoken) G_IDTOKEN=$2 ;;
                    --log-token) G_LOG_TOKEN=$2 ;;
                    --attrs) G_ATTRS=$2 ;;
                    --glidein-tarball) G_TARBALL=$2 ;;
                    --condor-tarball) G_CONDOR_TARBALL=$2 ;;
                    --retire-after) G_RETIRE_AFTER=$2 ;;
                    --max-walltime) G_MAX_WALLTIME=$2 ;;
                esac
                shift 2
                ;;
            *) bad_arguments "unknown argument: $opt" ;;
        esac
    done
    local missing=() name
    for name in id entry factory collector log-url idtoken log-token attrs glidein-tarball; do
        local var=G_${name//-/_}
        var=${var^^}
        case $name in
            log-url) var=G_LOG_URL ;;
            log-token) var=G_LOG_TOKEN ;;
            glidein-tarball) var=G_TARBALL ;;
        esac
        [[ -n ${!var} ]] || missing+=("--$name")
    done
    ((${#missing[@]} == 0)) || bad_arguments "missing ${missing[*]}"
    [[ $G_ID =~ ^[A-Za-z0-9][A-Za-z0-9_.:-]*$ ]] || bad_arguments "bad --id: $G_ID"
    [[ $G_COLLECTOR =~ ^[^[:space:]/]+:[0-9]+$ ]] || bad_arguments "bad --collector (HOST:PORT): $G_COLLECTOR"
    [[ $G_LOG_URL =~ ^https?://[^[:space:]]+$ ]] || bad_arguments "bad --log-url: $G_LOG_URL"
    for name in G_RETIRE_AFTER G_MAX_WALLTIME; do
        [[ -z ${!name} || ${!name} =~ ^[0-9]+$ ]] || bad_arguments "bad ${name#G_} (seconds): ${!name}"
    done
    for name in G_IDTOKEN G_LOG_TOKEN G_ATTRS G_TARBALL G_CONDOR_TARBALL; do
        [[ -z ${!name} || -r ${!name} ]] || bad_arguments "cannot read ${!name}"
        [[ -n ${!name} ]] && printf -v "$name" '%s' "$(cd "$(dirname "${!name}")" && pwd)/$(basename "${!name}")"
    done
    G_MAX_WALLTIME=${G_MAX_WALLTIME:-172800}
    G_MAX_WALLTIME=$((10#$G_MAX_WALLTIME))
    if [[ -z $G_RETIRE_AFTER ]]; then
        G_RETIRE_AFTER=$((G_MAX_WALLTIME * 3 / 4))
    fi
    G_RETIRE_AFTER=$((10#$G_RETIRE_AFTER))
}

# make_work_dir: a private (0700) dir under GLIDEIN_WORK_BASE (default: the cwd,
# the batch system's scratch), falling back to TMPDIR.
make_work_dir() {
    local base
    for base in "${GLIDEIN_WORK_BASE:-$PWD}" "${TMPDIR:-/tmp}"; do
        G_WORK=$(mktemp -d "$base/glide_XXXXXX" 2>/dev/null) && break
        G_WORK=""
    done
    [[ -n $G_WORK ]] || bad_arguments "cannot create a work dir"
    chmod 700 "$G_WORK"
}

# unpack_glidein: the glidein tarball (the glidein/ dir, tarred with or without the
# leading glidein/) into the work dir; its lib/ is what we source from now on.
unpack_glidein() {
    mkdir -p "$G_WORK/glidein"
    if ! tar -xf "$G_TARBALL" -C "$G_WORK/glidein" 2>"$G_WORK/untar.err"; then
        printf 'glidein_startup.sh: cannot unpack %s: %s\n' "$G_TARBALL" "$(cat "$G_WORK/untar.err")" >&2
        rm -rf "$G_WORK"
        exit "$EXIT_BAD_ARGUMENTS"
    fi
    local dir
    for dir in "$G_WORK/glidein" "$G_WORK/glidein/glidein" "$G_WORK"/glidein/*/; do
        dir=${dir%/}
        if [[ -r $dir/lib/log.sh && -d $dir/validate ]]; then
            G_HOME=$dir
            return 0
        fi
    done
    printf 'glidein_startup.sh: %s holds no lib/log.sh and validate/\n' "$G_TARBALL" >&2
    rm -rf "$G_WORK"
    exit "$EXIT_BAD_ARGUMENTS"
}

# banner TEXT: a GlideinWMS-style line on stdout, with the date and epoch.
banner() {
    local date
    now_epoch
    date=$(date 2>/dev/null)
    printf '=== %s %s (%s) ===\n' "$1" "$date" "$NOW"
}

# finish CODE REASON [fields]: the one way out: last record, final flush (bounded),
# unsent records to stdout, cleanup, exit.
finish() {
    local code=$1 reason=$2
    shift 2
    ((G_FINISHED)) && exit "$code"
    if [[ $reason == exit ]]; then
        case $code in
            0) reason=ok ;;
            2) reason=bad_arguments ;;
            10) reason=validation_failed ;;
            11) reason=condor_failed ;;
            12) reason=black_hole ;;
            13) reason=signalled ;;
            *) reason=other ;;
        esac
    fi
    G_FINISHED=1
    trap '' TERM INT QUIT HUP
    stop_child
    now_epoch
    local level=info
    ((code != 0)) && level=error
    log_event "$level" glidein.end exit_code:="$code" reason="$reason" \
        duration_s:="$((NOW - G_STARTED_AT))" "$@"
    banner "Glidein ending with code $code ($reason) after $((NOW - G_STARTED_AT)) s"
    flusher_stop "${GLIDEIN_LOG_FLUSH_TIMEOUT:-15}"
    local state="" unsent
    read -r state <"$GLIDEIN_LOG_DIR/flusher.state" 2>/dev/null
    unsent=$(flusher_unsent | wc -l)
    if ((unsent > 0)); then
        printf '=== %s log record(s) not delivered (flusher: %s); they follow ===\n' "$unsent" "${state:-unknown}"
        flusher_unsent
        printf '=== end of undelivered log records ===\n'
    fi
    if [[ -s $GLIDEIN_LOG_DIR/rejected.ndjson ]]; then
        printf '=== log records rejected by the server ===\n'
        cat "$GLIDEIN_LOG_DIR/rejected.ndjson"
        printf '=== end of rejected log records ===\n'
    fi
    if [[ ${GLIDEIN_KEEP_WORKDIR:-0} == 1 ]]; then
        printf 'work dir kept: %s\n' "$G_WORK" >&2
    else
        cd / && rm -rf "$G_WORK"
    fi
    exit "$code"
}

# stop_child: make sure no workload or condor outlives the pilot.
stop_child() {
    # a validation script (or other bounded helper) still running
    [[ -n ${RUN_WITH_TIMEOUT_PID-} ]] && kill -TERM "$RUN_WITH_TIMEOUT_PID" 2>/dev/null
    [[ -n $G_CHILD ]] || return 0
    if kill -0 "$G_CHILD" 2>/dev/null; then
        if [[ $G_MODE == condor ]]; then
            kill -QUIT "$G_CHILD" 2>/dev/null
        else
            kill -TERM -- "-$G_CHILD" 2>/dev/null || kill -TERM "$G_CHILD" 2>/dev/null
        fi
        local i
        for ((i = 0; i < 50; i++)); do
            kill -0 "$G_CHILD" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$G_CHILD" 2>/dev/null
        kill -KILL "$G_CHILD" 2>/dev/null
    fi
    wait "$G_CHILD" 2>/dev/null
    G_CHILD=""
}

# on_signal SIG: TERM/INT first -> graceful drain; a second one, or QUIT -> fast.
on_signal() {
    local sig=$1
    ((G_SIGNALS++))
    log_event warning glidein.signal signal="$sig" count:="$G_SIGNALS"
    if [[ $sig == QUIT ]] || ((G_SIGNALS > 1)); then
        G_DRAIN=fast
    else
        G_DRAIN=graceful
    fi
    if [[ -z $G_CHILD ]]; then
        finish "$EXIT_SIGNALLED" signalled signal="$sig"
    fi
    if [[ $G_MODE == condor ]]; then
        if [[ $G_DRAIN == fast ]]; then condor_stop_fast; else condor_stop_graceful; fi
    else
        if [[ $G_DRAIN == fast ]]; then
            kill -KILL -- "-$G_CHILD" 2>/dev/null || kill -KILL "$G_CHILD" 2>/dev/null
        else
            kill -TERM -- "-$G_CHILD" 2>/dev/null || kill -TERM "$G_CHILD" 2>/dev/null
        fi
    fi
}

log_start() {
    local os="unknown" key value
    if [[ -r /etc/os-release ]]; then
        while IFS='=' read -r key value; do
            [[ $key == PRETTY_NAME ]] && os=${value//\"/}
        done </etc/os-release
    fi
    printf 'Starting glidein_startup.sh at %s (%s)\n' "$(date)" "$G_STARTED_AT"
    printf '%-18s= %s\n' glidein_id "$G_ID" entry "$G_ENTRY" factory "$G_FACTORY" \
        collector "$G_COLLECTOR" log_url "$G_LOG_URL" mode "$G_MODE" \
        retire_after "$G_RETIRE_AFTER" max_walltime "$G_MAX_WALLTIME" work_dir "$G_WORK"
    printf 'Running on %s as %s, PID %s\n' "$HOSTNAME" "$(id 2>/dev/null)" "$$"
    log_event info glidein.start msg="glidein starting" entry="$G_ENTRY" \
        factory="$G_FACTORY" collector="$G_COLLECTOR" mode="$G_MODE" \
        host="$HOSTNAME" user="$(id -un 2>/dev/null)" pid:="$$" \
        os="$os" kernel="$(uname -r 2>/dev/null)" bash="$BASH_VERSION" \
        work_dir="$G_WORK" retire_after:="$G_RETIRE_AFTER" \
        max_walltime:="$G_MAX_WALLTIME" pilot_version:="$G_VERSION"
}

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
            finish "$EXIT_VALIDATION_FAILED" validation_failed check="$name" detail="$reason"
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
        log_event info glidein.heartbeat uptime_s:="$((NOW - G_STARTED_AT))" mode="$G_MODE"
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
condor_tick() {
    heartbeat
    if ((NOW - _condor_poll >= ${GLIDEIN_CONDOR_POLL_SECONDS:-120})); then
        _condor_poll=$NOW
        condor_check_blackhole
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
        finish "$EXIT_SIGNALLED" signalled
    fi
    finish "$EXIT_OK" ok workload_status:="$CHILD_STATUS"
}

run_condor() {
    condor_write_config "$G_WORK/condor_config" ||
        finish "$EXIT_CONDOR_FAILED" condor_failed detail="cannot write the condor config"
    log_event info condor.configured condor_dir="$CONDOR_DIR" \
        blackhole:="$([[ -n $(condor_blackhole_config "$(attr_get GLIDEIN_BLACKHOLE_NUMJOBS)" "$(attr_get GLIDEIN_BLACKHOLE_RATE)") ]] && echo true || echo false)" \
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
    condor_summarize_logs
    log_event info condor.ended exit_status:="$CHILD_STATUS" duration_s:="$((NOW - started))"
    ((CONDOR_BLACKHOLE)) && finish "$EXIT_BLACK_HOLE" black_hole
    ((G_SIGNALS)) && finish "$EXIT_SIGNALLED" signalled
    if ((CHILD_STATUS != 0)); then
        finish "$EXIT_CONDOR_FAILED" condor_failed detail="condor_master exited with status $CHILD_STATUS"
    fi
    finish "$EXIT_OK" ok
}

main() {
    parse_args "$@"
    printf -v G_STARTED_AT '%(%s)T' -1
    [[ ${GLIDEIN_CONDOR-} == none ]] && G_MODE=none
    make_work_dir
    unpack_glidein
    # shellcheck source=SCRIPTDIR/lib/util.sh
    . "$G_HOME/lib/util.sh"
    # shellcheck source=SCRIPTDIR/lib/log.sh
    . "$G_HOME/lib/log.sh"
    # shellcheck source=SCRIPTDIR/lib/flush.sh
    . "$G_HOME/lib/flush.sh"
    # shellcheck source=SCRIPTDIR/lib/attrs.sh
    . "$G_HOME/lib/attrs.sh"
    # shellcheck source=SCRIPTDIR/lib/condor.sh
    . "$G_HOME/lib/condor.sh"
    cd "$G_WORK" || exit "$EXIT_BAD_ARGUMENTS"
    log_init "$G_WORK/log"
    trap 'finish "$?" exit' EXIT
    trap 'on_signal TERM' TERM
    trap 'on_signal INT' INT
    trap 'on_signal QUIT' QUIT
    trap '' HUP
    flusher_start "$G_LOG_URL" "$G_LOG_TOKEN"
    G_RETIRE_TIME=$((G_STARTED_AT + G_RETIRE_AFTER))
    local grace=$((G_MAX_WALLTIME / 20))
    ((grace > 300)) && grace=300
    G_DIE_TIME=$((G_STARTED_AT + G_MAX_WALLTIME - grace))
    log_start
    if ! attrs_load "$G_ATTRS"; then
        log_event warning glidein.attrs msg="attrs file: $ATTRS_ERROR (the other lines were read)"
    fi
    log_event info glidein.attrs count:="${#GLIDEIN_ATTR[@]}" site="$(attr_get GLIDEIN_Site)"
    if [[ $G_MODE == condor ]]; then
        if ! condor_locate "$G_CONDOR_TARBALL"; then
            log_event error condor.missing tarball="$G_CONDOR_TARBALL" \
                msg="no condor: neither a usable --condor-tarball nor condor_master on PATH"
            finish "$EXIT_CONDOR_FAILED" condor_failed detail="condor not found"
        fi
    fi
    run_validation
    if [[ $G_MODE == none ]]; then
        run_workload
    else
        run_condor
    fi
}

main "$@"
