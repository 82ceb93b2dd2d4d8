#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for tests/test_sweep_slurm.py (issue 16, item 6).
#
#   tests/slurm/start_cluster.sh [start|stop|status]   (as root; Debian: apt-get install -y slurm-wlm munge)
#
# start: munged (as the munge user, /run/munge owned by munge), then slurmctld and slurmd
# with ProctrackType=proctrack/linuxproc and TaskPlugin=task/none (no cgroups needed), from a
# slurm.conf written to $SLURM_TEST_DIR (default /tmp/slurm-test). It prints the line
# SLURM_CONF=<path>: export it so that sbatch/squeue/scancel (and submitit) use this cluster.
# Already running daemons of this directory are left as they are. stop: ends the daemons this
# script started (by their pid files). Exit status 2: Slurm or munge is not installed, or this
# is not root.
set -euo pipefail

DIR=${SLURM_TEST_DIR:-/tmp/slurm-test}
CONF=$DIR/slurm.conf
HOST=$(hostname -s)
CPUS=${SLURM_TEST_CPUS:-4}          # slots (config_overrides: may exceed the real cores)
CTLD_PORT=${SLURM_TEST_CTLD_PORT:-6817}
SLURMD_PORT=${SLURM_TEST_SLURMD_PORT:-6818}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop() {
    for pidfile in "$DIR/slurmd.pid" "$DIR/slurmctld.pid"; do
        if alive "$pidfile"; then kill "$(cat "$pidfile")"; fi
    done
    if [ -f "$DIR/munged.started" ] && [ -f /run/munge/munged.pid ] && alive /run/munge/munged.pid; then
        kill "$(cat /run/munge/munged.pid)"; rm -f "$DIR/munged.started"
    fi
}

status() {
    SLURM_CONF=$CONF sinfo -h -N -o '%N %T' 2>/dev/null
}

start() {
    for tool in munged slurmctld slurmd sinfo sbatch; do
        command -v "$tool" >/dev/null 2>&1 || { echo "missing: $tool (apt-get install -y slurm-wlm munge)" >&2; exit 2; }
    done
    [ "$(id -u)" = 0 ] || { echo "start_cluster.sh must run as root (it starts munged and slurmd)" >&2; exit 2; }
    mkdir -p "$DIR/state" "$DIR/spool"

    # munge: its key comes with the package; the socket directory belongs to munge
    if ! munge -n >/dev/null 2>&1; then
        [ -s /etc/munge/munge.key ] || { echo "missing /etc/munge/munge.key (reinstall munge)" >&2; exit 2; }
        mkdir -p /run/munge /var/log/munge /var/lib/munge
        chown munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge/munge.key
        chmod 0755 /run/munge
        runuser -u munge -- /usr/sbin/munged
        touch "$DIR/munged.started"
        for _ in $(seq 50); do munge -n >/dev/null 2>&1 && break; sleep 0.1; done
        munge -n >/dev/null
    fi

    cat > "$CONF" <<CONF
ClusterName=sweeptest
SlurmctldHost=$HOST
SlurmUser=root
AuthType=auth/munge
# a requeued job waits cred_expire seconds before it may start again (default 120)
AuthInfo=cred_expire=10
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=1
MinJobAge=600
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$HOST CPUs=$CPUS RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF

    if alive "$DIR/slurmctld.pid"; then SLURM_CONF=$CONF scontrol reconfigure; else slurmctld -f "$CONF"; fi
    alive "$DIR/slurmd.pid" || slurmd -f "$CONF"
    for _ in $(seq 60); do
        state=$(status | awk '{print $2}')
        case "$state" in idle*|mixed*|allocated*) echo "SLURM_CONF=$CONF"; return 0;; esac
        sleep 0.5
    done
    echo "the node did not come up (state: ${state:-none}); logs: $DIR/slurmctld.log $DIR/slurmd.log" >&2
    exit 1
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 [start|stop|status]" >&2; exit 64 ;;
esac
