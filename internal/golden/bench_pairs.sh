#!/bin/sh
# bench_pairs.sh: the Go trainer against PyTorch on one phase/mode, as
# interleaved pairs (a PyTorch run, then a Go run), and the ratio per pair.
# The host's speed swings by tens of percent within minutes, and not alike
# for both sides, so one pair of runs says little; the median of the
# per-pair ratios is what docs/training-speed.md reports.
#
#   internal/golden/bench_pairs.sh [-n PAIRS] [-m CONFIG/MODE] [-t GO_BENCHTIME]
#
# CONFIG/MODE is one of bench_train.py's (default/vqvae, shipped/causal, ...);
# the Go side is BenchmarkTrainSpeed/CONFIG/MODE. Needs Debian's python3-torch
# and libopenblas0-pthread (see docs/training-speed.md); run from the repository.
set -eu
pairs=15 mode=default/vqvae gotime=3x
while getopts n:m:t: o; do
	case $o in
	n) pairs=$OPTARG ;;
	m) mode=$OPTARG ;;
	t) gotime=$OPTARG ;;
	*) echo "usage: $0 [-n PAIRS] [-m CONFIG/MODE] [-t GO_BENCHTIME]" >&2; exit 2 ;;
	esac
done
case $pairs in '' | *[!0-9]* | 0) echo "bench_pairs: -n $pairs: want a positive number of pairs" >&2; exit 2 ;; esac
case $mode in default/* | shipped/*) ;; *) echo "bench_pairs: -m $mode: want CONFIG/MODE, e.g. default/vqvae" >&2; exit 2 ;; esac
root=$(pwd)
[ -f "$root/internal/golden/bench_train.py" ] || { echo "bench_pairs: run from the repository root" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$root/train" && go test -c -o "$tmp/train.test" .)
i=0
while [ $i -lt "$pairs" ]; do
	i=$((i + 1))
	LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=2 \
		/usr/bin/python3 "$root/internal/golden/bench_train.py" --rounds 2 --min-seconds 3 --only "$mode" \
		--out "$tmp/py.json" >"$tmp/py.log" 2>&1 || { cat "$tmp/py.log" >&2; exit 1; }
	# The Go benchmark reads the shipped config relative to train/.
	go=$(cd "$root/train" && "$tmp/train.test" -test.run '^$' -test.bench "TrainSpeed/$mode\$" -test.benchtime "$gotime" |
		awk '/cpu-s\/sample/ { for (f = 1; f < NF; f++) if ($(f+1) == "cpu-s/sample") print $f }')
	[ -n "$go" ] || { echo "bench_pairs: no Go result for $mode" >&2; exit 1; }
	/usr/bin/python3 - "$tmp/py.json" "$mode" "$go" "$i" >>"$tmp/pairs" <<'PY'
import json, statistics, sys
res = json.load(open(sys.argv[1]))["results"][sys.argv[2]]
torch, go = statistics.median(res["cpu_rounds"]), float(sys.argv[3])
print(f"{sys.argv[4]} {go:.5g} {torch:.5g} {go / torch:.3f}")
PY
	tail -1 "$tmp/pairs" | awk '{ printf "pair %s: Go %s, PyTorch %s cpu-s/sample: Go/PyTorch %s\n", $1, $2, $3, $4 }'
done
/usr/bin/python3 - "$tmp/pairs" "$mode" <<'PY'
import statistics, sys
r = [float(l.split()[3]) for l in open(sys.argv[1])]
print(f"{sys.argv[2]}: Go/PyTorch CPU time per sample over {len(r)} pairs: median {statistics.median(r):.2f}, range {min(r):.2f}-{max(r):.2f}")
PY
