#!/usr/bin/env bash
# Run the static checks and print a one-line summary per check.
#
# Usage: scripts/check.sh [CHECK...]
#   lint        ruff check: style, imports, likely bugs, print() in the extension (T20, which
#               no noqa comment in thrixel_blender/ can switch off)
#   format      ruff format --check
#   types-core  mypy --strict on thrixel_blender/client and thrixel_blender/jobs
#   types-glue  mypy on the Blender glue against the Blender 4.2 stubs (fake-bpy-module-4-2)
# Both type checks run once per target in MYPY_TARGETS, because mypy skips code under
# `if sys.platform == ...` and `if sys.version_info >= ...` for every other target.
# With no argument every check runs. The exit status is non-zero when any check fails.
# THRIXEL_VENV selects the virtual environment (default: .venv/bpy-5.0.1, made by
# scripts/setup.sh).
set -uo pipefail
cd "$(dirname "$0")/.."

venv="${THRIXEL_VENV:-.venv/bpy-5.0.1}"
if [ ! -x "$venv/bin/python" ]; then
    echo "check: $venv/bin/python not found; run scripts/setup.sh first" >&2
    exit 2
fi
py="$venv/bin/python"

# Python files of one layer, or nothing when the folder has none yet.
core_files() {
    find thrixel_blender/client thrixel_blender/jobs -name '*.py' -not -path '*/__pycache__/*' \
        2>/dev/null | sort
}
glue_files() {
    find thrixel_blender -name '*.py' -not -path '*/__pycache__/*' \
        -not -path 'thrixel_blender/client/*' -not -path 'thrixel_blender/jobs/*' | sort
}

# Platform and Python version pairs that mypy checks. Blender runs on Linux, Windows and macOS.
# Blender 4.2 to 5.0 ship Python 3.11 (the bpy 4.2.23 and 5.0.1 wheels require ==3.11.*). The
# manifest sets no blender_version_max, so a later Blender with a newer Python loads the
# extension too, and the 3.13 run type-checks code guarded by `sys.version_info >= (3, 12)`.
MYPY_TARGETS=("linux 3.11" "win32 3.11" "darwin 3.11" "linux 3.13")

# Run mypy with the arguments after $1 once per target and fail when any run fails. $1 names
# the check. Each check and target keeps its own cache, because mypy rechecks every module
# when the options change. An error that an earlier target already listed is not printed again.
run_mypy() {
    local check="$1" listed status=0 target platform version output
    shift
    listed="$(mktemp)"
    for target in "${MYPY_TARGETS[@]}"; do
        read -r platform version <<<"$target"
        echo "-- mypy --platform $platform --python-version $version"
        if ! output="$("$py" -m mypy --platform "$platform" --python-version "$version" \
            --cache-dir ".mypy_cache/$check-$platform-$version" "$@" 2>&1)"; then
            status=1
        fi
        awk -v listed="$listed" '
            BEGIN { while ((getline line < listed) > 0) seen[line] = 1 }
            $0 in seen { n++; next }
            { print }
            END {
                if (n) printf "(%d lines listed for an earlier target not repeated)\n", n
            }
        ' <<<"$output"
        grep -E ': (error|note):' <<<"$output" >>"$listed"
    done
    rm -f "$listed"
    return "$status"
}

check_lint() {
    local status=0
    "$py" -m ruff check --no-fix --output-format=concise . || status=1
    # A `# noqa: T201` or `# ruff: noqa` comment must not let a print() into the extension.
    echo "-- ruff check --select T20 --ignore-noqa thrixel_blender"
    "$py" -m ruff check --no-fix --output-format=concise --select T20 --ignore-noqa \
        thrixel_blender || status=1
    return "$status"
}
check_format() { "$py" -m ruff format --check .; }

check_types_core() {
    mapfile -t files < <(core_files)
    if [ "${#files[@]}" -eq 0 ]; then
        echo "no files in thrixel_blender/client or thrixel_blender/jobs"
        return 1
    fi
    # Imported modules outside the two layers are analysed but not reported here
    # (types-glue reports them), so this check judges client/ and jobs/ alone.
    run_mypy core --strict --follow-imports=silent "${files[@]}"
}

check_types_glue() {
    mapfile -t files < <(glue_files)
    if [ "${#files[@]}" -eq 0 ]; then
        echo "no glue modules in thrixel_blender/"
        return 1
    fi
    site="$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    if [ ! -d "$site/bpy-stubs" ]; then
        echo "fake-bpy-module-4-2 is not installed in $venv; run scripts/setup.sh"
        return 1
    fi
    # The glue strictness is set per module in pyproject.toml.
    run_mypy glue --follow-imports=silent "${files[@]}"
}

all_checks=(lint format types-core types-glue)
if [ "$#" -eq 0 ]; then
    set -- "${all_checks[@]}"
fi

declare -a summary=()
failed=0
for name in "$@"; do
    case "$name" in
        lint) description="ruff check" ;;
        format) description="ruff format --check" ;;
        types-core) description="mypy --strict client/ jobs/, every MYPY_TARGETS entry" ;;
        types-glue) description="mypy glue with Blender 4.2 stubs, every MYPY_TARGETS entry" ;;
        *)
            echo "check: unknown check '$name' (expected one of: ${all_checks[*]})" >&2
            exit 2
            ;;
    esac
    echo "== $name: $description"
    if "check_${name//-/_}"; then
        summary+=("PASS  $name  ($description)")
    else
        summary+=("FAIL  $name  ($description)")
        failed=1
    fi
done

echo
echo "== check summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
