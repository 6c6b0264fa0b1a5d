#!/usr/bin/env bash
# bench/run.sh: throughput/latency comparison of Triad (durable) against a
# plain mochi-mqtt broker and Debian's mosquitto, all on loopback. Called by
# `make bench` after `make build`; see bench/README.md for what the figures
# mean. Brokers are loaded one at a time; each runs the same loadgen
# scenarios (QoS 0, 1, 2). A broker whose binary is missing is skipped with a
# loud note. Exits 1 if a Triad run failed (lost QoS 1/2 messages, errors)
# or a broker did not start; a baseline's failed run is reported loudly but
# does not fail the script.
#
# Environment (defaults in brackets):
#   BENCH_COUNT     messages per publisher [10000: a full run takes about 2 min on 2 cores]
#   BENCH_PAIRS     publisher/subscriber pairs [20]
#   BENCH_SIZE      payload bytes [256]
#   BENCH_INFLIGHT  outstanding publishes per publisher [64]
#   BENCH_TIMEOUT   bound on one loadgen run [120s]
#   BENCH_QOS       QoS levels to run ["0 1 2"]
#   BENCH_BROKERS   brokers to run, in order ["triad mochi mosquitto"]
#   BENCH_OUT       if set, the raw JSON result lines are copied there
#   TRIAD_BIN [bin/triad]  MOSQUITTO_BIN [mosquitto on PATH or /usr/sbin]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

COUNT=${BENCH_COUNT:-10000}
PAIRS=${BENCH_PAIRS:-20}
SIZE=${BENCH_SIZE:-256}
INFLIGHT=${BENCH_INFLIGHT:-64}
TIMEOUT=${BENCH_TIMEOUT:-120s}
QOSES=${BENCH_QOS:-0 1 2}
BROKERS=${BENCH_BROKERS:-triad mochi mosquitto}
TRIAD_BIN=${TRIAD_BIN:-bin/triad}
MOSQUITTO_BIN=${MOSQUITTO_BIN:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}
LOADGEN_BIN=bin/triad-loadgen
MOCHI_BIN=bin/mochiplain

note() { printf 'bench: %s\n' "$*" >&2; }
loud() { printf '\n!!!! bench: %s\n\n' "$*" >&2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/triad-bench.XXXXXX")
declare -A PID=() PORT=() LOG=()

loadgen_pid=

# cleanup stops the running loadgen and every broker this script started
# (SIGTERM, then SIGKILL after 10s) and removes the temp dir.
cleanup() {
	local rc=$? name pid deadline
	trap - EXIT INT TERM
	if [[ -n $loadgen_pid ]]; then
		kill -TERM "$loadgen_pid" 2>/dev/null || true
		wait "$loadgen_pid" 2>/dev/null || true
	fi
	for name in "${!PID[@]}"; do
		kill -TERM "${PID[$name]}" 2>/dev/null || true
	done
	for name in "${!PID[@]}"; do
		pid=${PID[$name]}
		deadline=$((SECONDS + 10))
		while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			note "$name (pid $pid) still running 10s after SIGTERM; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# build OUT PKG builds a bench tool when it is missing or older than its
# sources, so an edited loadgen is never benchmarked stale.
build() {
	local out=$1 pkg=$2
	if [[ -x $out ]] && [[ -z $(find "$pkg" bench/internal go.mod go.sum -newer "$out" -name '*.go' -o -newer "$out" -name 'go.*' | head -n 1) ]]; then
		return 0
	fi
	note "building $out from $pkg"
	go build -o "$out" "$pkg"
}

# tcp_open PORT succeeds when something accepts connections on 127.0.0.1:PORT.
tcp_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port sets REPLY to a loopback port nothing listens on, below the
# ephemeral range and not handed out before by this script.
taken=" "
free_port() {
	local i p
	for ((i = 0; i < 500; i++)); do
		p=$((20000 + RANDOM % 12000))
		if [[ $taken != *" $p "* ]] && ! tcp_open "$p"; then
			taken+="$p "
			REPLY=$p
			return 0
		fi
	done
	loud "no free port found"
	return 1
}

# wait_ready NAME polls the broker's port until it accepts, it exits, or 20s pass.
wait_ready() {
	local name=$1 deadline=$((SECONDS + 20))
	until tcp_open "${PORT[$name]}"; do
		if ! kill -0 "${PID[$name]}" 2>/dev/null; then
			loud "$name exited during start-up; its log:"
			tail -n 20 "${LOG[$name]}" >&2
			return 1
		fi
		if ((SECONDS >= deadline)); then
			loud "$name did not accept connections on port ${PORT[$name]} within 20s; its log:"
			tail -n 20 "${LOG[$name]}" >&2
			return 1
		fi
		sleep 0.1
	done
}

start_triad() {
	if [[ ! -x $TRIAD_BIN ]]; then
		loud "SKIPPING triad: $TRIAD_BIN not found (run 'make build' first)"
		return 1
	fi
	local dir=$tmp/triad
	mkdir -p "$dir"
	free_port
	PORT[triad]=$REPLY
	free_port
	cat >"$dir/triad.yaml" <<-YAML
		node:
		  name: bench
		  data_dir: $dir/data
		mqtt:
		  listeners:
		    - type: tcp
		      address: 127.0.0.1:${PORT[triad]}
		http:
		  address: 127.0.0.1:$REPLY
		log:
		  level: warn
	YAML
	LOG[triad]=$dir/triad.log
	"$TRIAD_BIN" run --config "$dir/triad.yaml" >"${LOG[triad]}" 2>&1 &
	PID[triad]=$!
}

start_mochi() {
	build "$MOCHI_BIN" ./bench/mochiplain
	free_port
	PORT[mochi]=$REPLY
	LOG[mochi]=$tmp/mochi.log
	"$MOCHI_BIN" -addr "127.0.0.1:${PORT[mochi]}" -log-level warn >"${LOG[mochi]}" 2>&1 &
	PID[mochi]=$!
}

# start_mosquitto runs Debian's mosquitto with limits like Triad's: 1024
# unacknowledged outbound QoS 1/2 messages and 10000 queued per client,
# Nagle off (Go brokers set TCP_NODELAY), persistence on. Its persistence
# is a periodic snapshot (autosave_interval, default 30 min) plus one at
# shutdown, not a per-message fsync.
start_mosquitto() {
	if [[ ! -x $MOSQUITTO_BIN ]]; then
		loud "SKIPPING mosquitto: not installed (apt-get install -y mosquitto)"
		return 1
	fi
	local dir=$tmp/mosq
	mkdir -p "$dir/data"
	free_port
	PORT[mosquitto]=$REPLY
	cat >"$dir/mosquitto.conf" <<-CONF
		user $(id -un)
		listener ${PORT[mosquitto]} 127.0.0.1
		allow_anonymous true
		persistence true
		persistence_location $dir/data/
		max_inflight_messages 1024
		max_queued_messages 10000
		set_tcp_nodelay true
		log_dest stderr
		log_type error
		log_type warning
		connection_messages false
	CONF
	LOG[mosquitto]=$dir/mosquitto.log
	"$MOSQUITTO_BIN" -c "$dir/mosquitto.conf" >"${LOG[mosquitto]}" 2>&1 &
	PID[mosquitto]=$!
}

build "$LOADGEN_BIN" ./bench/loadgen
go build -o "$tmp/report" ./bench/report

active=()
skipped=()
for name in $BROKERS; do
	case $name in
	triad | mochi | mosquitto) ;;
	*)
		loud "unknown broker '$name' in BENCH_BROKERS (want triad, mochi, mosquitto)"
		exit 2
		;;
	esac
	if "start_$name"; then
		active+=("$name")
	else
		skipped+=("$name")
	fi
done
ready=()
failed=()
for name in "${active[@]}"; do
	if wait_ready "$name"; then
		ready+=("$name")
		note "$name up on 127.0.0.1:${PORT[$name]} (pid ${PID[$name]})"
	else
		failed+=("$name start-up")
	fi
done

if ((${#ready[@]} == 0)); then
	loud "no broker to benchmark"
	exit 1
fi

results=$tmp/results.jsonl
: >"$results"
note "scenarios: QoS {$QOSES}, $PAIRS pairs x $COUNT msgs x ${SIZE}B, inflight $INFLIGHT, timeout $TIMEOUT"
for name in "${ready[@]}"; do
	for qos in $QOSES; do
		note "$name qos$qos ..."
		# In the background so that a signal to this script is handled at
		# once (bash runs traps only between foreground commands).
		"$LOADGEN_BIN" -addr "127.0.0.1:${PORT[$name]}" -label "$name" -qos "$qos" \
			-pairs "$PAIRS" -size "$SIZE" -count "$COUNT" -inflight "$INFLIGHT" \
			-timeout "$TIMEOUT" -json >>"$results" &
		loadgen_pid=$!
		rc=0
		wait "$loadgen_pid" || rc=$?
		loadgen_pid=
		if ((rc > 128)); then # loadgen died of a signal (it re-raises SIGINT/SIGTERM)
			loud "interrupted"
			exit "$rc"
		fi
		if ((rc != 0)); then
			failed+=("$name qos$qos")
			note "$name log ($(wc -l <"${LOG[$name]}") lines), last 5:"
			tail -n 5 "${LOG[$name]}" >&2
		fi
	done
	if ! kill -0 "${PID[$name]}" 2>/dev/null; then
		loud "$name exited during the benchmark; log tail:"
		tail -n 20 "${LOG[$name]}" >&2
		failed+=("$name exited")
	fi
done

if [[ -n ${BENCH_OUT:-} ]]; then
	cp "$results" "$BENCH_OUT"
	note "raw results in $BENCH_OUT"
fi
echo
echo "Triad bench: $PAIRS pairs, $COUNT msgs/publisher, ${SIZE}B payload, inflight $INFLIGHT, $(nproc) cores"
# Ratios only between brokers that ran: triad against each baseline.
ratios=()
if [[ " ${ready[*]} " == *" triad "* ]]; then
	for name in "${ready[@]}"; do
		[[ $name == triad ]] || ratios+=("triad/$name")
	done
fi
ratio_arg=$(
	IFS=,
	echo "${ratios[*]}"
)
if [[ -s $results ]]; then
	"$tmp/report" -ratio "$ratio_arg" <"$results"
fi
if ((${#skipped[@]} > 0)); then
	loud "skipped (not installed/built): ${skipped[*]}"
fi
# Only Triad's failures, and brokers that would not start, fail the run: a
# baseline that loses messages under this load is a finding to read in the
# table, not a broken build.
if ((${#failed[@]} > 0)); then
	loud "FAILED: ${failed[*]}"
	for f in "${failed[@]}"; do
		if [[ $f == triad* || $f == *start-up ]]; then
			exit 1
		fi
	done
fi
