#!/usr/bin/env bash
# End-to-end benchmarks of issue 9 against the emulator, run as a separate process (`o365sync emulator`).
#
#   benches/e2e.sh [latency|cpu|memory|all]      (default: all; idle re-run is part of `latency`)
#   benches/e2e.sh tenants                       (many tenants in one run; not part of `all`)
#
# Builds the release binary, starts the emulator on 127.0.0.1 (port from --port-file), writes a job file, runs
# `o365sync run` under /usr/bin/time and prints each figure with its ratio. Everything is written below a temporary
# directory (E2E_TMP, default: mktemp -d) that is deleted at the end (E2E_KEEP=1 keeps it). Needs: cargo, curl,
# python3, /usr/bin/time. Not part of `cargo test` (a shell script, not a registered bench or test).
#
# Knobs (environment): LAT_BLOBS_PER_HOUR (12), CPU_RECORDS (1000000), CPU_RECORDS_PER_BLOB (5000),
# MEM_LARGE_RECORDS (50000); TENANTS (space-separated tenant counts, default 1000), TENANT_RECORDS_PER_BLOB (50),
# MAX_JOBS (default: the built-in default).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
WHAT=${1:-all}
case "$WHAT" in latency|cpu|memory|all|tenants) ;; *) echo "usage: $0 [latency|cpu|memory|all|tenants]" >&2; exit 2 ;; esac

cargo build --release --quiet
BIN=$ROOT/target/release/o365sync

W=${E2E_TMP:-$(mktemp -d "${TMPDIR:-/tmp}/o365sync-e2e.XXXXXX")}
mkdir -p "$W"
EMU_PID=
cleanup() {
    if [ -n "$EMU_PID" ]; then kill "$EMU_PID" 2>/dev/null || true; wait "$EMU_PID" 2>/dev/null || true; fi
    if [ "${E2E_KEEP:-0}" != 1 ]; then rm -rf "$W"; fi
}
trap cleanup EXIT

log() { printf '%s\n' "$*" >&2; }

# start_emulator ARGS… : starts the emulator with ARGS, sets PORT and URL.
start_emulator() {
    stop_emulator
    rm -f "$W/port"
    "$BIN" emulator --addr 127.0.0.1:0 --port-file "$W/port" --cert-dir "$W/cert" --subscribed "$@" \
        >"$W/emulator.log" 2>&1 &
    EMU_PID=$!
    for _ in $(seq 1 600); do
        [ -s "$W/port" ] && break
        kill -0 "$EMU_PID" 2>/dev/null || { cat "$W/emulator.log" >&2; exit 1; }
        sleep 0.1
    done
    PORT=$(cat "$W/port")
    URL=http://127.0.0.1:$PORT
    log "emulator: $BIN emulator --addr 127.0.0.1:0 --port-file … --cert-dir … --subscribed $*"
}

stop_emulator() {
    if [ -n "$EMU_PID" ]; then kill "$EMU_PID" 2>/dev/null || true; wait "$EMU_PID" 2>/dev/null || true; fi
    EMU_PID=
}

stats() { curl -sf "$URL/_emulator/stats"; }

# write_job NAME START WINDOW RPM FORMAT : a job file $W/NAME.yaml reading the emulator, jsonl sink under $W/out-NAME.
write_job() {
    cat >"$W/$1.yaml" <<EOF
version: 1
name: $1
tenant:
  id: 8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718
  cloud: commercial
  client_id: 0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a
  certificate: cert/certificate.pem
  private_key: cert/key.pem
content_types: [Audit.AzureActiveDirectory, Audit.Exchange, Audit.SharePoint, Audit.General, DLP.All]
sync:
  start: $2
  window: $3
  lookback: 2h
  max_requests_per_minute: $4
output:
  format: $5
sink:
  type: jsonl
  path: out-$1
endpoints:
  login: $URL
  api: $URL
EOF
}

# run_job NAME : runs the job under /usr/bin/time -v; sets WALL (s) and RSS_KIB; the report (JSON) in $W/NAME.report.
run_job() {
    local t0 t1
    # the previous step's written files are flushed first, so their writeback is not charged to this run's fsyncs
    sync
    t0=$(date +%s.%N)
    /usr/bin/time -v -o "$W/$1.time" "$BIN" --state-dir "$W/state" --log-format json -q run "$W/$1.yaml" \
        2>"$W/$1.stderr" || { log "run $1 failed:"; tail -5 "$W/$1.stderr" >&2; exit 1; }
    t1=$(date +%s.%N)
    WALL=$(python3 -c "print(f'{$t1 - $t0:.3f}')")
    RSS_KIB=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$W/$1.time")
    grep '"content_types"' "$W/$1.stderr" | tail -1 >"$W/$1.report" || true
    log "run: $BIN --state-dir … --log-format json -q run $1.yaml   wall ${WALL}s, peak RSS ${RSS_KIB} KiB"
}

# delta FIELD S0 S1 : difference of a (dotted) field between two stats snapshots.
delta() {
    python3 - "$1" "$2" "$3" <<'EOF'
import json, sys
def get(d, path):
    for k in path.split('.'):
        d = d[k]
    return d
print(get(json.loads(sys.argv[3]), sys.argv[1]) - get(json.loads(sys.argv[2]), sys.argv[1]))
EOF
}

records_written() {
    python3 - "$W/$1.report" <<'EOF'
import json, sys
try:
    r = json.loads(open(sys.argv[1]).read())
    print(sum(ct.get('records_written', 0) for ct in r['content_types']))
except Exception:
    print('?')
EOF
}

calc() { python3 -c "print($*)"; }

machine() {
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), \
$(free -h | awk '/^Mem:/ {print $2}') RAM, load $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r), $(rustc --version)"
}

machine

# ---------------------------------------------------------------------------------------------------------------
# End to end, latency-bound; then the idle re-run.
if [ "$WHAT" = latency ] || [ "$WHAT" = all ]; then
    BPH=${LAT_BLOBS_PER_HOUR:-12}
    RPM=2000
    start_emulator --hours 24 --blobs-per-hour "$BPH" --records-per-blob 10 --late-blobs 0 \
        --latency-ms 50 --throttle-rpm "$RPM" --throttle-style 429
    write_job lat 25h 1h "$RPM" ocsf
    S0=$(stats)
    run_job lat
    S1=$(stats)
    REQ=$(delta requests.subscriptions_list "$S0" "$S1")
    API=$(calc "$(delta requests.content_list "$S0" "$S1") + $(delta requests.blob_fetch "$S0" "$S1") + $REQ \
        + $(delta requests.subscriptions_start "$S0" "$S1")")
    THR=$(delta throttled "$S0" "$S1")
    # the budget: a burst of 5, then one request every 60/RPM s
    IDEAL=$(calc "round(max($API - 5, 0) * 60 / $RPM, 3)")
    echo "latency-bound: 24 h x 5 content types x $BPH blobs/h, 50 ms latency, budget $RPM/min"
    echo "  API requests $API (listing pages $(delta requests.content_list "$S0" "$S1"), blobs $(delta requests.blob_fetch "$S0" "$S1")), throttled $THR, records written $(records_written lat)"
    echo "  wall ${WALL} s, requests / budget ${IDEAL} s, ratio $(calc "round($WALL / $IDEAL, 3)") (target <= 1.1)"

    S0=$(stats)
    run_job lat
    S1=$(stats)
    LIST=$(delta requests.content_list "$S0" "$S1")
    FETCH=$(delta requests.blob_fetch "$S0" "$S1")
    API=$(calc "$LIST + $FETCH + $(delta requests.subscriptions_list "$S0" "$S1") + $(delta requests.subscriptions_start "$S0" "$S1")")
    # listing time: what the budget imposes on these requests, plus the latency of one request chain
    # (token, subscriptions, one listing page)
    LT=$(calc "round(max($API - 5, 0) * 60 / $RPM + 3 * 0.050, 3)")
    echo "idle re-run: listing pages $LIST, blob fetches $FETCH (target 0), API requests $API"
    echo "  wall ${WALL} s, listing time ${LT} s, overhead $(calc "round($WALL - $LT, 3)") s (target < 1 s)"
    stop_emulator
    rm -rf "$W/out-lat" "$W/state"
fi

# ---------------------------------------------------------------------------------------------------------------
# End to end, CPU-bound: one million records, no latency, no throttle.
if [ "$WHAT" = cpu ] || [ "$WHAT" = all ]; then
    RPB=${CPU_RECORDS_PER_BLOB:-5000}
    BPH=$(calc "${CPU_RECORDS:-1000000} // ($RPB * 5 * 20)")
    # the emulator keeps every body it generated (the raw run below warms it): serving, not generating, in the run
    start_emulator --hours 20 --blobs-per-hour "$BPH" --records-per-blob "$RPB" --late-blobs 0 \
        --no-blob-listed-twice --duplicate-rate 0 --body-cache-mb 4096
    # the same records, unchanged (format: raw), as the input of the normalize-only measurement
    write_job raw 21h 24h 10000 raw
    run_job raw
    RAW_WALL=$WALL
    RAW_N=$(records_written raw)
    for ct in Audit.AzureActiveDirectory Audit.Exchange Audit.SharePoint Audit.General DLP.All; do
        find "$W/out-raw/$ct" -name '*.jsonl' -print0 | sort -z | xargs -0 cat >"$W/raw-$ct.jsonl"
    done
    rm -rf "$W/out-raw" "$W/state"
    RAW_BYTES=$(cat "$W"/raw-*.jsonl | wc -c)
    sync
    t0=$(date +%s.%N)
    for ct in Audit.AzureActiveDirectory Audit.Exchange Audit.SharePoint Audit.General DLP.All; do
        "$BIN" normalize --content-type "$ct" "$W/raw-$ct.jsonl" >/dev/null
    done
    t1=$(date +%s.%N)
    NORM=$(calc "round($t1 - $t0, 3)")
    log "normalize: $BIN normalize --content-type CT raw-CT.jsonl > /dev/null   (for each of the 5 content types)"
    rm -f "$W"/raw-*.jsonl
    write_job cpu 21h 24h 10000 ocsf
    run_job cpu
    N=$(records_written cpu)
    OUT_BYTES=$(du -sb "$W/out-cpu" | cut -f1)
    echo "cpu-bound: $N records ($RAW_BYTES bytes of JSON lines) in $(calc "5 * 20 * $BPH") blobs of $RPB records, no latency, no throttle"
    echo "  normalize only (CLI, to /dev/null): ${NORM} s, $(calc "round($RAW_N / $NORM)") records/s"
    echo "  sync, format raw, jsonl sink: ${RAW_WALL} s, $(calc "round($RAW_N / $RAW_WALL)") records/s"
    echo "  sync, format ocsf, jsonl sink: ${WALL} s, $(calc "round($N / $WALL)") records/s ($OUT_BYTES bytes written), peak RSS $RSS_KIB KiB"
    echo "  ratio sync / normalize-only: $(calc "round(($N / $WALL) / ($RAW_N / $NORM), 3)") (target >= 0.5)"
    stop_emulator
    rm -rf "$W/out-cpu" "$W/state"
fi

# ---------------------------------------------------------------------------------------------------------------
# Memory: one million records including one ~50 MB blob per content type, measured with /usr/bin/time -v.
if [ "$WHAT" = memory ] || [ "$WHAT" = all ]; then
    LARGE=${MEM_LARGE_RECORDS:-50000}
    start_emulator --hours 20 --blobs-per-hour 10 --records-per-blob 1000 --large-blobs 1 \
        --large-blob-records "$LARGE" --late-blobs 0 --no-blob-listed-twice --duplicate-rate 0 --body-cache-mb 4096
    write_job mem 21h 1h 10000 ocsf
    run_job mem
    N=$(records_written mem)
    BIG=$(find "$W/out-mem" -name '*.jsonl' -printf '%s\n' | sort -n | tail -1)
    echo "memory: $N records, 5 blobs of $LARGE records (largest output file $BIG bytes), window 1h"
    echo "  wall ${WALL} s, peak RSS $RSS_KIB KiB = $(calc "round($RSS_KIB / 1024, 1)") MiB (target < 100 MiB)"
    stop_emulator
    rm -rf "$W/out-mem" "$W/state"
fi

# ---------------------------------------------------------------------------------------------------------------
# Many tenants: N job files of N distinct tenants (one emulator serving them all, each tenant with its own content,
# throttle window of 2000 requests/minute and tokens) in one run. Measured side by side in the same run: the wall
# time, the peak RSS, the slowest tenant's request-budget time (its API requests at 2000/minute after a burst of 5),
# and the CPU time the records need (the collector's and the emulator's CPU seconds during the run, divided by the
# cores: both share this machine's cores). Every job is checked exact against its tenant's ground truth.
if [ "$WHAT" = tenants ]; then
    cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
    # machine-wide busy ticks (user, nice, system, irq, softirq; not steal): also the kernel's work on the run's
    # behalf (journal commits, writeback, loopback packets), which no process is charged for
    busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
    # ticks the hypervisor gave to other machines while this one wanted to run (a shared host)
    steal() { awk '/^cpu / {print $9}' /proc/stat; }
    TICKS=$(getconf CLK_TCK)
    CORES=$(nproc)
    RPB=${TENANT_RECORDS_PER_BLOB:-50}
    for N in ${TENANTS:-1000}; do
        start_emulator --tenants "$N" --tenants-file "$W/tenants" --hours 3 --blobs-per-hour 1 \
            --records-per-blob "$RPB" --late-blobs 0 --throttle-rpm 2000 --throttle-style 429 --body-cache-mb 4096
        rm -rf "$W/jobs" "$W/state" "$W/out"
        mkdir -p "$W/jobs"
        i=0
        while read -r TENANT; do
            printf '%s\n' "version: 1" "name: t$i" "tenant:" "  id: $TENANT" "  cloud: commercial" \
                "  client_id: 0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a" "  certificate: ../cert/certificate.pem" \
                "  private_key: ../cert/key.pem" \
                "content_types: [Audit.AzureActiveDirectory, Audit.Exchange, Audit.SharePoint, Audit.General, DLP.All]" \
                "sync:" "  start: 4h" "  window: 1h" "  lookback: 2h" "  max_requests_per_minute: 2000" \
                "sink:" "  type: jsonl" "  path: ../out/t$i" "endpoints:" "  login: $URL" "  api: $URL" \
                >"$W/jobs/t$i.yaml"
            i=$((i + 1))
        done <"$W/tenants"
        MJ=()
        if [ -n "${MAX_JOBS:-}" ]; then MJ=(--max-jobs "$MAX_JOBS"); fi
        sync
        E0=$(cpu_of "$EMU_PID")
        B0=$(busy)
        S0=$(steal)
        t0=$(date +%s.%N)
        /usr/bin/time -v -o "$W/tenants.time" "$BIN" --state-dir "$W/state" --log-format json run "${MJ[@]}" \
            "$W/jobs" 2>"$W/tenants.stderr" || { log "run failed:"; tail -5 "$W/tenants.stderr" >&2; exit 1; }
        t1=$(date +%s.%N)
        E1=$(cpu_of "$EMU_PID")
        B1=$(busy)
        S1=$(steal)
        STEAL=$(calc "round(($S1 - $S0) / $TICKS, 2)")
        MCPU=$(calc "round(($B1 - $B0) / $TICKS, 2)")
        WALL=$(calc "round($t1 - $t0, 3)")
        RSS_KIB=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$W/tenants.time")
        USER=$(awk -F': ' '/User time/ {print $2}' "$W/tenants.time")
        SYS=$(awk -F': ' '/System time/ {print $2}' "$W/tenants.time")
        ECPU=$(calc "round(($E1 - $E0) / $TICKS, 2)")
        log "run: $BIN --state-dir … --log-format json run ${MJ[*]} jobs/   ($N job files)"
        stats >"$W/stats.json"
        python3 "$ROOT/benches/tenants_check.py" "$W" "$URL" "$N" "$WALL" "$RSS_KIB" "$USER" "$SYS" "$ECPU" "$CORES" "$MCPU" "$STEAL"
        # the next scheduled run: every window of the lookback listed again, nothing new to fetch
        sync
        t0=$(date +%s.%N)
        /usr/bin/time -v -o "$W/idle.time" "$BIN" --state-dir "$W/state" --log-format json -q run "${MJ[@]}" \
            "$W/jobs" 2>"$W/idle.stderr" || { log "idle re-run failed:"; tail -5 "$W/idle.stderr" >&2; exit 1; }
        t1=$(date +%s.%N)
        FETCHED=$(grep '"content_types"' "$W/idle.stderr" | python3 -c "import json,sys; print(sum(c['blobs_fetched'] for l in sys.stdin for c in json.loads(l)['content_types']))")
        echo "  idle re-run: wall $(calc "round($t1 - $t0, 2)") s, collector CPU $(calc "round($(awk -F': ' '/User time/ {print $2}' "$W/idle.time") + $(awk -F': ' '/System time/ {print $2}' "$W/idle.time"), 2)") s, peak RSS $(awk -F': ' '/Maximum resident set size/ {print $2}' "$W/idle.time") KiB, blobs fetched $FETCHED (target 0)"
        stop_emulator
        rm -rf "$W/jobs" "$W/state" "$W/out"
    done
fi
