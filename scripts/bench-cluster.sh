#!/usr/bin/env bash
# What `make bench-cluster` runs (root only): dptrain against PyTorch DDP over gloo on two nodes
# emulated by launch/fake-cluster.sh, one process per node, side by side in one run, with the
# link unshaped and limited to 2 Gbit/s (tbf), for 784-512-512-10 at batch 128 and
# 784-2048-2048-10 at batch 512. For each: samples/s of both and their ratio; dptrain's step
# beside compute alone (forward, backward and optimizer of the timed step) and communication
# alone (a bare allreduce of the gradient), max of the two being what full overlap would give;
# exposed communication; bytes this node sent on its link per step against a ring's minimum
# (2 (M-1)/M x gradient bytes); the reduction path training.bucket_mb = auto chose.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
bin=$BUILD/bench/step_bench
secs=${BENCH_SECONDS:-2}
rates=${BENCH_RATES:-"unshaped 2gbit"}
[ "$(id -u)" -eq 0 ] || { echo "bench-cluster: needs root (network namespaces)"; exit 0; }
[ -x "$bin" ] || { echo "bench-cluster: $bin is not built (run make)" >&2; exit 2; }
export FAKE_CLUSTER_PREFIX=dptb
fc=launch/fake-cluster.sh
"$fc" down > /dev/null
trap '"$fc" down > /dev/null' EXIT
"$fc" up 2 > /dev/null || { echo "bench-cluster: cannot make the fake cluster" >&2; exit 1; }
results=$(mktemp)
trap '"$fc" down > /dev/null; rm -f "$results"' EXIT
have_torch=0
/usr/bin/python3 -c 'import torch' 2> /dev/null && have_torch=1

ddp() { # ddp MODEL BATCH: samples/s of PyTorch DDP, one rank per fake node
  local model=$1 batch=$2 port=$((29500 + RANDOM % 400)) out
  out=$(mktemp)
  for r in 1 0; do
    FAKE_CLUSTER_PREFIX=dptb timeout 300 /run/dptrain-fake-cluster-dptb/enter dptb-node$((r + 1)) \
      env GLOO_SOCKET_IFNAME=dptb-eth OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
      /usr/bin/python3 scripts/compare-pytorch.py --worker ddp-node --rank $r --world 2 \
      --master 10.213.77.1 --port "$port" --model "$model" --batch "$batch" --seconds "$secs" \
      > "$out.$r" 2>&1 &
  done
  wait
  grep -h '^{' "$out.0" | sed 's/.*"sps": *\([0-9.]*\).*/\1/' | tail -1
  rm -f "$out" "$out.0" "$out.1"
}

echo "== dptrain bench-cluster: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
echo "   2 fake nodes x 1 rank (launch/fake-cluster.sh: network namespaces, veth, a bridge), 1 BLAS thread"
echo "   per rank, CPU: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(nproc) cores for both nodes"
[ "$have_torch" -eq 1 ] || echo "   PyTorch: not installed (apt-get install python3-torch): DDP figures left out"
printf '%-9s %-18s %5s %9s %9s %6s %8s %8s %8s %8s %10s %9s\n' link model batch dptrain DDP ratio \
  step_ms compute comm max_both exposed link/min
for rate in $rates; do
  if [ "$rate" = unshaped ]; then "$fc" shape off > /dev/null; else "$fc" shape "$rate" | sed 's/^/   /'; fi
  for mb in 784-512-512-10:128 784-2048-2048-10:512; do
    model=${mb%%:*} batch=${mb##*:}
    : > "$results"
    OPENBLAS_NUM_THREADS=1 timeout 300 "$fc" run 1 "$bin" --threads 1 --label "$rate" --models "$model" \
      --batches "$batch" --seconds "$secs" --results "$results" > "$results.log" 2>&1 \
      || { echo "bench-cluster: dptrain failed on $model b$batch ($rate):"; tail -5 "$results.log"; continue; }
    torch_sps=""
    [ "$have_torch" -eq 1 ] && torch_sps=$(ddp "$model" "$batch")
    awk -v rate="$rate" -v torch="$torch_sps" '$1 == "step" {
      for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
      compute = f["fwd_ms"] + f["bwd_ms"] + f["optim_ms"]; comm = f["bare_ms"]
      both = compute > comm ? compute : comm
      m = f["nodes"]; minimum = 2 * (m - 1) / m * f["grad_bytes"]
      ratio = torch > 0 ? sprintf("%.2fx", f["sps"] / torch) : "-"
      printf "%-9s %-18s %5d %9.0f %9s %6s %8.1f %8.1f %8.1f %8.1f %9.1f%% %8.2fx\n", rate, f["model"], f["batch"],
        f["sps"], (torch > 0 ? sprintf("%.0f", torch) : "-"), ratio, f["step_ms"], compute, comm, both,
        100 * f["wait_ms"] / f["total_ms"], f["link_bytes"] / minimum
      printf "          step / max(compute, communication) = %.2f (1.0 = full overlap)\n", f["step_ms"] / both
    }' "$results"
    sed -n 's/^    path: /          path auto chose: /p' "$results.log" | head -1
    # Beside auto's choice, each a run of its own: 1 MiB buckets on the progress thread (what auto
    # would take if it measured faster) and gradients in bfloat16 on the wire (comm_dtype = bf16).
    fp32=$(awk '$1 == "step" { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "sps") print kv[2] } }' "$results")
    for alt in "--bucket-mb 1" "--set training.comm_dtype=bf16"; do
      # shellcheck disable=SC2086 # alt is an option and its value
      sps=$(OPENBLAS_NUM_THREADS=1 timeout 300 "$fc" run 1 "$bin" --threads 1 --models "$model" --batches "$batch" \
        --seconds "$secs" $alt 2>&1 | sed -n 's/.*: \([0-9]*\) samples\/s (dpt_trainer_step).*/\1/p')
      [ -n "$sps" ] && awk -v b="$sps" -v f="$fp32" -v alt="${alt#--}" \
        'BEGIN { printf "          %s: %.0f samples/s, %.2fx auto\n", alt, b, b / f }'
    done
  done
done
rm -f "$results.log"
echo
echo "step_ms: dpt_trainer_step; compute: forward + backward + optimizer of the timed step;"
echo "comm: one bare allreduce of the gradient; exposed: the step's wait for communication;"
echo "link/min: bytes node 1 sent per step / the ring minimum 2(M-1)/M x gradient bytes."
