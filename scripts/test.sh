#!/usr/bin/env bash
# The project's test command: sets up both Blender versions and runs every test and check.
#
# Steps, in order:
#   1. scripts/setup.sh for each Blender version (the oldest supported and the newest release)
#   2. unit tests (tests/unit), once, in the newest version's environment
#   3. Blender tests (tests/blender) under each version, each run wrapped in `timeout`
#   4. static checks (scripts/check.sh)
# It prints a summary and exits non-zero when any step fails.
#
# Environment:
#   THRIXEL_BPY_VERSIONS  Blender versions to test (default: "4.2.23 5.0.1"); the last one also
#                         runs the unit tests and the checks
#   THRIXEL_SKIP_SETUP=1  use the existing .venv/bpy-<version> environments as they are
#   Extra arguments are passed to every pytest run, e.g. scripts/test.sh -x -k registration
set -uo pipefail
cd "$(dirname "$0")/.."

read -r -a versions <<<"${THRIXEL_BPY_VERSIONS:-4.2.23 5.0.1}"
newest="${versions[-1]}"
# Upper bounds per step, so a hung Blender or server fails the run instead of stalling it.
# With the environments in place, a whole run took about 3.5 minutes on a 2-core machine
# (unit tests 70 s, Blender tests about 60 s per version).
setup_timeout=1200
unit_timeout=1500
blender_timeout=900
check_timeout=600

logs="$(mktemp -d -t thrixel-test-XXXXXX)"
declare -a summary=()
failed=0
total_passed=0
total_failed=0
total_skipped=0

# Record one step's outcome. $1: status (0 = pass), $2: step name, $3: detail.
record() {
    if [ "$1" -eq 0 ]; then
        summary+=("PASS  $2${3:+  ($3)}")
    else
        summary+=("FAIL  $2${3:+  ($3)}")
        failed=1
    fi
}

# Read pytest's closing line from log $1 into $pytest_line and add its counts to the totals.
pytest_line=""
count_pytest() {
    pytest_line="$(grep -E '(passed|failed|errors?|skipped|no tests ran).* in [0-9.]+s' "$1" \
        | tail -n 1 | sed -E 's/^=+ //; s/ =+$//')"
    local passed failed_count errors skipped
    passed="$(grep -oE '[0-9]+ passed' <<<"$pytest_line" | grep -oE '[0-9]+' || true)"
    failed_count="$(grep -oE '[0-9]+ failed' <<<"$pytest_line" | grep -oE '[0-9]+' || true)"
    errors="$(grep -oE '[0-9]+ errors?' <<<"$pytest_line" | grep -oE '[0-9]+' || true)"
    skipped="$(grep -oE '[0-9]+ skipped' <<<"$pytest_line" | grep -oE '[0-9]+' || true)"
    total_passed=$((total_passed + ${passed:-0}))
    total_failed=$((total_failed + ${failed_count:-0} + ${errors:-0}))
    total_skipped=$((total_skipped + ${skipped:-0}))
}

# Run pytest under `timeout`. $1: step name, $2: version, $3: seconds, rest: pytest arguments.
run_pytest() {
    local name="$1" version="$2" seconds="$3"
    shift 3
    local log="$logs/${name// /-}-$version.log"
    echo
    echo "== $name (bpy $version)"
    timeout --kill-after=30 "$seconds" ".venv/bpy-$version/bin/python" -m pytest "$@" 2>&1 \
        | tee "$log"
    local status="${PIPESTATUS[0]}"
    count_pytest "$log"
    local detail="${pytest_line:-no pytest summary line}"
    case "$status" in
        0) ;;
        5) detail="no tests collected" ;;
        124 | 137) detail="timed out after ${seconds}s; $detail" ;;
    esac
    record "$status" "$name (bpy $version)" "$detail"
}

# 1. Environments.
for version in "${versions[@]}"; do
    if [ "${THRIXEL_SKIP_SETUP:-0}" = "1" ]; then
        continue
    fi
    echo "== setup bpy $version"
    timeout "$setup_timeout" bash scripts/setup.sh "$version"
    record "$?" "setup bpy $version" ""
done

# 2. Unit tests, once.
run_pytest "unit tests" "$newest" "$unit_timeout" tests/unit "$@"

# 3. Blender tests under each version.
for version in "${versions[@]}"; do
    run_pytest "Blender tests" "$version" "$blender_timeout" tests/blender "$@"
done

# 4. Static checks.
echo
timeout "$check_timeout" env THRIXEL_VENV=".venv/bpy-$newest" bash scripts/check.sh
record "$?" "checks" "scripts/check.sh"

echo
echo "== test summary"
printf '%s\n' "${summary[@]}"
echo "logs: $logs"
echo "tests: $total_passed passed, $total_failed failed, $total_skipped skipped"
exit "$failed"
