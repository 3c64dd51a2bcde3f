#!/usr/bin/env bash
# Run the static checks and print a one-line summary per check.
#
# Usage: scripts/check.sh [CHECK...]
#   lint        ruff check: style, imports, likely bugs, print() in the extension (T20)
#   format      ruff format --check
#   types-core  mypy --strict on thrixel_blender/client and thrixel_blender/jobs
#   types-glue  mypy on the Blender glue against the Blender 4.2 stubs (fake-bpy-module-4-2)
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

check_lint() { "$py" -m ruff check --no-fix --output-format=concise .; }
check_format() { "$py" -m ruff format --check .; }

check_types_core() {
    mapfile -t files < <(core_files)
    if [ "${#files[@]}" -eq 0 ]; then
        echo "no files in thrixel_blender/client or thrixel_blender/jobs"
        return 1
    fi
    # Imported modules outside the two layers are analysed but not reported here
    # (types-glue reports them), so this check judges client/ and jobs/ alone.
    "$py" -m mypy --strict --follow-imports=silent "${files[@]}"
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
    "$py" -m mypy --follow-imports=silent "${files[@]}"
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
        types-core) description="mypy --strict client/ jobs/" ;;
        types-glue) description="mypy glue with Blender 4.2 stubs" ;;
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
