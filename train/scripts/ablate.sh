#!/bin/bash
# Ablation on the 16-core device: 8 arms x 2 shards, all continuing from the
# same 76-minute dSprites causal model, same wall time, then eval each.
set -u
# usage: OUT=dir [MIN=7.6] [PAIRS=400] [C=dir] train/scripts/ablate.sh
# $C holds the ctvae binary and dsprites-ct.safetensors (the starting model).
C=${C:-.devcarry}; B=$C/ctvae; M=${MIN:-7.6}
cfg=weights/pretrained/dsprites.json
common="--phase causal --dataset dsprites --config $cfg --init $C/dsprites-ct.safetensors --minutes $M --seed 7 --batch 8 --shards 2 --decay 0.994 --checkpoint-minutes 100 --log-every 50"
arm() { n=$1; shift; $B train $common --out $OUT/$n.safetensors --csv $OUT/$n.csv "$@" > $OUT/$n.log 2>&1; }
arm paper --recipe paper --lr 1e-3 &
arm balanced --recipe balanced --lr 1e-3 &
arm aux --recipe balanced --lr 1e-3 --aux-mask 1 &
arm chg --recipe balanced --lr 1e-3 --changed-weight 4 &
arm auxchg --recipe balanced --lr 1e-3 --aux-mask 1 --changed-weight 4 &
arm auxchg-lr3 --recipe balanced --lr 3e-3 --aux-mask 1 --changed-weight 4 &
arm auxchg-lr10 --recipe balanced --lr 1e-2 --aux-mask 1 --changed-weight 4 &
arm auxchg-lr3-c2 --recipe balanced --lr 3e-3 --aux-mask 1 --changed-weight 4 --mode-weights 1,1,2 &
wait
for n in paper balanced aux chg auxchg auxchg-lr3 auxchg-lr10 auxchg-lr3-c2; do
  ( $B eval --weights $OUT/$n.safetensors --images 64 --pairs ${PAIRS:-400} --balanced --json > $OUT/$n-bal.json 2>&1 ) &
done
wait
for n in paper balanced aux chg auxchg auxchg-lr3 auxchg-lr10 auxchg-lr3-c2; do
  printf "%s " $n; grep -o '"action_accuracy": [0-9.]*' $OUT/$n-bal.json | head -1 | tr '\n' ' '; grep -o '"factor_accuracy": [0-9.]*' $OUT/$n-bal.json | head -1; tail -1 $OUT/$n.log
done
cd $OUT && tar czf ablate.tgz *.json *.csv *.log && rm -f *.csv *.log *.json *.ckpt
# Only 8 files come back: keep the 3 best arms' weights (f32, ~3 MB each).
keep=$(for n in paper balanced aux chg auxchg auxchg-lr3 auxchg-lr10 auxchg-lr3-c2; do
  tar xzf ablate.tgz -O $n-bal.json | grep -o '"action_accuracy": [0-9.]*' | head -1 | awk -v n=$n '{print $2, n}'
done | sort -rn | head -3 | awk '{print $2}' | tr '\n' ' ')
echo keep $keep
for f in *.safetensors; do case " $keep " in *" ${f%.safetensors} "*) ;; *) rm -f $f;; esac; done
ls -la
