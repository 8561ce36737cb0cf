#!/usr/bin/env bash
# Side-by-side speed of sim and ns-3 3.37 on the pods all-pairs UDP echo workload
# (../shared/bench/ns3/WORKLOAD.md), as WORKLOAD.md §5 asks: same machine, single thread each,
# the two alternated (A B A B ...) after one warm-up each, REPS runs per size, medians with
# min-max, and the ratio of the medians of delivered datagrams per event-loop second.
#
#   bench/compare.sh                      # S1, S2, S3; 5 runs each
#   REPS=7 SIZES="4,8,10" bench/compare.sh
#   SIZES="64,16,1" REPS=1 bench/compare.sh   # S4 (ns-3 takes about 4 minutes)
#
# Needs ns-3's Debian packages (`apt-get install -y libns3-dev ns3`, installed here when
# missing and run as root) and builds the ns-3 program from NS3_DIR into target/ns3/.
set -euo pipefail
cd "$(dirname "$0")/.."

NS3_DIR="${NS3_DIR:-../shared/bench/ns3}"
REPS="${REPS:-5}"
SIZES="${SIZES:-4,8,10 16,16,2 64,4,1}"
OUT=target/ns3

if ! pkg-config --exists ns3-core 2>/dev/null && [ ! -e /usr/include/ns3/core-module.h ]; then
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libns3-dev ns3
    else
        echo "compare.sh: ns-3 is not installed (apt-get install -y libns3-dev ns3)" >&2
        exit 1
    fi
fi
mkdir -p "$OUT"
if [ ! -x "$OUT/pods" ] || [ "$NS3_DIR/pods.cc" -nt "$OUT/pods" ]; then
    cp "$NS3_DIR/pods.cc" "$NS3_DIR/build.sh" "$OUT/"
    (cd "$OUT" && ./build.sh >/dev/null 2>&1) || { echo "compare.sh: building ns-3 pods failed" >&2; exit 1; }
fi
cargo build --release --quiet
SIM=target/release/sim

# One run of each; prints "run_s delivered_per_s".
ours() { "$SIM" bench pods --nodes "$1" --pods "$2" --k "$3" | sed -n 's/.*run_s=\([0-9.]*\) delivered_per_s=\([0-9.]*\).*/\1 \2/p'; }
ns3() { "$OUT/pods" --nodes="$1" --pods="$2" --k="$3" | sed -n 's/.*run_s=\([0-9.]*\) .*delivered_per_s=\([0-9.]*\).*/\1 \2/p'; }

# median (min-max) of a column of numbers
stats() { sort -g | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%s %s %s\n", m, v[1], v[NR] }'; }

echo "machine: $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg); sim $(git rev-parse --short HEAD 2>/dev/null || echo '?'), ns-3 $(pkg-config --modversion ns3-core 2>/dev/null || echo 3.37)"
printf '%-10s %-28s %-28s %-22s %-22s %s\n' "N,P,K" "sim run_s med (min-max)" "ns-3 run_s med (min-max)" "sim delivered/s" "ns-3 delivered/s" "ratio"
for s in $SIZES; do
    IFS=, read -r n p k <<<"$s"
    ours "$n" "$p" "$k" >/dev/null
    ns3 "$n" "$p" "$k" >/dev/null
    a=(); b=()
    for ((r = 0; r < REPS; r++)); do
        a+=("$(ours "$n" "$p" "$k")")
        b+=("$(ns3 "$n" "$p" "$k")")
    done
    read -r am amin amax < <(printf '%s\n' "${a[@]}" | cut -d' ' -f1 | stats)
    read -r bm bmin bmax < <(printf '%s\n' "${b[@]}" | cut -d' ' -f1 | stats)
    ad=$(printf '%s\n' "${a[@]}" | cut -d' ' -f2 | stats | cut -d' ' -f1)
    bd=$(printf '%s\n' "${b[@]}" | cut -d' ' -f2 | stats | cut -d' ' -f1)
    ratio=$(awk -v a="$ad" -v b="$bd" 'BEGIN { printf "%.1fx", a / b }')
    printf '%-10s %-28s %-28s %-22s %-22s %s\n' "$s" "$am ($amin-$amax)" "$bm ($bmin-$bmax)" "$ad" "$bd" "$ratio"
done
