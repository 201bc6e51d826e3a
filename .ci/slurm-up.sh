#!/usr/bin/env bash
# Start a one-node Slurm on this machine (for the tests that submit real jobs): write
# slurm.conf from `slurmd -C`, a munge key, start munged, slurmctld and slurmd, and wait
# until `sinfo` shows the node idle. Run as root; running it again is fine.
# Exit 0 when Slurm answers, 1 when it cannot start (the reason on stderr).
set -euo pipefail

CONF_DIR=/etc/slurm
STATE=/var/spool/slurmctld
SPOOL=/var/spool/slurmd
LOGS=/var/log/slurm
WAIT=${SLURM_UP_WAIT:-60}

say() { echo "slurm-up: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    say "must run as root (it writes $CONF_DIR and starts daemons)"; exit 1
fi
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
        || ! command -v munged >/dev/null; then
    if command -v apt-get >/dev/null; then
        say "installing slurm-wlm and munge"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            slurm-wlm munge; } >&2 || { say "apt-get could not install slurm-wlm munge"; exit 1; }
    else
        say "slurmctld, slurmd or munged is missing and there is no apt-get"; exit 1
    fi
fi

# munge: one key shared by every daemon and client on this machine
mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge
chmod 0700 /etc/munge /var/log/munge
chmod 0400 /etc/munge/munge.key
chmod 0755 /run/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- munged || { say "munged did not start"; exit 1; }
fi
for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
munge -n | unmunge >/dev/null || { say "munge does not answer"; exit 1; }

# slurm.conf for this one node: its name, CPUs and memory as slurmd sees them
NODE=$(hostname -s)
HW=$(slurmd -C | head -1 | sed "s/^NodeName=[^ ]* //")
mkdir -p "$CONF_DIR" "$STATE" "$SPOOL" "$LOGS"
cat >"$CONF_DIR/slurm.conf.new" <<EOF
# written by .ci/slurm-up.sh: one node, this machine
ClusterName=ptmci
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# a requeued job may start again after cred_expire seconds (default 120)
AuthInfo=cred_expire=10
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
ReturnToService=2
StateSaveLocation=$STATE
SlurmdSpoolDir=$SPOOL
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
KillWait=10
MinJobAge=600
MaxJobCount=10000
NodeName=$NODE NodeAddr=127.0.0.1 $HW State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES DefMemPerCPU=1000 MaxTime=INFINITE State=UP
EOF
# a changed slurm.conf needs the daemons restarted (reconfigure does not reload everything)
if ! cmp -s "$CONF_DIR/slurm.conf.new" "$CONF_DIR/slurm.conf"; then
    mv "$CONF_DIR/slurm.conf.new" "$CONF_DIR/slurm.conf"
    for daemon in slurmd slurmctld; do
        if [ -s "/run/$daemon.pid" ] && kill "$(cat "/run/$daemon.pid")" 2>/dev/null; then
            for _ in $(seq 50); do kill -0 "$(cat "/run/$daemon.pid")" 2>/dev/null || break; sleep 0.2; done
        fi
    done
else
    rm -f "$CONF_DIR/slurm.conf.new"
fi
chmod 0644 "$CONF_DIR/slurm.conf"

running() { [ -s "/run/$1.pid" ] && kill -0 "$(cat "/run/$1.pid")" 2>/dev/null; }
for daemon in slurmctld slurmd; do
    if ! running "$daemon"; then
        "$daemon" || { say "$daemon did not start: see $LOGS/$daemon.log"; tail -5 "$LOGS/$daemon.log" >&2; exit 1; }
    fi
done

for _ in $(seq "$WAIT"); do
    state=$(sinfo -h -n "$NODE" -o %T 2>/dev/null || true)
    case "$state" in
        idle | mixed | allocated) say "node $NODE is $state"; exit 0 ;;
        down* | drain* | *fail*) scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true ;;
    esac
    sleep 1
done
say "node $NODE is not idle after ${WAIT}s (sinfo says '${state:-nothing}')"
tail -5 "$LOGS/slurmctld.log" "$LOGS/slurmd.log" >&2 || true
exit 1
