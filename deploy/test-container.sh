#!/usr/bin/env bash
# Builds the lossd image and runs it for real under Debian's Docker engine.
#
#   deploy/test-container.sh [--lossctl PATH]     (as root; CTest: container_image)
#
# 1. installs docker.io, docker-compose, debootstrap (deploy/container-apt-packages.txt)
# 2. starts its own dockerd (data root, exec root and socket in a temp dir)
# 3. makes debian:bookworm-slim with debootstrap + docker import if absent
#    (the root filesystem tarball is cached in $LOSSD_CONTAINER_CACHE)
# 4. builds the image, runs it read-only with all capabilities dropped on
#    published 127.0.0.1 ports, waits for `healthy`, sends Compute requests
#    with lossctl (the image's, and the host's if --lossctl is given) and
#    checks the answers, scrapes /metrics, checks the user is not root
# 5. SIGTERM: checks exit code 0 and the time it took
# 6. validates deploy/compose.yaml, brings it up (server + lossctl bench job)
#    and down
# Prints image size, build time, start-to-serving, start-to-healthy and stop
# time. Everything it started is stopped by PID or by name in an EXIT trap.
# Works without a TTY (CI=true). Exit 0 only when every check passed.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
host_lossctl=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --lossctl) host_lossctl="$2"; shift 2 ;;
    --lossctl=*) host_lossctl="${1#*=}"; shift ;;
    *) echo "usage: $0 [--lossctl PATH]" >&2; exit 2 ;;
  esac
done

# The build context: the repository, or LOSSD_CONTAINER_CONTEXT (e.g. a
# `git archive` of one commit when the work tree is busy).
context="${LOSSD_CONTAINER_CONTEXT:-$root}"
image="lossd:container-test"
base_image="debian:bookworm-slim"
cache_dir="${LOSSD_CONTAINER_CACHE:-/var/cache/lossd-container}"
work="$(mktemp -d "${TMPDIR:-/tmp}/lossd-container.XXXXXX")"
# Debian's docker client (the same version as its engine) ahead of any other.
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
docker_bin=/usr/bin/docker
export DOCKER_HOST="unix://$work/docker.sock"
export DOCKER_BUILDKIT=0  # The legacy builder: no frontend image to pull.
container="lossd-test-$$"
compose_project="lossdtest$$"
dockerd_pid=""
made_bridge=0
made_podman_bridge=0
ip_forward_before=""
forward_policy_before=""
cni_chains_before=0
passes=0
failures=0

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
pass() { passes=$((passes + 1)); log "ok   $*"; }
fail() { failures=$((failures + 1)); log "FAIL $*"; }
check() {  # check DESCRIPTION COMMAND...
  local what="$1"; shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
quietly() { "$@" > /dev/null 2>&1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
# Podman with its storage in the temp dir, so nothing is left on the machine.
podman=(podman --root "$work/podman/root" --runroot "$work/podman/run")
podman_used=0
# Bounded stages: `stage SECONDS COMMAND...` fails the stage when it runs over
# its own limit or the script's budget (LOSSD_CONTAINER_BUDGET, default 820 s,
# inside CTest's 900 s so that the cleanup trap always gets to run).
budget="${LOSSD_CONTAINER_BUDGET:-820}"
stage() {
  local limit="$1"; shift
  local left=$((budget - SECONDS))
  [[ $left -lt $limit ]] && limit=$left
  if [[ $limit -le 0 ]]; then echo "out of time budget ($budget s)" >&2; return 124; fi
  timeout --kill-after=10 "$limit" "$@"
}

# remove_chains REGEX: the iptables chains matching REGEX (filter and nat
# tables), with the rules that jump to them.
remove_chains() {
  local pattern="$1" table rule chain
  for table in filter nat; do
    while read -r rule; do
      eval "iptables -t $table ${rule/#-A/-D}"
    done < <(iptables -t "$table" -S | grep -E -- "-j ($pattern)( |$)" | grep -vE "^-A ($pattern) ")
    for chain in $(iptables -t "$table" -S | awk -v p="^($pattern)$" '$1 == "-N" && $2 ~ p {print $2}'); do
      iptables -t "$table" -F "$chain"
    done
    for chain in $(iptables -t "$table" -S | awk -v p="^($pattern)$" '$1 == "-N" && $2 ~ p {print $2}'); do
      iptables -t "$table" -X "$chain"
    done
  done
}

cleanup() {
  local code=$?
  set +e
  trap - EXIT INT TERM
  if [[ -n "$dockerd_pid" ]] && kill -0 "$dockerd_pid" 2>/dev/null; then
    timeout 60 docker-compose -p "$compose_project" -f "$here/compose.yaml" \
      down --volumes --remove-orphans >/dev/null 2>&1
    timeout 30 docker rm -f "$container" >/dev/null 2>&1
    kill "$dockerd_pid"  # dockerd stops its own containerd.
    for _ in $(seq 1 100); do
      kill -0 "$dockerd_pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -0 "$dockerd_pid" 2>/dev/null && kill -9 "$dockerd_pid"
  fi
  if [[ "$podman_used" -eq 1 ]]; then
    timeout 60 "${podman[@]}" kube down "$work/podman.yaml" >/dev/null 2>&1
    timeout 60 "${podman[@]}" rm -af >/dev/null 2>&1
  fi
  # Mounts dockerd left behind (it unmounts on a clean stop), then the files.
  findmnt -rn -o TARGET | grep -F "$work/" | sort -r | xargs -r umount -l 2>/dev/null
  # The bridges our dockerd and podman made, unless another engine now uses them.
  if [[ "$made_bridge" -eq 1 ]] && ! pgrep -x dockerd >/dev/null; then
    ip link delete docker0 2>/dev/null
  fi
  # Our pod's conmon processes linger a moment after kube down; one still
  # there after 10 s belongs to another podman user, whose network stays.
  if [[ "$podman_used" -eq 1 ]]; then
    for _ in $(seq 1 50); do pgrep -x conmon >/dev/null || break; sleep 0.2; done
  fi
  if [[ "$podman_used" -eq 1 ]] && ! pgrep -x conmon >/dev/null; then
    [[ "$made_podman_bridge" -eq 1 ]] && ip link delete cni-podman1 2>/dev/null
    [[ "$cni_chains_before" -eq 0 ]] && remove_chains 'CNI-[A-Z0-9-]+'
    [[ -n "$forward_policy_before" ]] && iptables -P FORWARD "$forward_policy_before"
    [[ -n "$ip_forward_before" ]] && echo "$ip_forward_before" > /proc/sys/net/ipv4/ip_forward
  fi
  rm -rf "$work"
  log "cleaned up (exit $code)"
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ "$(id -u)" -ne 0 ]]; then
  echo "test-container.sh runs Debian's dockerd and debootstrap: run it as root" >&2
  exit 1
fi

# One run per machine: dockerd's bridge (docker0) and iptables chains are
# machine-wide, so two runs at once (several `make test`s on a shared
# machine) would break each other. CI runs one; a second run waits a minute,
# then reports itself skipped (exit 77, CTest's SKIP_RETURN_CODE).
lock_file=/run/lock/lossd-container-test.lock
exec 9> "$lock_file"
if ! flock --wait "${LOSSD_CONTAINER_LOCK_WAIT:-60}" 9; then
  echo "another deploy/test-container.sh holds $lock_file: skipped" >&2
  exit 77
fi

# 1. Packages.
mapfile -t wanted < <(sed -e 's/#.*//' -e '/^\s*$/d' "$here/container-apt-packages.txt")
missing=()
for package in "${wanted[@]}"; do
  [[ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null)" == "install ok installed" ]] \
    || missing+=("$package")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  stage 300 apt-get update -qq
  stage 300 apt-get install -y -qq --no-install-recommends "${missing[@]}" > "$work/apt.log" 2>&1 \
    || { tail -20 "$work/apt.log"; exit 1; }
fi

# 2. Our own dockerd.
ip link show docker0 >/dev/null 2>&1 || made_bridge=1
ip link show cni-podman1 >/dev/null 2>&1 || made_podman_bridge=1
# Podman's CNI plugins change these machine-wide; put them back afterwards.
ip_forward_before="$(cat /proc/sys/net/ipv4/ip_forward)"
forward_policy_before="$(iptables -S FORWARD 2>/dev/null | awk '$1 == "-P" {print $3}')"
iptables -t nat -S 2>/dev/null | grep -q '^-N CNI-' && cni_chains_before=1
# --iptables=false --ip-forward=false: no machine-wide firewall or sysctl
# changes. Published ports still work (docker-proxy), containers on one
# network reach each other, and the image build uses the host's network.
setsid dockerd --data-root "$work/data" --exec-root "$work/exec" \
  --pidfile "$work/dockerd.pid" --host "$DOCKER_HOST" \
  --iptables=false --ip-forward=false \
  > "$work/dockerd.log" 2>&1 < /dev/null 9>&- &
dockerd_pid=$!
deadline=$((SECONDS + 30))
until docker info >/dev/null 2>&1; do
  if ! kill -0 "$dockerd_pid" 2>/dev/null || [[ $SECONDS -ge $deadline ]]; then
    tail -30 "$work/dockerd.log"; echo "dockerd did not start" >&2; exit 1
  fi
  sleep 0.2
done
log "dockerd $(docker version -f '{{.Server.Version}}') up (pid $dockerd_pid, storage $(docker info -f '{{.Driver}}'))"

# 3. The base image, made locally: there is no registry to pull from.
if ! docker image inspect "$base_image" >/dev/null 2>&1; then
  tarball="$cache_dir/bookworm-minbase.tar"
  if [[ ! -s "$tarball" ]]; then
    mirror="$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
      | grep -v security | head -1 | tr -d ' ' || true)"
    mirror="${mirror:-http://deb.debian.org/debian}"
    log "debootstrap bookworm from $mirror"
    started="$(now)"
    stage 400 debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" > "$work/debootstrap.log" 2>&1 \
      || { tail -20 "$work/debootstrap.log"; exit 1; }
    rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
    mkdir -p "$cache_dir"
    tar -C "$work/rootfs" -cf "$tarball.partial" . && mv "$tarball.partial" "$tarball"
    rm -rf "$work/rootfs"
    log "debootstrap took $(since "$started") s"
  fi
  stage 120 docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["/bin/bash"]' "$tarball" "$base_image" >/dev/null
  log "made $base_image from $tarball"
fi

# 4. Build.
log "building $image"
started="$(now)"
if ! stage 600 docker build --network host -t "$image" "$context" > "$work/build.log" 2>&1; then
  tail -40 "$work/build.log"; echo "docker build failed" >&2; exit 1
fi
build_seconds="$(since "$started")"
image_bytes="$(docker image inspect -f '{{.Size}}' "$image")"
image_mb="$(awk -v b="$image_bytes" 'BEGIN { printf "%.1f", b / 1e6 }')"
log "built in $build_seconds s; image $image_mb MB; $(grep -m1 'Sending build context' "$work/build.log" || true)"
pass "image builds"
check "image runs as a numeric non-root user" \
  test "$(docker image inspect -f '{{.Config.User}}' "$image")" = "10001:10001"
check "image has a HEALTHCHECK" \
  test -n "$(docker image inspect -f '{{if .Config.Healthcheck}}{{.Config.Healthcheck.Test}}{{end}}' "$image")"

# 5. Run: read-only, no capabilities, loopback-published ports.
started="$(now)"
docker run -d --name "$container" --read-only --cap-drop ALL \
  --security-opt no-new-privileges --memory 1g --health-interval 1s \
  -p 127.0.0.1::50051 -p 127.0.0.1::9090 "$image" >/dev/null
grpc_port="$(docker port "$container" 50051/tcp | head -1 | sed 's/.*://')"
metrics_port="$(docker port "$container" 9090/tcp | head -1 | sed 's/.*://')"
serving_seconds=""
deadline=$((SECONDS + 60))
while :; do
  if [[ -z "$serving_seconds" && -n "$host_lossctl" ]] &&
     "$host_lossctl" health --target="127.0.0.1:$grpc_port" --timeout=1s >/dev/null 2>&1; then
    serving_seconds="$(since "$started")"
  fi
  health="$(docker inspect -f '{{.State.Health.Status}}' "$container" 2>/dev/null || echo gone)"
  [[ "$health" == healthy || "$health" == unhealthy || "$health" == gone ]] && break
  if [[ $SECONDS -ge $deadline ]]; then health="timeout"; break; fi
  sleep 0.1
done
healthy_seconds="$(since "$started")"
if [[ "$health" != healthy ]]; then
  docker logs "$container" 2>&1 | tail -20
  docker inspect -f '{{json .State.Health}}' "$container" 2>/dev/null | head -c 2000; echo
  echo "container did not become healthy: $health" >&2
  exit 1
fi
pass "container is healthy after $healthy_seconds s (--health-interval 1s)"

# Compute with the image's lossctl, then the host's through the published port.
# cross_entropy of logits [[2, 0.5, -1], [0.1, 0.2, 0.3]], labels [0, 2]:
# mean(logsumexp(row) - row[label]) = 0.621627072443201 (float32 input here).
expected=0.621627072443201
compute_args=(compute --loss=cross_entropy --input='[[2.0,0.5,-1.0],[0.1,0.2,0.3]]' --labels='[0,2]' --format=json)
loss_close() {  # loss_close JSON: the "loss" field is within 1e-6 of expected
  local loss
  loss="$(sed -n 's/^ *"loss": *\([-0-9.eE+]*\),*$/\1/p' <<< "$1" | head -1)"
  [[ -n "$loss" ]] && awk -v a="$loss" -v b="$expected" 'BEGIN { d = a - b; exit !(d < 1e-6 && d > -1e-6) }'
}
for i in 1 2 3; do
  answer="$(stage 30 docker exec "$container" lossctl "${compute_args[@]}" --target=localhost:50051 --request_id="in-image-$i" 2>&1 || true)"
  check "Compute $i from the image's lossctl answers $expected" loss_close "$answer"
done
if [[ -n "$host_lossctl" ]]; then
  answer="$(stage 30 "$host_lossctl" "${compute_args[@]}" --target="127.0.0.1:$grpc_port" 2>&1 || true)"
  check "Compute from the host's lossctl through 127.0.0.1:$grpc_port answers $expected" loss_close "$answer"
  answer="$(stage 30 "$host_lossctl" compute --loss=cross_entropy --input='[[1.0,2.0]]' --labels='[5]' --target="127.0.0.1:$grpc_port" 2>&1 || true)"
  check "a bad label is refused with INVALID_ARGUMENT" grep -q INVALID_ARGUMENT <<< "$answer"
  check "readiness is SERVING" \
    quietly "$host_lossctl" health --target="127.0.0.1:$grpc_port" --service=readiness --timeout=2s
  check "liveness is SERVING" \
    quietly "$host_lossctl" health --target="127.0.0.1:$grpc_port" --service=liveness --timeout=2s
fi
metrics="$(curl -fsS --max-time 5 "http://127.0.0.1:$metrics_port/metrics" || true)"
check "/metrics counts the 3 in-image Compute calls as OK" \
  grep -qE '^grpc_server_handled_total\{.*grpc_code="OK".*grpc_method="Compute".*\} [3-9]' <<< "$metrics"
check "/metrics counts requests for cross_entropy" \
  grep -qE '^lossd_loss_requests_total\{loss="cross_entropy"\} [1-9]' <<< "$metrics"
check "the server runs as uid 10001, not root" \
  test "$(docker exec "$container" id -u)" = 10001
check "the root filesystem is read-only" \
  bash -c "! $docker_bin exec $container touch /tmp/x 2>/dev/null"
check "the log has one line per request with its request id" \
  grep -q 'request_id=in-image-2' <(docker logs "$container" 2>&1)

# 6. SIGTERM: drain and exit 0, quickly.
started="$(now)"
docker kill --signal SIGTERM "$container" >/dev/null
exit_code="$(stage 30 docker wait "$container")"
stop_seconds="$(since "$started")"
check "SIGTERM: exit code $exit_code is 0" test "$exit_code" = 0
check "SIGTERM: stopped in $stop_seconds s (< 5 s)" awk -v s="$stop_seconds" 'BEGIN { exit !(s < 5) }'
check "the log says draining then stopped" \
  bash -c "$docker_bin logs $container 2>&1 | grep -q draining && $docker_bin logs $container 2>&1 | grep -q stopped"
docker rm "$container" >/dev/null

# 7. Compose: validate offline, then the server and the bench job for real.
export LOSSD_IMAGE="$image" LOSSD_PUBLISH_GRPC="127.0.0.1:" LOSSD_PUBLISH_METRICS="127.0.0.1:"
check "docker-compose config validates deploy/compose.yaml" \
  docker-compose -p "$compose_project" -f "$here/compose.yaml" config -q
started="$(now)"
if stage 240 docker-compose -p "$compose_project" -f "$here/compose.yaml" up --no-build \
     --abort-on-container-exit --exit-code-from bench > "$work/compose.log" 2>&1; then
  pass "compose: the bench job ran against the server and exited 0 ($(since "$started") s)"
  grep 'bench_1 ' "$work/compose.log" | sed 's/^[^|]*| */  bench | /' | tail -15
else
  tail -30 "$work/compose.log"
  fail "compose up (bench job) failed"
fi
check "compose: the bench job printed results" grep -qiE 'throughput|requests|p50|latency' "$work/compose.log"
check "compose down" stage 60 docker-compose -p "$compose_project" -f "$here/compose.yaml" down --volumes --remove-orphans

# 8. The Kubernetes Deployment for real: podman kube play runs the rendered
# ConfigMap + Deployment (user, read-only root, capabilities, limits, envFrom;
# it ignores probes, Services, the HPA and the PDB). One replica, its ports
# on 127.0.0.1 (podman would otherwise publish containerPorts on 0.0.0.0).
podman_seconds=""
if [[ "${LOSSD_CONTAINER_PODMAN:-1}" != 1 ]]; then
  log "podman stage skipped (LOSSD_CONTAINER_PODMAN=${LOSSD_CONTAINER_PODMAN})"
elif ! command -v kubectl >/dev/null 2>&1; then
  log "podman stage skipped: no kubectl to render deploy/k8s"
else
  # Debian's podman on these hosts: crun fails on hybrid cgroups (use runc);
  # the default rlimits exceed the hard limits.
  cat > "$work/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
  export CONTAINERS_CONF="$work/containers.conf"
  podman_used=1
  stage 120 docker save -o "$work/image.tar" "$image"
  stage 120 "${podman[@]}" load -q -i "$work/image.tar" >/dev/null
  rm -f "$work/image.tar"
  read -r pod_grpc_port pod_metrics_port < <(/usr/bin/python3 -c '
import socket
ports = []
for _ in range(2):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); ports.append(s.getsockname()[1]); s.close()
print(*ports)')
  kubectl kustomize "$here/k8s" | /usr/bin/python3 -c '
import sys, yaml
image, grpc_port, metrics_port = sys.argv[1:]
documents = [d for d in yaml.safe_load_all(sys.stdin) if d and d["kind"] in ("ConfigMap", "Deployment")]
for d in documents:
    if d["kind"] == "Deployment":
        d["spec"]["replicas"] = 1
        container = d["spec"]["template"]["spec"]["containers"][0]
        container["image"] = image
        for port in container["ports"]:
            port["hostIP"] = "127.0.0.1"
            port["hostPort"] = int(grpc_port if port["name"] == "grpc" else metrics_port)
yaml.safe_dump_all(documents, sys.stdout)' "localhost/$image" "$pod_grpc_port" "$pod_metrics_port" > "$work/podman.yaml"
  started="$(now)"
  if stage 120 "${podman[@]}" kube play "$work/podman.yaml" > "$work/podman.log" 2>&1; then
    pod_container="$("${podman[@]}" ps --format '{{.Names}}' | grep -v infra | head -1)"
    deadline=$((SECONDS + 30))
    until quietly "${podman[@]}" exec "$pod_container" lossctl health --service=readiness --timeout=1s; do
      [[ $SECONDS -ge $deadline ]] && break
      sleep 0.1
    done
    podman_seconds="$(since "$started")"
    check "podman kube play: the Deployment's pod serves ($podman_seconds s)" \
      quietly "${podman[@]}" exec "$pod_container" lossctl health --service=readiness --timeout=2s
    if [[ -n "$host_lossctl" ]]; then
      answer="$(stage 30 "$host_lossctl" "${compute_args[@]}" --target="127.0.0.1:$pod_grpc_port" 2>&1 || true)"
      check "podman kube play: Compute through the pod's hostPort answers $expected" loss_close "$answer"
    fi
    check "podman kube play: runAsUser 10001" test "$("${podman[@]}" exec "$pod_container" id -u)" = 10001
    check "podman kube play: read-only root filesystem" \
      test "$("${podman[@]}" inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$pod_container")" = true
    check "podman kube play: no effective capabilities" \
      grep -q '^CapEff:[[:space:]]*0*$' <("${podman[@]}" exec "$pod_container" cat /proc/1/status)
    check "podman kube play: the 2Gi memory limit applies" \
      test "$("${podman[@]}" inspect -f '{{.HostConfig.Memory}}' "$pod_container")" = 2147483648
    check "podman kube play: flags come from the ConfigMap (LOSSD_THREADS=32)" \
      grep -qx 'LOSSD_THREADS=32' <("${podman[@]}" exec "$pod_container" env)
    stop_started="$(now)"
    "${podman[@]}" stop -t 30 "$pod_container" >/dev/null 2>&1 || true
    pod_exit="$("${podman[@]}" inspect -f '{{.State.ExitCode}}' "$pod_container" 2>/dev/null || echo '?')"
    check "podman kube play: SIGTERM exit code $pod_exit is 0 ($(since "$stop_started") s)" test "$pod_exit" = 0
  else
    tail -20 "$work/podman.log"
    fail "podman kube play failed"
  fi
  stage 60 "${podman[@]}" kube down "$work/podman.yaml" >/dev/null 2>&1 || true
fi

echo
echo "container measurements (Debian dockerd $(docker version -f '{{.Server.Version}}'), 2 cores):"
echo "  image size          $image_mb MB ($image_bytes bytes)"
echo "  build time          $build_seconds s (cold: empty data root, base image present)"
echo "  start to serving    ${serving_seconds:-n/a} s (host lossctl health answered)"
echo "  start to healthy    $healthy_seconds s (docker health status, --health-interval 1s)"
echo "  stop (SIGTERM)      $stop_seconds s to exit code $exit_code"
[[ -n "$podman_seconds" ]] && echo "  podman kube play    $podman_seconds s from play to serving"
echo "$passes passed, $failures failed"
[[ "$failures" -eq 0 ]]
