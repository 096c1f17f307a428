# Sourced by the benchmark scripts after they set DATA: where the shared
# peer harness is (PEERS, default ../shared/bench/peers.py beside the repo)
# and the dataset's name (NAME, the data directory's own name).
PEERS="${PEERS:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/shared/bench/peers.py}"
NAME="$(basename "$(cd "$DATA" && pwd)")"
