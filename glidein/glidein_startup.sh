#!/bin/bash
# aglidein pilot: validate the node, start a condor startd that joins the pool with
# its IDTOKEN, and stream structured log records to the factory. See README.md.
#
# glidein_startup.sh --id ID --entry E --factory F --collector HOST:PORT
#     --log-url URL --idtoken FILE --log-token FILE --attrs FILE
#     --glidein-tarball FILE [--condor-tarball FILE] [--retire-after SECONDS]
#     [--max-walltime SECONDS]
#
# Exit codes: the EXIT_CODES table below.
#
# Sourced (tests), it defines everything and runs nothing: glidein_setup ARGS... is
# the setup main() runs (arguments, times, work dir, libs, spool).
# shellcheck disable=SC2034,SC2329  # globals are read by the sourced libs; traps and hooks call functions

# The exit codes, code:reason, the one table: EXIT_<REASON> and the reason of a code
# come from it, and aglidein.core.lifecycle.PILOT_EXIT_CODES must equal it
# (tests/glidein/test_exit_codes.py). Any other code is reason "other".
EXIT_CODES="0:ok 2:bad_arguments 10:validation_failed 11:condor_failed 12:black_hole 13:signalled"
for _code in $EXIT_CODES; do
    _reason=${_code#*:}
    printf -v "EXIT_${_reason^^}" '%s' "${_code%%:*}"
done
unset _code _reason

# exit_reason CODE: sets EXIT_REASON to the reason of an exit code ("other" if none).
exit_reason() {
    local entry
    EXIT_REASON=other
    for entry in $EXIT_CODES; do
        [[ ${entry%%:*} == "$1" ]] && EXIT_REASON=${entry#*:}
    done
    return 0
}

G_VERSION=1
G_ID="" G_ENTRY="" G_FACTORY="" G_COLLECTOR="" G_LOG_URL="" G_IDTOKEN="" G_LOG_TOKEN=""
G_ATTRS="" G_TARBALL="" G_CONDOR_TARBALL="" G_RETIRE_AFTER="" G_MAX_WALLTIME=""
G_WORK="" G_HOME="" G_FINISHED=0 G_SIGNALS=0 G_CHILD="" G_MODE=condor
G_START_TIME="" G_RETIRE_TIME="" G_DIE_TIME=""

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

# set_times: the glidein's clock, from now and the parsed lifetimes: G_START_TIME,
# G_RETIRE_TIME (no new jobs after it) and G_DIE_TIME (the max walltime less a grace of
# 5%, at most 300 s, for condor to stop), all epoch seconds; advertised in the slot ad.
set_times() {
    printf -v G_START_TIME '%(%s)T' -1
    G_RETIRE_TIME=$((G_START_TIME + G_RETIRE_AFTER))
    local grace=$((G_MAX_WALLTIME / 20))
    ((grace > 300)) && grace=300
    G_DIE_TIME=$((G_START_TIME + G_MAX_WALLTIME - grace))
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

# finish CODE [fields]: the one way out: last record (its reason from EXIT_CODES),
# final flush (bounded), unsent records to stdout, cleanup, exit.
finish() {
    local code=$1 reason
    shift
    ((G_FINISHED)) && exit "$code"
    exit_reason "$code"
    reason=$EXIT_REASON
    G_FINISHED=1
    trap '' TERM INT QUIT HUP
    stop_child
    now_epoch
    local level=info
    ((code != 0)) && level=error
    log_event "$level" glidein.end exit_code:="$code" reason="$reason" \
        duration_s:="$((NOW - G_START_TIME))" "$@"
    banner "Glidein ending with code $code ($reason) after $((NOW - G_START_TIME)) s"
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
# (called from traps, which older shellchecks take for unreachable code)
# shellcheck disable=SC2317
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
        finish "$EXIT_SIGNALLED" signal="$sig"
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
    printf 'Starting glidein_startup.sh at %s (%s)\n' "$(date)" "$G_START_TIME"
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

# glidein_setup ARGS...: everything before the glidein acts: arguments, times, mode,
# work dir, the unpacked libs, the log spool. main() and the tests both use it.
glidein_setup() {
    parse_args "$@"
    set_times
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
    # shellcheck source=SCRIPTDIR/lib/jobs.sh
    . "$G_HOME/lib/jobs.sh"
    # shellcheck source=SCRIPTDIR/lib/run.sh
    . "$G_HOME/lib/run.sh"
    cd "$G_WORK" || exit "$EXIT_BAD_ARGUMENTS"
    log_init "$G_WORK/log"
}

main() {
    glidein_setup "$@"
    trap 'finish "$?"' EXIT
    # log_when_idle: a signal that lands while a record is being appended is handled
    # right after that append (its handler logs, and may end the glidein)
    trap 'log_when_idle on_signal TERM' TERM
    trap 'log_when_idle on_signal INT' INT
    trap 'log_when_idle on_signal QUIT' QUIT
    trap '' HUP
    flusher_start "$G_LOG_URL" "$G_LOG_TOKEN"
    log_start
    if ! attrs_load "$G_ATTRS"; then
        log_event warning glidein.attrs msg="attrs file: $ATTRS_ERROR (the other lines were read)"
    fi
    log_event info glidein.attrs count:="${#GLIDEIN_ATTR[@]}" site="$(attr_get GLIDEIN_Site)"
    if [[ $G_MODE == condor ]]; then
        if ! condor_locate "$G_CONDOR_TARBALL"; then
            log_event error condor.missing tarball="$G_CONDOR_TARBALL" \
                msg="no condor: neither a usable --condor-tarball nor condor_master on PATH"
            finish "$EXIT_CONDOR_FAILED" detail="condor not found"
        fi
    fi
    run_validation
    if [[ $G_MODE == none ]]; then
        run_workload
    else
        run_condor
    fi
}

# Run unless sourced (the tests source it to call glidein_setup and the libs).
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    main "$@"
fi
