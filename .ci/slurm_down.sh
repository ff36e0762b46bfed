#!/usr/bin/env bash
# Stop only what slurm_up.sh started, by pid file.
stop() { local f=$1; [ -s "$f" ] || return 0; local p; p=$(cat "$f")
  kill "$p" 2>/dev/null || return 0
  for _ in $(seq 1 20); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.5; done
  kill -KILL "$p" 2>/dev/null || true; }
scancel --user="$(id -un)" 2>/dev/null || true
stop /run/slurmd.pid; stop /run/slurmctld.pid; stop /run/munge/munged.pid
