#!/usr/bin/env bash
# kill -9 at random moments of train, predict, prep, export and sweep (issue 17's check;
# tests/test_outputs.c runs it with 2 kills per command):
# after every kill each destination must be the old complete file or the new complete one,
# and the next successful run of the same command must leave no temporary behind.
#
#   tools/kill9-loop.sh BUILD_DIR [KILLS_PER_COMMAND]     (default 12: 60 kills)
#
# "New complete" is byte-identical to an uninterrupted reference run where the output is
# deterministic (models, scores, .npz), and readable by abgpu where it holds timings
# (the sweep's leaderboard and JSON). Prints one line per kill and a summary; exit 1 on
# any violation.
set -euo pipefail
build=${1:?usage: tools/kill9-loop.sh BUILD_DIR [KILLS_PER_COMMAND]}
per=${2:-12}
B=$(cd "$build" && pwd)/abgpu
work=$(mktemp -d /tmp/abgpu-kill9.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"

"$B" synth --rows 200000 --out data.csv 2>/dev/null
"$B" train --data synth:3000 --epochs 2 --quiet --out m.abm >/dev/null
mkdir -p old ref

# name | command writing into dest/ | destinations | how a new one is checked (cmp|lb|model|json)
cmds=(
  "train|train --data data.csv --epochs 3 --seed 2 --quiet --out dest/t.abm|t.abm|cmp"
  "predict|predict --model m.abm --data data.csv --out dest/p.csv|p.csv|cmp"
  "prep|prep --data data.csv --seed 2 --out dest|Audiobooks_data_train.npz Audiobooks_data_validation.npz Audiobooks_data_test.npz|cmp"
  "export|export --model m.abm --out dest/w.npz|w.npz|cmp"
  "sweep|sweep --data synth:8000 --set hidden=8,16 --set epochs=4 --set lr=0.001,0.003 --finalists 1 --force --quiet --leaderboard dest/s.csv --json-out dest/s.json --out dest/b.abm|s.csv s.json b.abm|lb"
)

ms_now() { date +%s%3N; }

# The old set: every destination already holds a complete file of an earlier run.
"$B" train --data data.csv --epochs 2 --seed 1 --quiet --out old/t.abm >/dev/null
echo "old scores" > old/p.csv
"$B" prep --data data.csv --seed 1 --out old >/dev/null
echo "old weights" > old/w.npz
"$B" sweep --data synth:8000 --set hidden=8 --set epochs=2 --finalists 1 --force --quiet \
  --leaderboard old/s.csv --json-out old/s.json --out old/b.abm >/dev/null 2>&1

# new_ok KIND FILE REF: a new complete file
new_ok() {
  case "$1" in
    cmp) cmp -s "$2" "$3" ;;
    lb) case "$2" in
          *.csv) "$B" sweep merge "$2" --out /dev/null >/dev/null 2>&1 ;;
          *.json) python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$2" 2>/dev/null ;;
          *.abm) "$B" export --model "$2" --out /dev/null >/dev/null 2>&1 ;;
        esac ;;
  esac
}

fail=0 kills=0 n_old=0 n_new=0 n_tmp=0
for spec in "${cmds[@]}"; do
  IFS='|' read -r name cmd dests kind <<< "$spec"
  rm -rf dest && mkdir dest
  t0=$(ms_now); $B $cmd >/dev/null 2>&1; t1=$(ms_now)
  span=$(( t1 - t0 + 20 ))
  for f in $dests; do cp "dest/$f" "ref/$f"; done
  for ((k = 1; k <= per; k++)); do
    rm -rf dest && mkdir dest
    for f in $dests; do cp "old/$f" "dest/$f"; done
    # odd kills anywhere in the run, even ones in its last 100 ms, where the files are written
    if (( k % 2 )); then delay=$(( RANDOM * span / 32768 ))
    else delay=$(( span > 100 ? span - 100 + RANDOM % 100 : RANDOM * span / 32768 )); fi
    $B $cmd >/dev/null 2>&1 & pid=$!
    sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    kills=$((kills + 1))
    states=""
    for f in $dests; do
      if cmp -s "dest/$f" "old/$f"; then states+=" $f=old"; n_old=$((n_old + 1))
      elif new_ok "$kind" "dest/$f" "ref/$f"; then states+=" $f=new"; n_new=$((n_new + 1))
      else states+=" $f=BROKEN"; fail=1
      fi
    done
    left=$(ls -A dest | grep -c '\.tmp\.' || true)
    n_tmp=$((n_tmp + left))
    # the next successful write of the same destinations removes the dead run's temporaries
    if ! $B $cmd >/dev/null 2>&1; then states+=" RERUN-FAILED"; fail=1; fi
    after=$(ls -A dest | grep '\.tmp\.' || true)
    [ -z "$after" ] || { states+=" TEMPORARY-LEFT($after)"; fail=1; }
    for f in $dests; do new_ok "$kind" "dest/$f" "ref/$f" || { states+=" $f:NOT-NEW"; fail=1; }; done
    printf 'kill %2d  %-8s at %4d ms of ~%d:%s; temporaries after the kill %d\n' \
      "$kills" "$name" "$delay" "$span" "$states" "$left"
  done
done
echo "kill9-loop: $kills kills; destinations left old $n_old times, new $n_new times;" \
     "$n_tmp temporaries of killed runs, all removed by the next write;" \
     "$([ $fail = 0 ] && echo 'no violation' || echo 'VIOLATIONS above')"
exit $fail
