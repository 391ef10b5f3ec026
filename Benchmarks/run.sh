#!/usr/bin/env bash
# make bench: ftptunnel against what users would use instead, in the same run, on loopback.
#
# Starts a private sshd (127.0.0.1), vsftpd (127.0.0.2, pasv_address=127.0.0.1), a TCP source/sink for the
# libssh2 raw rows and, for the long-round-trip rows, a user-space delay proxy in front of sshd. Prints
# Markdown tables of medians over RUNS runs with ratios. Every transfer is checked by SHA-256; a mismatch
# marks the row FAILED. Rows whose program is missing or does not come up print `n/a (reason)`.
#
# Layout: this driver reads the settings and runs the sections; lib/ holds what sections share (processes,
# results, fixtures, transfers); sections/NAME.sh holds one table: measure_NAME runs its rows, report_NAME
# prints it. A new table is a new file there and its name in ALL_SECTIONS below.
#
# Environment (all optional):
#   SIZE=1G          single-stream file size (numfmt IEC: 256M, 1G)
#   RUNS=3           runs per row (the table shows medians)
#   RTT_SIZE=SIZE    download size for the long-round-trip rows
#   DELAY_MS=25      one-way delay the proxy adds in each direction (round trip = 2 × DELAY_MS)
#   FAR_DELAY_MS=100 FAR_SIZE=512M   the far round-trip rows (section far): one-way delay and download size
#   PAR_COUNT=8      concurrent downloads in the parallel rows
#   PAR_SIZE=256M    size of each parallel download (SIZE/4 when SIZE < 1G)
#   IDLE_SESSIONS=200  idle logged-in sessions for the server memory rows (sections servers and idle)
#   SECTIONS="single rtt far rttup small memory parallel servers listing bridge stripe share"   which tables to run (also: window, idle)
#   RTT_UP_SIZE=256M  upload size of the long-round-trip upload rows (rttup)
#   STRIPE_SIZE=256M  upload size of the striped SFTP upload rows (stripe; DELAY_MS and FAR_DELAY_MS each way)
#   SMALL_COUNT=200 SMALL_BYTES=4096 SMALL_RUNS=1   the small-files rows (lftp mirror at the delay proxy)
#   MEM_COUNT=32 MEM_SIZE=32M MEM_RATE=1M MEM_WINDOWS="auto 16M"   the memory rows: slow concurrent downloads
#   MEM_DELAY=1      run the memory rows through the delay proxy (DELAY_MS each way) instead of on loopback
#   RAW_WINDOWS="256K … 32M"  windows of the optional `window` section (libssh2 raw download sweep)
#   TUNNEL_MODE=rewrite  ftptunnel mode of the rtt, parallel and listing rows (single runs both)
#   BIN=.build/release   where ftptunnel, pasvd and libssh2-raw-bench are
#   BENCH_DIR=/dev/shm   scratch space (tmpfs keeps the disk out of the figures)
#   REPORT=.build/bench/last.md   a copy of the tables
#   TUNNEL_OPTS="-vv"  extra arguments for every ftptunnel started (e.g. its debug log in tunnel.err)
#   BENCH_KEEP=1     keep the scratch folder (logs of every server, tunnel and client) for a look afterwards
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
TOOLS=$HERE/tools

SIZE=${SIZE:-1G}
RUNS=${RUNS:-3}
DELAY_MS=${DELAY_MS:-25}
PAR_COUNT=${PAR_COUNT:-8}
IDLE_SESSIONS=${IDLE_SESSIONS:-200}
SECTIONS=${SECTIONS:-single rtt far rttup small memory parallel servers listing bridge stripe share}
FAR_DELAY_MS=${FAR_DELAY_MS:-100}
MEM_COUNT=${MEM_COUNT:-32}
MEM_RATE=${MEM_RATE:-1M}
MEM_WINDOWS=${MEM_WINDOWS:-auto 16M}
SMALL_COUNT=${SMALL_COUNT:-200}
SMALL_BYTES=${SMALL_BYTES:-4096}
SMALL_RUNS=${SMALL_RUNS:-1}     # each mirror takes about 4 round trips per file (40 s at 50 ms): one run by default
TUNNEL_MODE=${TUNNEL_MODE:-rewrite}
RAW_WINDOWS=${RAW_WINDOWS:-256K 1M 2M 4M 8M 16M 32M}
BIN=${BIN:-$ROOT/.build/release}
BENCH_DIR=${BENCH_DIR:-/dev/shm}
REPORT=${REPORT:-$ROOT/.build/bench/last.md}
CIPHER=aes128-ctr
MAC=hmac-sha2-256
DATA_WINDOW=${DATA_WINDOW:-16M}
# The window ftptunnel is given (`auto` by default, as users get it); the raw libssh2 rows use DATA_WINDOW.
TUNNEL_WINDOW=${TUNNEL_WINDOW:-auto}
PASSIVE_PORT_COUNT=160       # the memory rows run 32 transfers at once; vsftpd gives up a PASV (500 OOPS) after 9 random picks of busy ports, so keep the range far above the concurrency
SERVER=127.0.0.2          # the server side of the loopback topology
CLIENT=127.0.0.1          # the client side (sshd listens here too)
START_DEADLINE=20         # seconds for any server or tunnel to come up
TRANSFER_DEADLINE=600     # seconds for any single transfer (each section is bounded by its transfers' deadlines)
STALL_SECONDS=60          # a transfer moving nothing for this long fails
POLL_INTERVAL=0.01        # seconds between checks of a condition (every wait has a deadline)

PY=/usr/bin/python3; [ -x "$PY" ] || PY=$(command -v python3)
SIZE_BYTES=$(numfmt --from=iec "$SIZE") || { echo "SIZE=$SIZE is not a size (e.g. 256M, 1G)" >&2; exit 2; }
RTT_SIZE_BYTES=$(numfmt --from=iec "${RTT_SIZE:-$SIZE}") || { echo "RTT_SIZE is not a size" >&2; exit 2; }
FAR_BYTES=$(numfmt --from=iec "${FAR_SIZE:-512M}") || { echo "FAR_SIZE is not a size" >&2; exit 2; }
GIB=$((1 << 30))
MEM_SIZE_BYTES=$(numfmt --from=iec "${MEM_SIZE:-32M}") || { echo "MEM_SIZE is not a size" >&2; exit 2; }
RTT_UP_BYTES=$(numfmt --from=iec "${RTT_UP_SIZE:-256M}") || { echo "RTT_UP_SIZE is not a size" >&2; exit 2; }
if [ -n "${PAR_SIZE:-}" ]; then PAR_SIZE_BYTES=$(numfmt --from=iec "$PAR_SIZE") || exit 2
elif ((SIZE_BYTES >= GIB)); then PAR_SIZE_BYTES=$((256 << 20))
else PAR_SIZE_BYTES=$((SIZE_BYTES / 4)); fi
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "RUNS=$RUNS must be a positive integer" >&2; exit 2; }

for lib in processes results fixtures transfers; do
  # shellcheck source=/dev/null
  source "$HERE/lib/$lib.sh"
done
# Every section, in the order of the report; each file defines measure_NAME and report_NAME.
ALL_SECTIONS="single rtt far rttup small memory parallel servers idle window bridge stripe share listing"
for s in $ALL_SECTIONS; do
  # shellcheck source=/dev/null
  source "$HERE/sections/$s.sh"
done

# ---------------------------------------------------------------------------------------------------------
# Report.

print_report() {
  local cores; cores=$(nproc)
  echo "### ftptunnel benchmarks — $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "Machine: $cores cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, loopback;"
  echo "OpenSSH $(ssh -V 2>&1 | cut -d' ' -f1 | cut -d_ -f2), libssh2 $(dpkg-query -W -f='${Version}' libssh2-1 2>/dev/null), $(curl --version | head -1 | cut -d' ' -f1,2), vsftpd $(dpkg-query -W -f='${Version}' vsftpd 2>/dev/null)."
  echo "Load average (1 min) at start $LOAD_START, at end $(cut -d' ' -f1 /proc/loadavg): other work on these cores shows up as noise."
  echo "Cipher $CIPHER + $MAC everywhere. Medians of $RUNS run(s). MB/s = 10^6 bytes/s. CPU = client process user+system seconds per GiB."
  echo
  local s
  for s in $ALL_SECTIONS; do
    if [[ " $SECTIONS " == *" $s "* ]]; then "report_$s"; fi
  done
}

# ---------------------------------------------------------------------------------------------------------

[ -x "$BIN/libssh2-raw-bench" ] || { echo "build first: swift build -c release (missing $BIN/libssh2-raw-bench)" >&2; exit 1; }
LOAD_START=$(cut -d' ' -f1 /proc/loadavg)
echo "bench: SIZE=$SIZE RUNS=$RUNS SECTIONS=\"$SECTIONS\" scratch=$W" >&2
setup_files
start_sshd
start_vsftpd
start_raw_endpoints
for s in $SECTIONS; do
  case $s in
    single|rtt|far|rttup|small|memory|idle|parallel|servers|listing|window|bridge|stripe|share) "measure_$s" ;;
    *) echo "unknown section '$s' (single rtt far rttup small memory idle parallel servers listing window bridge stripe share)" >&2; exit 2 ;;
  esac
done
mkdir -p "$(dirname "$REPORT")"
print_report | tee "$REPORT"
{
  echo; echo "<!-- raw samples"
  for k in $(printf '%s\n' "${!SAMPLES[@]}" | sort); do echo "$k: ${SAMPLES[$k]}"; done
  for k in $(printf '%s\n' "${!STATUS[@]}" | sort); do echo "$k: ${STATUS[$k]}"; done
  echo "-->"
} >>"$REPORT"
echo "report: $REPORT" >&2
