#!/usr/bin/env bats
# validate/*.sh, each run standalone (records on stdout) against fake node trees.

load helpers/common

setup() {
    cd "$BATS_TEST_TMPDIR" || exit 1
    : >attrs
    export GLIDEIN_ATTRS_FILE=$BATS_TEST_TMPDIR/attrs
    export GLIDEIN_VALIDATE_ATTRS=$BATS_TEST_TMPDIR/published
    export GLIDEIN_VALIDATE_RESULT=$BATS_TEST_TMPDIR/reason
    mkdir -p bin
}

# check NAME: run validate/NAME.sh; the record it printed goes to record.json.
check() {
    run "$GLIDEIN/validate/$1.sh"
    printf '%s\n' "$output" | grep '^{' >record.json || true
    check_records record.json
}

result() { field record.json "validate.$1" result; }

@test "disk: passes with room, fails under the entry's minimum" {
    check disk
    [ "$status" -eq 0 ]
    [ "$(result disk)" = pass ]
    echo "GLIDEIN_MIN_DISK_MB='999999999'" >attrs
    check disk
    [ "$status" -eq 1 ]
    [ "$(result disk)" = fail ]
    [[ $(cat reason) == *"MB required"* ]]
}

@test "resources: cores and memory against GLIDEIN_CPUS and GLIDEIN_MaxMemMBs" {
    mkdir -p proc
    printf 'processor\t: 0\nmodel\t: x\n\nprocessor\t: 1\n' >proc/cpuinfo
    printf 'MemTotal:        8388608 kB\nMemFree: 1 kB\n' >proc/meminfo
    export GLIDEIN_PROC_ROOT=$PWD/proc GLIDEIN_CGROUP_ROOT=$PWD/nocgroup
    printf "GLIDEIN_CPUS='2'\nGLIDEIN_MaxMemMBs='8000'\n" >attrs
    check resources
    [ "$status" -eq 0 ]
    [ "$(field record.json validate.resources cores)" = 2 ]
    [ "$(field record.json validate.resources memory_mb)" = 8192 ]
    printf "GLIDEIN_CPUS='4'\nGLIDEIN_MaxMemMBs='16000'\n" >attrs
    check resources
    [ "$status" -eq 1 ]
    [[ $(cat reason) == *"2 cores"*"16000 MB"* ]]
    mkdir -p cg && echo 1073741824 >cg/memory.max
    printf "GLIDEIN_MaxMemMBs='2000'\n" >attrs
    GLIDEIN_CGROUP_ROOT=$PWD/cg check resources
    [ "$status" -eq 1 ]   # the cgroup limit (1 GiB) wins over MemTotal
    GLIDEIN_CGROUP_ROOT=$PWD/cg GLIDEIN_CONDOR=none check resources
    [ "$status" -eq 0 ]   # no-condor mode advertises nothing: a warning
    [ "$(result resources)" = warn ]
}

@test "cvmfs: required repos fail, optional ones warn, found ones are advertised" {
    mkdir -p cvmfs/cms.cern.ch cvmfs/empty.org cvmfs/oasis.opensciencegrid.org
    touch cvmfs/cms.cern.ch/.cvmfsdirtab cvmfs/oasis.opensciencegrid.org/x
    export GLIDEIN_CVMFS_ROOT=$PWD/cvmfs
    check cvmfs
    [ "$(result cvmfs)" = skip ]
    echo "GLIDEIN_CVMFS_REPOS='cms.cern.ch oasis.opensciencegrid.org'" >attrs
    check cvmfs
    [ "$status" -eq 0 ]
    [ "$(result cvmfs)" = pass ]
    grep -q "^HAS_CVMFS_cms_cern_ch='true'$" published
    grep -q "^HAS_CVMFS_oasis_opensciencegrid_org='true'$" published
    printf "GLIDEIN_CVMFS_REPOS='cms.cern.ch'\nGLIDEIN_CVMFS_OPTIONAL_REPOS='atlas.cern.ch'\n" >attrs
    check cvmfs
    [ "$status" -eq 0 ]
    [ "$(result cvmfs)" = warn ]
    echo "GLIDEIN_CVMFS_REPOS='cms.cern.ch,empty.org'" >attrs   # an unmounted autofs dir is empty
    check cvmfs
    [ "$status" -eq 1 ]
    [ "$(field record.json validate.cvmfs missing)" = empty.org ]
}

@test "gpus: a fake nvidia-smi, against the GPUs the entry promises" {
    cat >bin/nvidia-smi <<'SH'
#!/bin/bash
echo "0, NVIDIA A100-SXM4-40GB, 40960 MiB"
echo "1, NVIDIA A100-SXM4-40GB, 40960 MiB"
SH
    chmod +x bin/nvidia-smi
    echo "GLIDEIN_GPUS='2'" >attrs
    PATH=$PWD/bin:$PATH check gpus
    [ "$status" -eq 0 ]
    [ "$(field record.json validate.gpus detected)" = 2 ]
    grep -q "^GLIDEIN_GPUS_DETECTED='2'$" published
    echo "GLIDEIN_GPUS='4'" >attrs
    PATH=$PWD/bin:$PATH check gpus
    [ "$status" -eq 1 ]
    [[ $(cat reason) == "found 2 GPU(s), the entry promises 4" ]]
    PATH=$PWD/bin:$PATH GLIDEIN_CONDOR=none check gpus
    [ "$status" -eq 0 ]
    [ "$(result gpus)" = warn ]
    rm bin/nvidia-smi
    PATH=$PWD/bin:/usr/bin:/bin check gpus
    [ "$status" -eq 1 ]   # GPUs promised, no way to find them
    : >attrs
    PATH=$PWD/bin:/usr/bin:/bin check gpus
    [ "$status" -eq 0 ]
    [ "$(result gpus)" = skip ]
}

@test "apptainer: required and broken fails, optional warns, a working one passes" {
    cat >bin/apptainer <<'SH'
#!/bin/bash
[[ $1 == --version ]] && { echo "apptainer version 1.3.4"; exit 0; }
[[ $1 == exec && -e ${FAKE_IMAGE_OK-} ]] && exit 0
echo "FATAL: could not open image" >&2; exit 255
SH
    chmod +x bin/apptainer
    export GLIDEIN_APPTAINER_BIN=$PWD/bin/apptainer
    mkdir -p proc/sys/user && echo 15000 >proc/sys/user/max_user_namespaces
    export GLIDEIN_PROC_ROOT=$PWD/proc
    printf "GLIDEIN_Singularity_Use='REQUIRED'\nGLIDEIN_APPTAINER_IMAGE='/img.sif'\n" >attrs
    check apptainer
    [ "$status" -eq 1 ]
    [[ $(cat reason) == *"cannot run /img.sif"*"could not open image"* ]]
    touch ok
    FAKE_IMAGE_OK=$PWD/ok check apptainer
    [ "$status" -eq 0 ]
    [ "$(field record.json validate.apptainer version)" = "apptainer version 1.3.4" ]
    grep -q "^HAS_SINGULARITY='true'$" published
    echo 0 >proc/sys/user/max_user_namespaces
    FAKE_IMAGE_OK=$PWD/ok check apptainer
    [ "$status" -eq 1 ]
    [[ $(cat reason) == *"user namespaces are disabled"* ]]
    printf "GLIDEIN_Singularity_Use='OPTIONAL'\n" >attrs
    check apptainer
    [ "$status" -eq 0 ]
    [ "$(result apptainer)" = warn ]
    printf "GLIDEIN_Singularity_Use='NEVER'\n" >attrs
    check apptainer
    [ "$(result apptainer)" = skip ]
}

@test "network: reaching the collector passes; unreachable fails unless no-condor" {
    start_ingest ok
    port=$(cat srv/port)
    GLIDEIN_COLLECTOR=127.0.0.1:$port check network
    [ "$status" -eq 0 ]
    [ "$(result network)" = pass ]
    stop_ingest
    GLIDEIN_COLLECTOR=127.0.0.1:$port check network
    [ "$status" -eq 1 ]
    GLIDEIN_COLLECTOR=127.0.0.1:$port GLIDEIN_CONDOR=none check network
    [ "$status" -eq 0 ]
    [ "$(result network)" = warn ]
}
