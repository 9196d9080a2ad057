#!/usr/bin/env bash
# The work queue against the static split, side by side: one sweep of 96 configurations
# (24 launches) over 3 processes of which one is slow (nice -n 19, so it gets almost no CPU
# while the others run), as 3 shards started together (the static split: a third each)
# and as `mpirun -n 3` (the queue: launches go to whoever is free). Rounds alternate.
# Prints each wall time and the median ratio. Needs abgpu built with MPI and mpirun.
#   tools/scale-out/queue-vs-static.sh [BUILD_DIR] [ROUNDS]
set -euo pipefail
bin=$(cd "${1:-build}" && pwd)/abgpu
rounds=${2:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
cat > space.txt <<'SPACE'
hidden = 16 32 16,16
act = relu tanh
lr = 0.001 0.003 0.01 0.03
epochs = 40
patience = 40
batch = 20
seed = 1 2 3 4
SPACE
args=(--data synth:20000 --space space.txt --parallel 4 --threads 1 --finalists 1 --quiet)
mpirun=(mpirun --oversubscribe)
[ "$(id -u)" -eq 0 ] && mpirun+=(--allow-run-as-root)

now() { date +%s.%N; }

static_split() {
  rm -f s*.csv
  "$bin" sweep "${args[@]}" --shard 1/3 --leaderboard s1.csv > /dev/null &
  nice -n 19 "$bin" sweep "${args[@]}" --shard 2/3 --leaderboard s2.csv > /dev/null &
  "$bin" sweep "${args[@]}" --shard 3/3 --leaderboard s3.csv > /dev/null &
  wait
}

queue() {
  rm -f q.csv
  "${mpirun[@]}" -n 1 "$bin" sweep "${args[@]}" --leaderboard q.csv \
    : -n 1 nice -n 19 "$bin" sweep "${args[@]}" --leaderboard q.csv \
    : -n 1 "$bin" sweep "${args[@]}" --leaderboard q.csv > /dev/null
}

ratios=()
for r in $(seq "$rounds"); do
  t0=$(now); static_split; t1=$(now); queue; t2=$(now)
  s=$(awk "BEGIN {print $t1 - $t0}"); q=$(awk "BEGIN {print $t2 - $t1}")
  ratio=$(awk "BEGIN {print $q / $s}")
  ratios+=("$ratio")
  printf "round %d: static split %.2f s, queue %.2f s, queue/static %.2f\n" "$r" "$s" "$q" "$ratio"
done
printf "median queue/static over %d rounds: %.2f\n" "$rounds" \
  "$(printf '%s\n' "${ratios[@]}" | sort -g | sed -n "$(( (rounds + 1) / 2 ))p")"
