#!/usr/bin/env bash
# sha256 throughput of probity's file hashing (provenance::sha256_file, which
# the manifest and model checks use; sha2 0.10 with SHA-NI when the CPU has it)
# against sha256sum and openssl on the same file, read from the page cache.
# Not a test and never run in CI.
#
#   bench/hash_speed.sh [MB] [REPEATS]     (default 1000 MB, 3 repeats)
#
# The file is random bytes in a temporary folder (removed at the end); it is
# read once before timing so every tool reads from memory. Prints the fastest
# of REPEATS runs for each tool, in MB/s (10^6 bytes), and checks that all
# three digests agree.
set -euo pipefail
MB=${1:-1000}
REPEATS=${2:-3}
REPO=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
cargo build --release --example hash_file --manifest-path "$REPO/Cargo.toml" 2>/dev/null
EXE="$TARGET/release/examples/hash_file"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
F="$TMP/data.bin"
head -c "$((MB * 1000000))" /dev/urandom >"$F"
cat "$F" >/dev/null
grep -q -m1 -w sha_ni /proc/cpuinfo && echo "CPU has SHA-NI" || echo "CPU has no SHA-NI"

best() { # best TIMES... -> the smallest
    printf '%s\n' "$@" | sort -g | head -1
}
run() { # run NAME CMD... -> prints NAME and the best MB/s; stores the digest
    local name=$1
    shift
    local times=() d
    for _ in $(seq "$REPEATS"); do
        local s e
        s=$(date +%s.%N)
        d=$("$@" | sed -E 's/.*= //' | awk '{print $1}')
        e=$(date +%s.%N)
        times+=("$(echo "$e - $s" | bc -l)")
    done
    local t
    t=$(best "${times[@]}")
    printf '%-12s %7.3f s  %7.0f MB/s  %s\n' "$name" "$t" "$(echo "$MB / $t" | bc -l)" "${d:0:16}"
    echo "$d" >>"$TMP/digests"
}
echo "$MB MB, best of $REPEATS:"
run probity "$EXE" "$F"
run sha256sum sha256sum "$F"
run openssl openssl dgst -sha256 "$F"
if [ "$(sort -u "$TMP/digests" | wc -l)" -ne 1 ]; then
    echo "digests differ" >&2
    exit 1
fi
