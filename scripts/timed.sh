#!/usr/bin/env bash
# timed.sh NAME CMD [ARG...]: runs CMD and prints how long the phase took, so that every phase of a
# CI run shows its time. Exits with CMD's status.
name="$1"; shift
t0=$(date +%s)
echo "== phase: $name (start $(date +%T))" >&2
"$@"; rc=$?
echo "== phase: $name: $(( $(date +%s) - t0 ))s, exit $rc" >&2
exit $rc
