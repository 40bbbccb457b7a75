#!/usr/bin/env bash
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# The long parser fuzz run (tests/fuzz/harness.py): 100,000 inputs by
# default over every target (elf, btf, ext, core, cache), 2 workers, 2 s and
# 1 GiB per input, with the running kernel's vmlinux BTF as an extra BTF
# seed when there is one. New findings are minimised and written to
# tests/fuzz/regressions/ (advisory ones to .../advisory/); the summary
# (inputs, inputs/s, findings, peak RSS) goes to bench/results/fuzz_long.json
# and /usr/bin/time -v adds the wall time and maximum resident set size.
#
#   bench/fuzz_long.sh                      # 100000 inputs, seed 20250101
#   INPUTS=500000 SEED=7 bench/fuzz_long.sh
#   bench/fuzz_long.sh --seconds 3600       # extra arguments go to harness.py
# Exit status: harness.py's (1 when anything non-advisory was found).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
py="$top/.venv/bin/python"
[ -x "$py" ] || py=python3
if command -v make >/dev/null 2>&1 && command -v clang >/dev/null 2>&1; then
  make -s -k -C tests/bpf || echo "fuzz_long: some test objects did not build; using those that did" >&2
fi
mkdir -p bench/results
args=(--seed "${SEED:-20250101}" --workers "${WORKERS:-2}" --summary bench/results/fuzz_long.json)
if [ $# -eq 0 ] || [[ " $* " != *" --seconds "* && " $* " != *" --inputs "* ]]; then
  args+=(--inputs "${INPUTS:-100000}")
fi
if [ -r /sys/kernel/btf/vmlinux ] && [ -z "${NO_VMLINUX:-}" ]; then
  args+=(--extra-btf /sys/kernel/btf/vmlinux)
fi
timer=()
[ -x /usr/bin/time ] && timer=(/usr/bin/time -v)
export PYTHONPATH="$top/.venv/collections${PYTHONPATH:+:$PYTHONPATH}"
exec "${timer[@]}" "$py" tests/fuzz/harness.py "${args[@]}" "$@"
