# Fashion-MNIST out of the box: the demo's experiment loads 60 000 training and
# 10 000 test images, and each of 2 ranks training its MLP stays under 150 MB
# resident (uint8 pixels stay uint8 until a batch is gathered).
. tests/lib.sh
[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || fail "dataset-fashion-mnist is not installed"
cd "$TMP"
mpi 2 -- "$DPTRAIN" train "$ROOT/launch/configs/default.ini" --set training.steps=30 > log.txt \
  || { cat log.txt; fail "training failed"; }
expect_contains log.txt "54000 training samples"
expect_contains log.txt "(10000 samples, model of step 30)"
# AddressSanitizer's shadow memory and redzones double a process's footprint (74 MiB -> 150).
limit=150
case $BUILD in *asan*) limit=300 ;; esac
$PY - runs/fashion-mlp/summary.json "$limit" <<'PYEOF'
import json, sys
s = json.load(open(sys.argv[1]))
print("peak resident memory per rank: %.1f MiB" % s["peak_rss_mib_per_rank"])
assert 0 < s["peak_rss_mib_per_rank"] < float(sys.argv[2]), s
PYEOF
