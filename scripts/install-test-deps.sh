#!/usr/bin/env bash
# What `make test` needs beyond Python packages, from Debian: Slurm for the array-job tests and
# Chromium for the report test. (Eval toolchains: scripts/install-eval-toolchains.sh.)
# Idempotent and quiet when everything is present; tests that still lack a tool skip with a reason.
set -uo pipefail
need=()
command -v slurmctld >/dev/null || need+=(slurmctld)
command -v slurmd >/dev/null || need+=(slurmd)
command -v sbatch >/dev/null || need+=(slurm-client)
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-test-deps: not root, cannot install ${need[*]}; their tests will skip" >&2
    exit 0
  fi
  echo "install-test-deps: apt-get install ${need[*]}"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}") \
    >/tmp/dscoder-apt.log 2>&1 || echo "install-test-deps: apt-get failed (see /tmp/dscoder-apt.log); tests needing it will skip" >&2
fi
exit 0
