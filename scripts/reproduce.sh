#!/usr/bin/env bash
# Runs one of the reproductions in launch/configs/reproduce/ (a study file) and prints, per
# setting, the reference figure against the measured mean +- sample sd, n, the difference and
# the difference in standard deviations (of the measured trials).
#   scripts/reproduce.sh NAME [--quick] [--np N] [--resume] [--dir RUN_DIR] [--report]
#   scripts/reproduce.sh --list
# NAME is a file's name without .ini (sklearn-fashion, optimizers-fashion, linreg-ols) or a path.
# The study file's comments steer it:
#   ; reproduce: np = N          ranks of the job (mpirun when N > 1; --np overrides)
#   ; reproduce: metric = M      the column compared: test_accuracy, train_loss, val_loss, ...
#   ; reproduce: quick = ARGS    the --set overrides of --quick (a smoke run, nothing measured)
#   ; reference: sK VALUE TEXT   setting K's published (or computed) figure and what it is ("-": none)
# Results go to RUN_DIR/NAME/ (RUN_DIR/quick/NAME/ with --quick; RUN_DIR = runs of this tree);
# --resume continues a cut-off study; --report only reports the trials finished so far.
# Environment: DPTRAIN=... the binary (default build/dptrain of this tree).
set -euo pipefail
me=reproduce.sh
die() { echo "$me: $*" >&2; exit 1; }
here=$(cd "$(dirname "$0")/.." && pwd)
dir=$here/launch/configs/reproduce

name="" quick=0 np="" resume=() rundir=runs report=0
while [ $# -gt 0 ]; do
  case $1 in
    -h|--help) sed -n '2,17s/^# \{0,1\}//p' "$0"; exit 0 ;;
    --list) for f in "$dir"/*.ini; do basename "$f" .ini; done; exit 0 ;;
    --quick) quick=1; shift ;;
    --np) [ $# -ge 2 ] || die "--np needs a number"; np=$2; shift 2 ;;
    --np=*) np=${1#*=}; shift ;;
    --resume) resume=(--resume auto); shift ;;
    --report) report=1; shift ;;
    --dir) [ $# -ge 2 ] || die "--dir needs a directory"; rundir=$2; shift 2 ;;
    --dir=*) rundir=${1#*=}; shift ;;
    -?*) die "unknown option $1 (see --help)" ;;
    *) [ -z "$name" ] || die "one NAME only ('$name', '$1')"; name=$1; shift ;;
  esac
done
[ -n "$name" ] || die "usage: $me NAME [--quick] [--np N] [--resume] (or --list)"
file=$dir/$name.ini
case $name in */*|*.ini) file=$(cd "$(dirname "$name")" && pwd)/$(basename "$name") ;; esac
[ -f "$file" ] || die "$name: no study $file (see --list)"
study=$(basename "$file" .ini)
bin=${DPTRAIN:-$here/build/dptrain}
[ -x "$bin" ] || die "$bin not built (run make all)"
py=/usr/bin/python3
[ -x "$py" ] || die "$py not found (apt-get install python3)"

# directive KEY: the value of "; reproduce: KEY = VALUE" in the study file.
directive() { sed -n "s/^; *reproduce: *$1 *= *//p" "$file" | head -1; }
[ -n "$np" ] || np=$(directive np)
np=${np:-1}
case $np in ''|*[!0-9]*|0) die "np = '$np': expected a positive integer" ;; esac
metric=$(directive metric)
[ -n "$metric" ] || die "$file: no '; reproduce: metric = ...' line"
[ "$quick" = 0 ] || rundir=$rundir/quick
sets=(--set run.dir="$rundir")
if [ "$quick" = 1 ]; then
  read -r -a more <<<"$(directive quick)"
  sets+=("${more[@]}")
fi

cd "$here"
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
launch=("$bin")
if [ "$np" -gt 1 ]; then
  command -v mpirun >/dev/null || die "mpirun not found for np = $np"
  launch=(mpirun -np "$np" --oversubscribe -x OPENBLAS_NUM_THREADS=1 "$bin")
fi
start=$(date +%s)
if [ "$report" = 0 ]; then
  "${launch[@]}" study "$file" "${sets[@]}" "${resume[@]}" || die "the study failed"
fi
wall=$(( $(date +%s) - start ))
[ "$report" = 0 ] || wall=-
out=$rundir/$study
# The settings' swept values, from the trials' list (nothing is trained by --dry-run).
"$bin" study "$file" "${sets[@]}" --dry-run >"$out/.trials.txt" 2>&1 || die "$file: $(tail -1 "$out/.trials.txt")"

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
"$py" - "$out" "$file" "$metric" "$wall" "$np" "$(date -u +%Y-%m-%d)" "$cpu, $(nproc) cores" "$quick" <<'PY'
import glob, json, math, os, re, sys
out, file, metric, wall, np, day, machine, quick = sys.argv[1:]
refs, values, ends, failed, busy = {}, {}, {}, {}, 0.0
for line in open(file):
    m = re.match(r";\s*reference:\s*s(\d+)\s+(\S+)\s*(.*)", line)
    if m:  # a value of "-": no figure to compare with, only the setting's name
        refs[int(m.group(1))] = (None if m.group(2) == "-" else float(m.group(2)), m.group(3).strip())
for line in open(os.path.join(out, ".trials.txt")):
    m = re.match(r"s(\d+)-seed\S+  (.*?)  run\.\w+=\S+$", line.rstrip())
    if m:
        values[int(m.group(1))] = m.group(2).replace("  ", " ")
# Each finished trial's metric, of the model it ends with (the best one when early stopping restored it).
for tj in glob.glob(os.path.join(out, "*", "trial.json")):
    t = json.load(open(tj))
    k = int(t["setting"])
    busy += float(t.get("wall_s", 0))
    if t.get("status") != "done":
        failed[k] = failed.get(k, 0) + 1
        continue
    s = t["summary"]
    v = s.get(s.get("model", "final"), {}).get(metric)
    if v is not None:
        ends.setdefault(k, []).append(float(v))
print("%s: %s of each setting's finished trials (sd: sample standard deviation, n - 1)%s" %
      (os.path.basename(out), metric, "  [--quick: a smoke run, not a measurement]" if quick == "1" else ""))
print("%-4s %-46s %11s %26s %3s %10s %6s" % ("set", "what", "reference", "measured mean +- sd", "n", "difference", "in sd"))
for k in sorted(set(values) | set(refs)):
    ref, text = refs.get(k, (None, ""))
    text = text or values.get(k, "-")
    x = ends.get(k, [])
    n = len(x)
    reft = "-" if ref is None else "%.9g" % ref
    if not n:
        print("%-4s %-46s %11s %26s %3d" % ("s%d" % k, text[:46], reft, "(none finished)", 0))
        continue
    mean = sum(x) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in x) / (n - 1)) if n > 1 else None
    places = max(4, 1 - math.floor(math.log10(sd))) if sd else 4  # two digits of the sd
    meas = "%.*f +- %s" % (places, mean, "-" if sd is None else "%.2g" % sd)
    diff = dsd = "-"
    if ref is not None:
        diff = "%+.3g" % (mean - ref)
        if sd:
            dsd = "%+.1f" % ((mean - ref) / sd)
    print("%-4s %-46s %11s %26s %3d %10s %6s" % ("s%d" % k, text[:46], reft, meas, n, diff, dsd)
          + ("  (%d failed)" % failed[k] if failed.get(k) else ""))
print("%strials' wall time %.0f s in all, %s rank%s, %s, %s" % ("" if wall == "-" else "job %s s, " % wall, busy, np,
      "" if np == "1" else "s", day, machine))
PY
