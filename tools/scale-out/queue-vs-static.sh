#!/usr/bin/env bash
# The work queue against the static split, side by side: one sweep of 96 configurations
# (24 launches) over 3 processes of which one is slow, as 3 shards started together (the
# static split: a third each) and as `mpirun -n 3` (the queue: launches go to whoever is
# free). Rounds alternate. Prints each wall time and the median ratio. Needs abgpu built
# with MPI and mpirun.
#   tools/scale-out/queue-vs-static.sh [BUILD_DIR] [ROUNDS]
# SLOW=delay (default): the slow process sleeps DELAY seconds (default 0.02) after every
#   epoch ($ABGPU_SWEEP_TEST_DELAY, a test hook), like a device several times slower;
# SLOW=nice: it runs under nice -n 19 (on a busy machine the others' load decides how slow).
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

slow=(env "ABGPU_SWEEP_TEST_DELAY=${DELAY:-0.02}")
[ "${SLOW:-delay}" = nice ] && slow=(nice -n 19)
echo "slow process: ${slow[*]}"

now() { date +%s.%N; }

static_split() {
  rm -f s*.csv
  "$bin" sweep "${args[@]}" --shard 1/3 --leaderboard s1.csv > /dev/null &
  "${slow[@]}" "$bin" sweep "${args[@]}" --shard 2/3 --leaderboard s2.csv > /dev/null &
  "$bin" sweep "${args[@]}" --shard 3/3 --leaderboard s3.csv > /dev/null &
  wait
}

queue() {
  rm -f q.csv
  "${mpirun[@]}" -n 1 "$bin" sweep "${args[@]}" --leaderboard q.csv \
    : -n 1 "${slow[@]}" "$bin" sweep "${args[@]}" --leaderboard q.csv \
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
