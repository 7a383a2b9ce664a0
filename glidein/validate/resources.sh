#!/bin/bash
# Cores and memory of the node against the entry's GLIDEIN_CPUS / GLIDEIN_MaxMemMBs.
# A node with fewer cores or less memory than the entry advertises would get jobs
# it cannot run, so a shortfall fails (a warning in no-condor mode, where nothing is
# advertised). "auto", "node" and "slot" skip the CPU test.
#   GLIDEIN_PROC_ROOT (env, tests): where cpuinfo and meminfo are read (/proc)
#   GLIDEIN_CGROUP_ROOT (env, tests): cgroup v2 root for memory.max (/sys/fs/cgroup)
# shellcheck source=SCRIPTDIR/../lib/validate.sh
. "${BASH_SOURCE[0]%/*}/../lib/validate.sh"
validate_begin resources

proc=${GLIDEIN_PROC_ROOT:-/proc}
cgroup=${GLIDEIN_CGROUP_ROOT:-/sys/fs/cgroup}

cores=""
if [[ -z ${GLIDEIN_PROC_ROOT-} ]] && command -v nproc >/dev/null 2>&1; then
    cores=$(nproc 2>/dev/null)
fi
if [[ ! $cores =~ ^[0-9]+$ ]]; then
    cores=0
    while read -r key _; do
        [[ $key == processor ]] && ((cores++))
    done <"$proc/cpuinfo"
fi

mem_mb=0
while read -r key value _; do
    [[ $key == MemTotal: ]] && mem_mb=$((value / 1024))
done <"$proc/meminfo"
limit=""
[[ -r $cgroup/memory.max ]] && read -r limit <"$cgroup/memory.max"
if [[ $limit =~ ^[0-9]+$ ]] && ((limit / 1048576 < mem_mb)); then
    mem_mb=$((limit / 1048576))
fi

want_cpus=$(attr_get GLIDEIN_CPUS)
want_mem=$(attr_get GLIDEIN_MaxMemMBs)
fields=(cores:="$cores" memory_mb:="$mem_mb")
[[ -n $want_cpus ]] && fields+=(want_cpus="$want_cpus")
[[ -n $want_mem ]] && fields+=(want_memory_mb="$want_mem")

problems=()
if [[ $want_cpus =~ ^[0-9]+$ ]] && ((cores < want_cpus)); then
    problems+=("$cores cores, the entry advertises $want_cpus")
fi
if [[ $want_mem =~ ^[0-9]+$ ]] && ((mem_mb < want_mem)); then
    problems+=("$mem_mb MB memory, the entry advertises $want_mem MB")
fi
if ((${#problems[@]})); then
    reason=$(IFS=';'; printf '%s' "${problems[*]}")
    validate_fail_advertised "node too small: ${reason//;/; }" "${fields[@]}"
fi
validate_publish GLIDEIN_NODE_CORES "$cores"
validate_publish GLIDEIN_NODE_MEMORY_MB "$mem_mb"
validate_pass "${fields[@]}"
