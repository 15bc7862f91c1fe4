#!/usr/bin/env bash
# The SDK local evaluation benchmark, in a venv of its own so that the competitors' packages
# never enter the project's environment.
#
#   bench/flags/run.sh [--users N] [--rounds R] [--only a,b] [--save PATH] [--json]
#
# 1. /tmp/andon-bench-flags-venv: Andon (editable, from this checkout) and requirements.txt;
#    made once, and again when requirements.txt or pyproject.toml change.
#    eval.py runs there with the arguments given: the table goes to stdout, progress to
#    stderr, the JSON to --save (default /tmp/andon-bench-flags/eval-<time>.json).
# 2. Unless FLAGD_V2=0: /tmp/andon-bench-flags-venv-flagd-v2, the same with
#    requirements-flagd-v2.txt (the last flagd provider with fractional v2), where eval.py
#    runs Andon, flagd and the hand-written check again (3 rounds, no memory) to check that
#    Andon and flagd v2 put every user in the same bucket.
#
# Environment: ANDON_BENCH_FLAGS_VENV (the first venv's path), PYTHON (the interpreter that
# makes the venvs; default /work/venv/bin/python, else python3), FLAGD_V2=0.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${ANDON_BENCH_FLAGS_VENV:-/tmp/andon-bench-flags-venv}"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x /work/venv/bin/python ]]; then PYTHON=/work/venv/bin/python; else PYTHON=python3; fi
fi

ensure_venv() {  # ensure_venv PATH REQUIREMENTS
    local path="$1" requirements="$2" stamp
    stamp="$(cat "$requirements" "$root/pyproject.toml" | sha256sum | cut -c1-16)"
    if [[ -f "$path/.andon-bench-stamp" && "$(cat "$path/.andon-bench-stamp")" == "$stamp" ]]; then
        return
    fi
    echo "making $path (pip install -e $root -r $(basename "$requirements"))" >&2
    rm -rf "$path"
    "$PYTHON" -m venv "$path"
    "$path/bin/pip" install --quiet --disable-pip-version-check -e "$root" -r "$requirements" >&2
    echo "$stamp" >"$path/.andon-bench-stamp"
}

ensure_venv "$venv" "$here/requirements.txt"
"$venv/bin/python" "$here/eval.py" "$@"

if [[ "${FLAGD_V2:-1}" != "0" ]]; then
    ensure_venv "$venv-flagd-v2" "$here/requirements-flagd-v2.txt"
    echo >&2
    echo "flagd v2 agreement (openfeature-provider-flagd 0.5.2) in $venv-flagd-v2" >&2
    echo
    "$venv-flagd-v2/bin/python" "$here/eval.py" "$@" \
        --only andon,andon-client,flagd,flagd-provider,hand --rounds 3 --no-memory \
        --save "/tmp/andon-bench-flags/flagd-v2-$(date -u +%Y%m%dT%H%M%SZ).json"
fi
