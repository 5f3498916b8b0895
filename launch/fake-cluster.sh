#!/usr/bin/env bash
# An emulated cluster of NODES fake nodes on this machine, for trying and testing the multi-node
# path without a cluster: each node is a network namespace with its own host name, IPC and
# /dev/shm, the nodes are joined by veth pairs to a bridge, and mpirun reaches the other nodes
# through an ssh-like agent instead of ssh. Open MPI then sees NODES hosts: shared memory inside
# a node, TCP between nodes. Root only (namespaces).
#
#   launch/fake-cluster.sh up [NODES]          make the nodes (default 2: dpt-node1, dpt-node2)
#   launch/fake-cluster.sh run NP_PER_NODE CMD...   run mpirun [opts] CMD over every node
#   launch/fake-cluster.sh shape RATE|off      limit each node's link (tbf), e.g. 2gbit
#   launch/fake-cluster.sh bytes               bytes each node has sent on its link
#   launch/fake-cluster.sh down                remove all of it, also after a killed job
#
# FAKE_CLUSTER_LOCAL="DIR ..." with run: those directories are node-local, as a node's own disk:
# every node but the first sees them empty (a file staged on one node only).
# Extra mpirun options go before CMD, ended by --:  run 2 --mca btl tcp,self -- build/dptrain ...
set -euo pipefail

# FAKE_CLUSTER_PREFIX names a cluster of its own (the tests use one, so a user's stays untouched).
PREFIX=${FAKE_CLUSTER_PREFIX:-dpt}
SUBNET=10.213.77            # a private /24 that lives only inside these namespaces
STATE=/run/dptrain-fake-cluster-$PREFIX
NIC=${PREFIX}-eth           # each node's interface: the same name on every node, as on a cluster
BRIDGE=${PREFIX}-br

die() { echo "fake-cluster: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (network, UTS and mount namespaces)"

nodes() { cat "$STATE/nodes" 2>/dev/null || true; }
ns_of() { echo "${PREFIX}-ns-${1#${PREFIX}-node}"; }

up() {
  local count=${1:-2}
  [ "$count" -ge 2 ] 2>/dev/null || die "up: NODES must be a number >= 2, got '$count'"
  [ ! -e "$STATE/nodes" ] || die "a fake cluster is already up ($(nodes | tr '\n' ' ')); say 'down' first"
  mkdir -p "$STATE"
  # The bridge lives in a namespace of its own, so nothing of this touches the host's network.
  ip netns add "${PREFIX}-ns-sw"
  ip -n "${PREFIX}-ns-sw" link add "$BRIDGE" type bridge
  ip -n "${PREFIX}-ns-sw" link set "$BRIDGE" up
  local hosts="127.0.0.1 localhost"$'\n'
  for i in $(seq 1 "$count"); do hosts+="$SUBNET.$i ${PREFIX}-node$i"$'\n'; done
  for i in $(seq 1 "$count"); do
    local node=${PREFIX}-node$i ns=${PREFIX}-ns-$i
    echo "$node" >> "$STATE/nodes"
    ip netns add "$ns"
    ip link add "$NIC" netns "$ns" type veth peer name "${PREFIX}-p$i" netns "${PREFIX}-ns-sw"
    ip -n "${PREFIX}-ns-sw" link set "${PREFIX}-p$i" master "$BRIDGE" up
    ip -n "$ns" addr add "$SUBNET.$i/24" dev "$NIC"
    ip -n "$ns" link set "$NIC" up
    ip -n "$ns" link set lo up
    mkdir -p "/etc/netns/$ns"
    printf '%s' "$hosts" > "/etc/netns/$ns/hosts"
    echo "$node slots=64" >> "$STATE/hostfile"
    echo "$node:64" >> "$STATE/machinefile"
  done
  write_agent
  echo "fake-cluster: $count nodes up ($(nodes | tr '\n' ' ')) on $SUBNET.0/24"
}

# Called by mpirun like ssh: AGENT HOST CMD...; runs CMD on that fake node.
write_agent() {
  cat > "$STATE/agent" <<EOF
#!/bin/sh
while [ "\${1#-}" != "\$1" ]; do shift; done   # ssh options (Hydra passes -x)
host=\$1; shift
exec "$STATE/enter" "\$host" sh -c "\$*"
EOF
  # enter HOST CMD...: CMD inside HOST's namespaces, with its name and a private /dev/shm.
  cat > "$STATE/enter" <<EOF
#!/bin/sh
host=\$1; shift
ns=${PREFIX}-ns-\${host#${PREFIX}-node}
[ -e "/run/netns/\$ns" ] || { echo "fake-cluster: no node \$host" >&2; exit 1; }
hide=""
[ "\$host" = "\$(head -1 $STATE/nodes)" ] || hide="\${FAKE_CLUSTER_LOCAL:-}"
exec ip netns exec "\$ns" unshare --uts --ipc --mount sh -c '
  hostname "\$0" && mount -t tmpfs -o size=50% tmpfs /dev/shm || exit 1
  for d in \$1; do mount -t tmpfs -o size=1m tmpfs "\$d" || exit 1; done
  shift; exec "\$@"' "\$host" "\$hide" "\$@"
EOF
  chmod +x "$STATE/agent" "$STATE/enter"
}

run() {
  [ -e "$STATE/nodes" ] || die "no fake cluster: say 'up' first"
  local per=${1:-}; shift || true
  [ "$per" -ge 1 ] 2>/dev/null || die "run: NP_PER_NODE must be a number >= 1, got '$per'"
  [ $# -gt 0 ] || die "run: no command"
  local opts=()
  if printf '%s\n' "$@" | grep -qx -- '--'; then
    while [ "$1" != "--" ]; do opts+=("$1"); shift; done
    shift
  fi
  local n count
  count=$(nodes | wc -l); n=$((per * count))
  . "$(dirname "$0")/mpi-kind.sh"
  if [ "$(mpi_kind "$(command -v "$1" || echo "$1")")" = mpich ]; then
    "$STATE/enter" "$(nodes | head -1)" mpiexec.mpich -f "$STATE/machinefile" -launcher ssh \
      -launcher-exec "$STATE/agent" -iface "$NIC" -ppn "$per" -n "$n" \
      -genv OPENBLAS_NUM_THREADS "${OPENBLAS_NUM_THREADS:-1}" -genv UCX_NET_DEVICES "$NIC" "${opts[@]}" "$@"
    return
  fi
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  "$STATE/enter" "$(nodes | head -1)" mpirun -np "$n" --hostfile "$STATE/hostfile" \
    --mca plm_rsh_agent "$STATE/agent" --mca oob_tcp_if_include "$SUBNET.0/24" \
    --mca btl_tcp_if_include "$SUBNET.0/24" --map-by "ppr:$per:node" --bind-to none \
    --oversubscribe --mca mpi_yield_when_idle 1 -x OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}" \
    "${opts[@]}" "$@"
}

shape() {
  local rate=${1:-}
  [ -n "$rate" ] || die "shape: give a rate (e.g. 2gbit) or off"
  local i=0
  for node in $(nodes); do
    i=${node#${PREFIX}-node}
    if [ "$rate" = off ]; then
      ip netns exec "$(ns_of "$node")" tc qdisc del dev "$NIC" root 2>/dev/null || true
    else
      # Bytes a link may send at once: 1 ms at the rate, at least 64 KiB (tbf needs burst >= MTU
      # and a timer tick's worth of bytes to reach its rate).
      ip netns exec "$(ns_of "$node")" tc qdisc replace dev "$NIC" root tbf rate "$rate" \
        burst 1mb latency 50ms || die "shape: tc refused rate '$rate'"
    fi
  done
  [ "$rate" = off ] && { echo "fake-cluster: links unshaped"; return; }
  if ip netns exec "$(ns_of "$(nodes | head -1)")" tc qdisc add dev lo root netem delay 1ms 2>/dev/null; then
    ip netns exec "$(ns_of "$(nodes | head -1)")" tc qdisc del dev lo root
    echo "fake-cluster: each node sends at most $rate (netem exists but adds no delay here)"
  else
    echo "fake-cluster: each node sends at most $rate; this kernel has no netem, so no delay is added"
  fi
}

bytes() {
  for node in $(nodes); do
    local i=${node#${PREFIX}-node}
    echo "$node $(ip netns exec "$(ns_of "$node")" cat "/sys/class/net/$NIC/statistics/tx_bytes")"
  done
}

down() {
  # Processes still inside a node's namespace (a killed job's orted or ranks) go first.
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${PREFIX}-ns-" || true); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "/etc/netns/$ns"
  done
  rm -rf /tmp/ompi.${PREFIX}-node* "$STATE"
  echo "fake-cluster: down"
}

cmd=${1:-}; shift || true
case $cmd in
  up) up "$@" ;;
  run) run "$@" ;;
  shape) shape "$@" ;;
  bytes) bytes ;;
  down) down ;;
  *) echo "usage: $0 up [NODES] | run NP_PER_NODE [MPIRUN-OPTS... --] CMD... | shape RATE|off | bytes | down" >&2; exit 2 ;;
esac
