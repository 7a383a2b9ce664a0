#!/bin/bash
# shellcheck shell=bash disable=SC2034,SC2016  # globals are return values; $(X) is condor syntax
# Condor for the pilot: find it, write its config, run the master, watch it,
# drain it on signals and summarise its logs.
#
#   condor_locate [TARBALL]        sets CONDOR_DIR (a release dir with sbin/condor_master)
#   condor_write_config FILE       the startd config (needs the G_* globals below)
#   condor_blackhole_config N R    the black-hole protection lines (empty when off)
#   condor_start / condor_stop_graceful / condor_stop_fast / condor_check_blackhole
#   condor_summarize_logs          records from the condor logs
#
# Inputs (globals set by glidein_startup.sh): G_ID G_ENTRY G_FACTORY G_COLLECTOR
# G_WORK G_IDTOKEN G_START_TIME G_RETIRE_TIME G_DIE_TIME, and GLIDEIN_ATTR.

CONDOR_DIR=""
CONDOR_LOCAL=""
CONDOR_MASTER_PID=""
CONDOR_BLACKHOLE=0
CONDOR_BLACKHOLE_PROTECTED=0   # set by condor_write_config: the config has the black-hole lines

# condor_locate [TARBALL]: unpack TARBALL into the work dir, or find a system
# install (GLIDEIN_CONDOR_DIR, then condor_master on PATH). Returns 1 if none.
condor_locate() {
    local tarball=${1-} master
    CONDOR_DIR=""
    if [[ -n $tarball ]]; then
        mkdir -p "$G_WORK/condor" || return 1
        tar -xf "$tarball" -C "$G_WORK/condor" 2>"$G_WORK/condor.untar.err" || return 1
        for master in "$G_WORK"/condor/sbin/condor_master "$G_WORK"/condor/*/sbin/condor_master; do
            if [[ -x $master ]]; then
                CONDOR_DIR=${master%/sbin/condor_master}
                return 0
            fi
        done
        return 1
    fi
    if [[ -n ${GLIDEIN_CONDOR_DIR-} && -x $GLIDEIN_CONDOR_DIR/sbin/condor_master ]]; then
        CONDOR_DIR=$GLIDEIN_CONDOR_DIR
        return 0
    fi
    master=$(command -v condor_master 2>/dev/null) || return 1
    master=$(cd "${master%/*}/.." && pwd)
    CONDOR_DIR=$master
}

# _condor_bin NAME: sets CONDOR_BIN to the path of a condor tool (bin/ or sbin/).
_condor_bin() {
    CONDOR_BIN=""
    if [[ -x $CONDOR_DIR/bin/$1 ]]; then
        CONDOR_BIN=$CONDOR_DIR/bin/$1
    elif [[ -x $CONDOR_DIR/sbin/$1 ]]; then
        CONDOR_BIN=$CONDOR_DIR/sbin/$1
    else
        CONDOR_BIN=$(command -v "$1" 2>/dev/null)
    fi
    [[ -n $CONDOR_BIN ]]
}

# classad_value VALUE: sets CLASSAD_V to VALUE as a ClassAd literal for a condor
# config file: numbers and booleans as such, anything else a quoted string; `$` is
# written as $(DOLLAR) so condor does not expand it.
classad_value() {
    local v=$1
    if [[ $v =~ ^-?(0|[1-9][0-9]{0,17})(\.[0-9]+)?$ ]]; then
        CLASSAD_V=$v
    elif [[ ${v,,} == true || ${v,,} == false ]]; then
        CLASSAD_V=${v,,}
    else
        v=${v//\\/\\\\}
        v=${v//\"/\\\"}
        v=${v//$'\n'/\\n}
        v=${v//$'\r'/\\r}
        v=${v//$'\t'/\\t}
        v=${v//\$/\$(DOLLAR)}
        CLASSAD_V="\"$v\""
    fi
}

# condor_published_attr NAME: true for attrs that go into the startd ad: names with
# the GLIDEIN_, HAS_ or Aglidein prefix, and those listed in GLIDEIN_STARTD_ATTRS.
# Other names could be condor knobs (SEC_*, START, ...), so they are left out.
condor_published_attr() {
    local extra=" ${GLIDEIN_ATTR[GLIDEIN_STARTD_ATTRS]-} "
    extra=${extra//,/ }
    [[ $1 =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || return 1
    [[ $1 == GLIDEIN_STARTD_ATTRS || $1 == GLIDEIN_CONDOR_CONFIG_EXTRA || $1 == GLIDEIN_START_EXPR ]] && return 1
    [[ $1 == GLIDEIN_* || $1 == HAS_* || $1 == Aglidein* || $extra == *" $1 "* ]]
}

# condor_blackhole_config NUMJOBS RATE: the black-hole protection lines, as
# GlideinWMS writes them, plus a latch. Prints nothing unless both are set and RATE
# is a positive number.
condor_blackhole_config() {
    local numjobs=$1 rate=$2
    [[ $numjobs =~ ^[0-9]+$ ]] && ((10#$numjobs > 0)) || return 0
    [[ $rate =~ ^[0-9]*\.?[0-9]+$ ]] || return 0
    [[ $rate =~ ^0*\.?0*$ ]] && return 0
    [[ $rate == .* ]] && rate="0$rate"
    cat <<EOF
# ---- black-hole protection (GlideinWMS semantics) ----
# At least GLIDEIN_BLACKHOLE_NUMJOBS jobs ended in the recent statistics window
# (STATISTICS_WINDOW_SECONDS, 20 min by default) with an average busy time under
# 1/GLIDEIN_BLACKHOLE_RATE seconds: the node eats jobs, so START turns false.
# STARTD_LATCH_EXPRS makes the startd publish GLIDEIN_BLACKHOLEValue (the last
# value) and GLIDEIN_BLACKHOLETime; the expression ORs its own last value in, so
# once tripped it stays tripped after the window has slid past the burst.
STARTD.STATISTICS_TO_PUBLISH_LIST = \$(STATISTICS_TO_PUBLISH_LIST) JobBusyTime JobDuration
GLIDEIN_BLACKHOLE_NUMJOBS = $((10#$numjobs))
GLIDEIN_BLACKHOLE_RATE = $rate
GLIDEIN_BLACKHOLE_TRIPPED = (RecentJobBusyTimeCount >= GLIDEIN_BLACKHOLE_NUMJOBS) && (RecentJobBusyTimeAvg < (1.0 / GLIDEIN_BLACKHOLE_RATE))
GLIDEIN_BLACKHOLE = (GLIDEIN_BLACKHOLEValue =?= 1) || (GLIDEIN_BLACKHOLEValue =?= true) || (GLIDEIN_BLACKHOLE_TRIPPED =?= true)
STARTD_LATCH_EXPRS = GLIDEIN_BLACKHOLE
STARTD_ATTRS = \$(STARTD_ATTRS), GLIDEIN_BLACKHOLE_NUMJOBS, GLIDEIN_BLACKHOLE_RATE, GLIDEIN_BLACKHOLE_TRIPPED
START = (\$(START)) && (GLIDEIN_BLACKHOLE =!= true)
# The pilot ends condor as soon as it sees the latch in the collector; should it not,
# a tripped node that is not running a job shuts down by itself after 5 minutes.
GLIDEIN_BLACKHOLE_SHUTDOWN = (GLIDEIN_BLACKHOLE =?= true) && (State =?= "Unclaimed") && (time() - GLIDEIN_BLACKHOLETime > 300)
EOF
}

# condor_write_config FILE: the whole condor config for this glidein; sets
# CONDOR_BLACKHOLE_PROTECTED when it has the black-hole lines (generated once).
condor_write_config() {
    local file=$1 name names="" host port cpus mem gpus ccb idle blackhole
    CONDOR_LOCAL=$G_WORK/condor_local
    mkdir -p "$CONDOR_LOCAL"/{log,spool,execute,lock,run} "$G_WORK/tokens.d" || return 1
    chmod 700 "$G_WORK/tokens.d"
    (umask 077 && cp "$G_IDTOKEN" "$G_WORK/tokens.d/glidein.idtoken") || return 1
    chmod 600 "$G_WORK/tokens.d/glidein.idtoken"
    host=${G_COLLECTOR%:*}
    port=${G_COLLECTOR##*:}
    cpus=$(attr_get GLIDEIN_CPUS)
    mem=$(attr_get GLIDEIN_MaxMemMBs)
    gpus=$(attr_get GLIDEIN_GPUS 0)
    ccb=$(attr_get GLIDEIN_CCB "\$(COLLECTOR_HOST)")
    idle=$(attr_get GLIDEIN_Max_Idle 1200)
    [[ $idle =~ ^[0-9]+$ ]] || idle=1200
    blackhole=$(condor_blackhole_config "$(attr_get GLIDEIN_BLACKHOLE_NUMJOBS)" "$(attr_get GLIDEIN_BLACKHOLE_RATE)")
    CONDOR_BLACKHOLE_PROTECTED=0
    [[ -n $blackhole ]] && CONDOR_BLACKHOLE_PROTECTED=1
    {
        printf '# Written by aglidein glidein_startup.sh for glidein %s\n' "$G_ID"
        printf 'RELEASE_DIR = %s\n' "$CONDOR_DIR"
        printf 'BIN = $(RELEASE_DIR)/bin\nSBIN = $(RELEASE_DIR)/sbin\n'
        # A tarball has lib/ and libexec/; a system (RPM/deb) install keeps them in
        # lib64/condor or lib/condor and libexec/condor.
        local dir lib=lib libexec=libexec
        for dir in lib64/condor lib/condor; do
            [[ -d $CONDOR_DIR/$dir ]] && { lib=$dir; break; }
        done
        [[ -d $CONDOR_DIR/libexec/condor ]] && libexec=libexec/condor
        printf 'LIB = $(RELEASE_DIR)/%s\nLIBEXEC = $(RELEASE_DIR)/%s\n' "$lib" "$libexec"
        printf 'LOCAL_DIR = %s\n' "$CONDOR_LOCAL"
        printf 'LOG = $(LOCAL_DIR)/log\nSPOOL = $(LOCAL_DIR)/spool\n'
        printf 'EXECUTE = $(LOCAL_DIR)/execute\nLOCK = $(LOCAL_DIR)/lock\nRUN = $(LOCAL_DIR)/run\n'
        # Each job's ad when it leaves the slot: the pilot's job.end records (lib/jobs.sh).
        printf 'STARTD_HISTORY = $(LOG)/startd_history\n'
        printf 'DAEMON_LIST = MASTER, STARTD\n'
        printf 'MASTER_NAME = glidein_%s\nSTARTD_NAME = glidein_%s\n' "${G_ID//[^A-Za-z0-9_-]/_}" "${G_ID//[^A-Za-z0-9_-]/_}"
        printf 'CONDOR_HOST = %s\nCOLLECTOR_HOST = %s\n' "$host" "$G_COLLECTOR"
        [[ ${ccb,,} != none ]] && printf 'CCB_ADDRESS = %s\n' "$ccb"
        printf 'USE_SHARED_PORT = False\nUPDATE_COLLECTOR_WITH_TCP = True\n'
        printf '\n# Security: the IDTOKEN (0600, its own 0700 dir) authenticates to the pool.\n'
        printf 'SEC_TOKEN_DIRECTORY = %s\n' "$G_WORK/tokens.d"
        printf 'SEC_DEFAULT_AUTHENTICATION = REQUIRED\n'
        printf 'SEC_DEFAULT_AUTHENTICATION_METHODS = FS, IDTOKENS\n'
        printf 'SEC_CLIENT_AUTHENTICATION_METHODS = FS, IDTOKENS\n'
        printf 'SEC_DEFAULT_ENCRYPTION = REQUIRED\nSEC_DEFAULT_INTEGRITY = REQUIRED\n'
        printf 'SEC_ENABLE_MATCH_PASSWORD_AUTHENTICATION = True\n'
        # The glidein's daemons are not a family with pool daemons that may share the
        # host (a CE, a personal pool): without this the collector rejects the first
        # startd update ("not in the same family of Condor daemon processes").
        printf 'SEC_USE_FAMILY_SESSION = False\n'
        printf 'ALLOW_ADMINISTRATOR = %s@*\n' "${USER:-$(id -un 2>/dev/null)}"
        printf '\n# Resources: one partitionable slot of what the entry advertises.\n'
        [[ $cpus =~ ^[0-9]+$ ]] && printf 'NUM_CPUS = %s\n' "$cpus"
        [[ $mem =~ ^[0-9]+$ ]] && printf 'MEMORY = %s\n' "$mem"
        if [[ $gpus =~ ^[1-9][0-9]*$ || ${gpus,,} == auto ]]; then
            printf 'use feature : GPUs\n'
        else
            printf 'MACHINE_RESOURCE_GPUs = 0\n'
        fi
        printf 'NUM_SLOTS = 1\nNUM_SLOTS_TYPE_1 = 1\nSLOT_TYPE_1 = 100%%\nSLOT_TYPE_1_PARTITIONABLE = True\n'
        printf '\n# Identity and lifetime, advertised in the slot ad.\n'
        classad_value "$G_ID"
        printf 'AglideinId = %s\n' "$CLASSAD_V"
        classad_value "$G_ENTRY"
        printf 'AglideinEntry = %s\n' "$CLASSAD_V"
        classad_value "$G_FACTORY"
        printf 'AglideinFactory = %s\n' "$CLASSAD_V"
        printf 'GLIDEIN_START_TIME = %s\nGLIDEIN_ToRetire = %s\nGLIDEIN_ToDie = %s\n' \
            "$G_START_TIME" "$G_RETIRE_TIME" "$G_DIE_TIME"
        names="AglideinId, AglideinEntry, AglideinFactory, GLIDEIN_START_TIME, GLIDEIN_ToRetire, GLIDEIN_ToDie"
        for name in $(printf '%s\n' "${!GLIDEIN_ATTR[@]}" | sort); do
            condor_published_attr "$name" || continue
            case $name in
                AglideinId | AglideinEntry | AglideinFactory | GLIDEIN_START_TIME | GLIDEIN_ToRetire | GLIDEIN_ToDie) continue ;;
                GLIDEIN_BLACKHOLE_NUMJOBS | GLIDEIN_BLACKHOLE_RATE) continue ;; # the black-hole block's
            esac
            classad_value "${GLIDEIN_ATTR[$name]}"
            printf '%s = %s\n' "$name" "$CLASSAD_V"
            names+=", $name"
        done
        printf 'STARTD_ATTRS = $(STARTD_ATTRS), %s\n' "$names"
        printf '\n# Policy: no new jobs after the retire time; running jobs may go on until\n'
        printf '# the die time (a graceful shutdown honours MaxJobRetirementTime).\n'
        local start_expr
        start_expr=$(attr_get GLIDEIN_START_EXPR)
        if [[ -n $start_expr ]]; then
            # the entry's and the group's start_expr (config), one line
            printf 'START = (time() < GLIDEIN_ToRetire) && (%s)\n' "${start_expr//$'\n'/ }"
        else
            printf 'START = (time() < GLIDEIN_ToRetire)\n'
        fi
        printf 'MAXJOBRETIREMENTTIME = GLIDEIN_ToDie - time()\n'
        printf 'STARTD_NOCLAIM_SHUTDOWN = %s\n' "$idle"
        [[ -n $blackhole ]] && printf '%s\n' "$blackhole"
        printf 'STARTD.DAEMON_SHUTDOWN = (time() > GLIDEIN_ToDie) || ((time() > GLIDEIN_ToRetire) && (State =?= "Unclaimed"))'
        ((CONDOR_BLACKHOLE_PROTECTED)) && printf ' || ($(GLIDEIN_BLACKHOLE_SHUTDOWN))'
        printf '\n# The master follows the startd out.\n'
        printf 'MASTER.DAEMON_SHUTDOWN = STARTD_StartTime =?= 0\n'
        local extra
        extra=$(attr_get GLIDEIN_CONDOR_CONFIG_EXTRA)
        if [[ -n $extra ]]; then
            printf '\n# From the entry (GLIDEIN_CONDOR_CONFIG_EXTRA)\n%s\n' "$extra"
        fi
    } >"$file"
}

# condor_start: run condor_master in the foreground (as a child of the pilot).
condor_start() {
    export CONDOR_CONFIG=$G_WORK/condor_config
    # Its own process group (set -m): a TERM sent to the pilot's group reaches the
    # pilot only, which then chooses graceful or fast; and SIGQUIT is not ignored
    # as it would be for a plain background job.
    set -m
    "$CONDOR_DIR/sbin/condor_master" -f -pidfile "$CONDOR_LOCAL/master.pid" \
        >>"$CONDOR_LOCAL/log/master.out" 2>&1 &
    CONDOR_MASTER_PID=$!
    set +m
}

# condor_stop_graceful: no new jobs, running ones may finish, then the whole condor
# ends: `condor_off -peaceful -daemon master` shuts the startd down peacefully and the
# master exits once it is gone (`-daemon startd` would leave the master running, and
# the pilot and the site job with it). When condor_off cannot do it, SIGTERM to the
# master: a graceful shutdown, which still lets jobs run until MaxJobRetirementTime,
# i.e. the die time.
condor_stop_graceful() {
    [[ -n $CONDOR_MASTER_PID ]] || return 0
    if _condor_bin condor_off &&
        run_with_timeout 30 "$CONDOR_BIN" -peaceful -daemon master >>"$CONDOR_LOCAL/log/condor_off.out" 2>&1; then
        log_event info condor.drain mode=peaceful msg="condor_off -peaceful sent to condor_master"
    else
        kill -TERM "$CONDOR_MASTER_PID" 2>/dev/null
        log_event info condor.drain mode=graceful msg="condor_off failed; SIGTERM sent to condor_master"
    fi
}

# condor_stop_fast: SIGQUIT to the master: jobs are killed now.
condor_stop_fast() {
    [[ -n $CONDOR_MASTER_PID ]] || return 0
    kill -QUIT "$CONDOR_MASTER_PID" 2>/dev/null
    log_event warning condor.drain mode=fast msg="SIGQUIT sent to condor_master"
}

# condor_check_blackhole: ask the collector whether our slot is latched as a black
# hole; sets CONDOR_BLACKHOLE=1 (and logs it once) when it is.
condor_check_blackhole() {
    local out
    ((CONDOR_BLACKHOLE)) && return 0
    _condor_bin condor_status || return 0
    out=$(run_with_timeout 60 "$CONDOR_BIN" -constraint "AglideinId =?= \"$G_ID\"" \
        -af GLIDEIN_BLACKHOLE RecentJobBusyTimeCount RecentJobBusyTimeAvg 2>/dev/null)
    # Slot ads, not `-startd`: since 24.x/25.x that lists the StartD daemon ad, which has
    # neither the latch nor the statistics. One line per slot (the partitionable slot,
    # where START and the statistics live, and its dynamic slots).
    out=$(printf '%s\n' "$out" | grep -i '^true' | head -n 1)
    if [[ -n $out ]]; then
        CONDOR_BLACKHOLE=1
        local _ count avg
        read -r _ count avg <<<"$out"
        log_event error condor.black_hole jobs:="${count:-0}" avg_busy_s:="${avg:-0}" \
            msg="black-hole protection tripped: the startd takes no more jobs"
    fi
}

# condor_summarize_logs: records from the condor logs: job counts from the
# StartLog, the master's exit, and the last error lines of each log.
condor_summarize_logs() {
    local log=$CONDOR_LOCAL/log starts=0 ends=0 errors=0 line file
    [[ -d $log ]] || return 0
    if [[ -r $log/StartLog ]]; then
        while IFS= read -r line; do
            case $line in
                *"Changing activity: Idle -> Busy"*) ((starts++)) ;;
                *"Starter pid"*"exited with status"*) ((ends++)) ;;
            esac
        done <"$log/StartLog"
    fi
    for file in "$log"/MasterLog "$log"/StartLog "$log"/StarterLog*; do
        [[ -r $file ]] || continue
        local n
        # every daemon log starts with "Daemon Log is logging: D_ALWAYS D_ERROR ...": not one
        n=$(grep -E 'ERROR|FAILED|Failed|failed' "$file" 2>/dev/null | grep -c -v 'Daemon Log is logging')
        ((errors += ${n:-0}))
        while IFS= read -r line; do
            log_event warning condor.log_error file="${file##*/}" msg="$line"
        done < <(grep -E 'ERROR|FAILED' "$file" 2>/dev/null | grep -v 'Daemon Log is logging' | tail -n 5)
    done
    log_event info condor.summary job_starts:="$starts" jobs_ended:="$ends" \
        error_lines:="$errors" black_hole:="$([[ $CONDOR_BLACKHOLE == 1 ]] && echo true || echo false)"
}
