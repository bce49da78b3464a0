#!/usr/bin/env bash
# Renders deploy/k8s and validates every document offline (CTest: k8s_manifests).
#   1. `kubectl kustomize` renders (or, without kubectl, validate.mjs's own
#      rendering of the same kustomization)
#   2. every document passes kubernetes-models' schema validation and
#      kubernetes-types + tsc's unknown-field check
#   3. planted mistakes are caught (the checks check something)
# Needs node and npm; installs the pinned packages with `npm ci`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
k8s="$here/../k8s"
cd "$here"

# Reinstall when node_modules is missing or older than the lock file.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  timeout 240 npm ci --no-audit --no-fund --loglevel=error
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/lossd-k8s.XXXXXX")"
trap 'rm -rf "$work"' EXIT
passes=0
failures=0
step() {  # step DESCRIPTION COMMAND...
  local what="$1"; shift
  if "$@"; then passes=$((passes + 1)); echo "ok   $what"
  else failures=$((failures + 1)); echo "FAIL $what"; fi
}

if command -v kubectl >/dev/null 2>&1; then
  step "kubectl kustomize renders deploy/k8s" \
    bash -c "kubectl kustomize '$k8s' > '$work/rendered.yaml'"
else
  echo "no kubectl: rendering with validate.mjs --render-only"
fi
# The kubectl-free rendering is checked too, so that it stays usable.
step "validate.mjs --render-only renders deploy/k8s" \
  bash -c "node validate.mjs --render-only '$k8s' > '$work/rendered-without-kubectl.yaml'"
[[ -s "$work/rendered.yaml" ]] || cp "$work/rendered-without-kubectl.yaml" "$work/rendered.yaml"

step "every rendered document passes both validations" node validate.mjs "$work/rendered.yaml"
step "the kubectl-free rendering passes both validations" \
  node validate.mjs "$work/rendered-without-kubectl.yaml"
step "planted mistakes are caught" node validate.mjs --self-test "$work/rendered.yaml"
step "the Deployment has gRPC liveness and readiness probes on their services" \
  grep -qE 'service: readiness' "$work/rendered.yaml"
echo "$passes passed, $failures failed"
[[ "$failures" -eq 0 ]]
