#!/usr/bin/env bash
# bench/run.sh: throughput/latency comparison of Triad (durable, one node and
# a three-node cluster) against a plain mochi-mqtt broker and Debian's
# mosquitto, all on loopback. Called by `make bench` after `make build`; see
# bench/README.md for what the figures mean. Brokers run one at a time: each
# is started, loaded with the same loadgen scenarios (QoS 0, 1, 2) and
# stopped before the next starts, so an idle broker (the cluster's etcd and
# replication heartbeats) never shares the CPUs with a measured one. A broker
# whose binary is missing is skipped with a loud note. Exits 1 if a Triad run
# (triad or triad-cluster) failed (lost QoS 1/2 messages, errors) or a broker
# did not start; a baseline's failed run is reported loudly but does not fail
# the script. Missing a throughput target is printed, not a failure.
#
# Environment (defaults in brackets):
#   BENCH_COUNT     messages per publisher [10000: a full run takes about 4 min on 2 cores]
#   BENCH_PAIRS     publisher/subscriber pairs [20]
#   BENCH_SIZE      payload bytes [256]
#   BENCH_INFLIGHT  outstanding publishes per publisher [64]
#   BENCH_TIMEOUT   bound on one loadgen run [120s]
#   BENCH_QOS       QoS levels to run ["0 1 2"]
#   BENCH_BROKERS   brokers to run, in order ["triad triad-dynsec triad-cluster mochi mosquitto"]
#   BENCH_DYNSEC_ROLES, BENCH_DYNSEC_ACLS, BENCH_DYNSEC_HELD  triad-dynsec's
#                   configuration: roles, ACL entries, roles its clients hold [100, 1000, 10]
#   BENCH_OUT       if set, the raw JSON result lines are copied there
#   BENCH_NODE_CPU  CPUs each broker process may use, as if it ran on its own
#                   VM of that size (a cgroup CPU quota; each of the cluster's
#                   three nodes gets its own); 0 = no limit: every process
#                   shares the machine [0.5; 0 when cgroups are not writable]
#   BENCH_KEEP      if set, the temp dir (logs, data) is kept
#   TRIAD_BIN [bin/triad]  MOSQUITTO_BIN [mosquitto on PATH or /usr/sbin]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

COUNT=${BENCH_COUNT:-10000}
PAIRS=${BENCH_PAIRS:-20}
SIZE=${BENCH_SIZE:-256}
INFLIGHT=${BENCH_INFLIGHT:-64}
TIMEOUT=${BENCH_TIMEOUT:-120s}
QOSES=${BENCH_QOS:-0 1 2}
BROKERS=${BENCH_BROKERS:-triad triad-dynsec triad-cluster mochi mosquitto}
DYNSEC_ROLES=${BENCH_DYNSEC_ROLES:-100}
DYNSEC_ACLS=${BENCH_DYNSEC_ACLS:-1000}
DYNSEC_HELD=${BENCH_DYNSEC_HELD:-10}
TRIAD_BIN=${TRIAD_BIN:-bin/triad}
MOSQUITTO_BIN=${MOSQUITTO_BIN:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}
NODE_CPU=${BENCH_NODE_CPU:-0.5}
LOADGEN_BIN=bin/triad-loadgen
MOCHI_BIN=bin/mochiplain

# The cluster issue's throughput targets for triad-cluster, judged by
# bench/report on the same run (20 pairs, QoS 1).
CLUSTER_TARGETS="qos1x20:triad-cluster/triad>=0.7,qos1x20:triad-cluster/mochi>=0.35"
# The dynsec issue's: publishing with ACLs checked costs at most 10 %.
DYNSEC_TARGETS="qos1x20:triad-dynsec/triad>=0.9"
DEMO_SPAN=25       # `triad demo --base-port B` listens on B..B+24
CLUSTER_READY_S=40 # demo.json, a leader and two followers (the demo itself gives up after 30s)
STOP_GRACE_S=10    # SIGTERM to SIGKILL for a broker ...
DEMO_GRACE_S=15    # ... and for `triad demo`, which gives its nodes 10s itself

note() { printf 'bench: %s\n' "$*" >&2; }
loud() { printf '\n!!!! bench: %s\n\n' "$*" >&2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/triad-bench.XXXXXX")
# PID: running brokers (for triad-cluster, the `triad demo` process).
# ADDR: the MQTT host:port to load. LOG: the broker's output.
declare -A PID=() ADDR=() LOG=()
cluster_dir=$tmp/cluster
cluster_nodes=() # node pids from demo.json, for a last-resort SIGKILL
cluster_leader_log=
cluster_leader_http=

loadgen_pid=

# stop_broker NAME stops a broker this script started: SIGTERM, then SIGKILL
# after STOP_GRACE_S (DEMO_GRACE_S for the demo). For triad-cluster it then
# kills any node the demo left behind: a pid from demo.json still running
# `triad run` with a config under our temp dir (matched by the temp dir's
# random name: the demo writes absolute paths).
stop_broker() {
	local name=$1 pid=${PID[$1]:-} grace=$STOP_GRACE_S deadline npid
	[[ -n $pid ]] || return 0
	[[ $name != triad-cluster ]] || grace=$DEMO_GRACE_S
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$((SECONDS + grace))
	while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		note "$name (pid $pid) still running ${grace}s after SIGTERM; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	unset "PID[$name]"
	if [[ $name == triad-cluster ]]; then
		note "$name stopped after $((SECONDS - deadline + grace))s"
		for npid in "${cluster_nodes[@]}"; do
			if [[ -r /proc/$npid/cmdline ]] && tr '\0' ' ' <"/proc/$npid/cmdline" 2>/dev/null | grep -qF "/${tmp##*/}/cluster/"; then
				note "cluster node pid $npid outlived the demo; sending SIGKILL"
				kill -KILL "$npid" 2>/dev/null || true
			fi
		done
		cluster_nodes=()
	fi
}

# cleanup stops the running loadgen and every broker still running, and
# removes the temp dir.
cleanup() {
	local rc=$? name
	trap - EXIT INT TERM
	if [[ -n $loadgen_pid ]]; then
		kill -TERM "$loadgen_pid" 2>/dev/null || true
		wait "$loadgen_pid" 2>/dev/null || true
	fi
	for name in "${!PID[@]}"; do
		stop_broker "$name"
	done
	cpu_cgroup_remove
	if [[ -n ${BENCH_KEEP:-} ]]; then
		note "kept $tmp (BENCH_KEEP): brokers' logs and data"
	else
		rm -rf "$tmp"
	fi
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

# port_free PORT succeeds when nothing listens on PORT and this script has
# not handed it out before.
taken=" "
port_free() {
	[[ $taken != *" $1 "* ]] && ! tcp_open "$1"
}

# free_port sets REPLY to a loopback port nothing listens on, below the
# ephemeral range and not handed out before by this script.
free_port() {
	local i p
	for ((i = 0; i < 500; i++)); do
		p=$((20000 + RANDOM % 12000))
		if port_free "$p"; then
			taken+="$p "
			REPLY=$p
			return 0
		fi
	done
	loud "no free port found"
	return 1
}

# free_base_port sets REPLY to a base port B, chosen like free_port, such
# that all of B..B+DEMO_SPAN-1 are free; it hands out the whole span.
free_base_port() {
	local i p base
	for ((i = 0; i < 200; i++)); do
		base=$((20000 + RANDOM % (12000 - DEMO_SPAN)))
		for ((p = base; p < base + DEMO_SPAN; p++)); do
			port_free "$p" || continue 2
		done
		for ((p = base; p < base + DEMO_SPAN; p++)); do
			taken+="$p "
		done
		REPLY=$base
		return 0
	done
	loud "no free range of $DEMO_SPAN ports found"
	return 1
}

# show_log NAME LINES prints the end of NAME's log and, for triad-cluster,
# of its leader's node log.
show_log() {
	local name=$1 n=$2
	note "$name log ${LOG[$name]} ($(wc -l <"${LOG[$name]}") lines), last $n:"
	tail -n "$n" "${LOG[$name]}" >&2
	if [[ $name == triad-cluster && -n $cluster_leader_log && -r $cluster_leader_log ]]; then
		note "leader log $cluster_leader_log, last $n:"
		tail -n "$n" "$cluster_leader_log" >&2
	fi
}

# wait_ready NAME polls the broker's port until it accepts, it exits, or 20s pass.
wait_ready() {
	local name=$1 deadline=$((SECONDS + 20))
	until tcp_open "${ADDR[$name]##*:}"; do
		if ! kill -0 "${PID[$name]}" 2>/dev/null; then
			loud "$name exited during start-up; its log:"
			tail -n 20 "${LOG[$name]}" >&2
			return 1
		fi
		if ((SECONDS >= deadline)); then
			loud "$name did not accept connections on ${ADDR[$name]} within 20s; its log:"
			tail -n 20 "${LOG[$name]}" >&2
			return 1
		fi
		sleep 0.1
	done
}

# start_triad_node NAME [YAML] runs a one-node triad, its config ending
# with YAML (top-level sections).
start_triad_node() {
	local name=$1 extra=${2:-} dir=$tmp/$1 port
	if [[ ! -x $TRIAD_BIN ]]; then
		loud "SKIPPING $name: $TRIAD_BIN not found (run 'make build' first)"
		return 1
	fi
	mkdir -p "$dir"
	free_port || return 1
	port=$REPLY
	ADDR[$name]=127.0.0.1:$port
	free_port || return 1
	cat >"$dir/triad.yaml" <<-YAML
		node:
		  name: bench
		  data_dir: $dir/data
		mqtt:
		  listeners:
		    - type: tcp
		      address: 127.0.0.1:$port
		http:
		  address: 127.0.0.1:$REPLY
		log:
		  level: warn
		$extra
	YAML
	LOG[$name]=$dir/triad.log
	"$TRIAD_BIN" run --config "$dir/triad.yaml" >"${LOG[$name]}" 2>&1 &
	PID[$name]=$!
}

start_triad() { start_triad_node triad; }

# start_triad_dynsec is triad with dynamic security on: a configuration of
# DYNSEC_ROLES roles and DYNSEC_ACLS ACL entries, loadgen's anonymous
# clients holding DYNSEC_HELD of the roles (bench/dynsecconf).
start_triad_dynsec() {
	local file=$tmp/dynamic-security.json
	go run ./bench/dynsecconf -roles "$DYNSEC_ROLES" -acls "$DYNSEC_ACLS" -held "$DYNSEC_HELD" >"$file" || return 1
	start_triad_node triad-dynsec "$(printf 'dynsec:\n  enabled: true\n  allow_anonymous: true\n  file: %s' "$file")"
}

# start_triad_cluster runs `triad demo --no-haproxy` (clients go to the
# leader directly): three nodes with embedded etcd and
# synchronous replication, in $cluster_dir on a free range of ports.
# wait_cluster finds the leader, whose MQTT address ADDR gets.
start_triad_cluster() {
	if [[ ! -x $TRIAD_BIN ]]; then
		loud "SKIPPING triad-cluster: $TRIAD_BIN not found (run 'make build' first)"
		return 1
	fi
	if ! command -v curl >/dev/null; then
		loud "SKIPPING triad-cluster: curl (to find the leader) not installed (make deps)"
		return 1
	fi
	free_base_port || return 1
	LOG[triad-cluster]=$tmp/cluster-demo.log
	"$TRIAD_BIN" demo --no-haproxy --dir "$cluster_dir" --base-port "$REPLY" >"${LOG[triad-cluster]}" 2>&1 &
	PID[triad-cluster]=$!
}

# json_values KEY FILE prints the value of every "KEY": "..." or "KEY": N
# in FILE (demo.json, whose fields hold no quotes), one a line, in order.
json_values() {
	grep -o "\"$1\": *\(\"[^\"]*\"\|[0-9]*\)" "$2" | sed 's/^[^:]*: *"\{0,1\}//; s/"$//'
}

# http_status URL prints the status code of GET URL, 000 if no answer in 1s.
http_status() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1" || true
}

# wait_cluster waits, for at most CLUSTER_READY_S, for demo.json, then for
# exactly one node answering GET /leader with 200 while the other two answer
# GET /replica with 200 (healthy followers) and the leader accepts MQTT
# connections. It fails at once if the demo exits.
wait_cluster() {
	local name=triad-cluster manifest=$cluster_dir/demo.json
	local started=${EPOCHREALTIME/./} deadline=$((SECONDS + CLUSTER_READY_S)) i leader followers probes code
	local -a names https mqtts logs
	while :; do
		if ! kill -0 "${PID[$name]}" 2>/dev/null; then
			loud "$name: triad demo exited during start-up; its output:"
			tail -n 30 "${LOG[$name]}" >&2
			return 1
		fi
		if ((SECONDS >= deadline)); then
			loud "$name: no leader with two healthy followers within ${CLUSTER_READY_S}s (last answers: ${probes:-no demo.json yet}); demo output:"
			tail -n 30 "${LOG[$name]}" >&2
			return 1
		fi
		if [[ -s $manifest ]]; then
			mapfile -t names < <(json_values name "$manifest")
			mapfile -t https < <(json_values http "$manifest")
			mapfile -t mqtts < <(json_values mqtt "$manifest")
			mapfile -t logs < <(json_values log "$manifest")
			mapfile -t cluster_nodes < <(json_values pid "$manifest")
			leader= followers=0 probes=
			for i in "${!names[@]}"; do
				code=$(http_status "http://${https[i]}/leader")
				probes+="${names[i]} /leader $code, "
				if [[ $code == 200 ]]; then
					[[ -z $leader ]] || leader=many
					[[ $leader == many ]] || leader=$i
				elif [[ $(http_status "http://${https[i]}/replica") == 200 ]]; then
					followers=$((followers + 1))
				fi
			done
			probes=${probes%, }
			if [[ -n $leader && $leader != many ]] && ((followers == ${#names[@]} - 1)) && tcp_open "${mqtts[leader]##*:}"; then
				ADDR[$name]=${mqtts[leader]}
				cluster_leader_log=${logs[leader]}
				cluster_leader_http=${https[leader]}
				note "$name: leader ${names[leader]} (mqtt ${ADDR[$name]}) and $followers followers ready after $(((${EPOCHREALTIME/./} - started) / 1000))ms"
				return 0
			fi
		fi
		sleep 0.2
	done
}

# cluster_still_sound fails with a loud note when a node of the cluster
# has exited or its leader no longer answers GET /leader with 200.
cluster_still_sound() {
	local npid rc=0
	for npid in "${cluster_nodes[@]}"; do
		if ! kill -0 "$npid" 2>/dev/null; then
			loud "triad-cluster: node pid $npid exited during the benchmark"
			rc=1
		fi
	done
	if [[ $(http_status "http://$cluster_leader_http/leader") != 200 ]]; then
		loud "triad-cluster: the leader ($cluster_leader_http) no longer leads"
		rc=1
	fi
	return "$rc"
}

start_mochi() {
	build "$MOCHI_BIN" ./bench/mochiplain || return 1
	free_port || return 1
	ADDR[mochi]=127.0.0.1:$REPLY
	LOG[mochi]=$tmp/mochi.log
	"$MOCHI_BIN" -addr "${ADDR[mochi]}" -log-level warn >"${LOG[mochi]}" 2>&1 &
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
	free_port || return 1
	ADDR[mosquitto]=127.0.0.1:$REPLY
	cat >"$dir/mosquitto.conf" <<-CONF
		user $(id -un)
		listener $REPLY 127.0.0.1
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

# cpu_cgroup_init sets cg_base, the cgroup directory under which
# limit_cpu makes one child per broker process (cgroup v2, or v1's cpu
# controller), or fails with a loud note when neither is writable.
cg_base= cg_v2=
cpu_cgroup_init() {
	local v2=/sys/fs/cgroup v1=/sys/fs/cgroup/cpu name=triad-bench.$$
	if [[ -r $v2/cgroup.controllers ]] && grep -qw cpu "$v2/cgroup.controllers"; then
		cg_base=$v2/$name cg_v2=1
		mkdir "$cg_base" && echo +cpu >"$v2/cgroup.subtree_control" && echo +cpu >"$cg_base/cgroup.subtree_control" && return 0
	elif [[ -w $v1 && -e $v1/cpu.cfs_quota_us ]]; then
		cg_base=$v1/$name
		mkdir "$cg_base" && return 0
	fi
	loud "BENCH_NODE_CPU=$NODE_CPU needs a writable cgroup cpu controller (root, /sys/fs/cgroup); running WITHOUT a CPU budget: every broker process shares the machine"
	cg_base= NODE_CPU=0
	return 1
}

# cpu_cgroup_remove removes the cgroups limit_cpu made (their processes
# have exited: the brokers are stopped first).
cpu_cgroup_remove() {
	[[ -n $cg_base && -d $cg_base ]] || return 0
	find "$cg_base" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null || true
	rmdir "$cg_base" 2>/dev/null || note "could not remove cgroup $cg_base"
}

# limit_cpu LABEL PID moves process PID (all its threads) into its own
# cgroup limited to NODE_CPU CPUs.
limit_cpu() {
	local dir=$cg_base/$1 quota
	quota=$(awk -v c="$NODE_CPU" 'BEGIN { printf "%d", c * 100000 }')
	mkdir -p "$dir" || return 1
	if [[ -n $cg_v2 ]]; then
		echo "$quota 100000" >"$dir/cpu.max" || return 1
	else
		echo 100000 >"$dir/cpu.cfs_period_us" && echo "$quota" >"$dir/cpu.cfs_quota_us" || return 1
	fi
	echo "$2" >"$dir/cgroup.procs"
}

# limit_broker NAME puts each process of a ready broker under its CPU
# budget: the cluster's three nodes (the idle demo supervisor is left out),
# else the broker's own process.
limit_broker() {
	local name=$1 npid i=0
	[[ -n $cg_base ]] || return 0
	if [[ $name == triad-cluster ]]; then
		for npid in "${cluster_nodes[@]}"; do
			limit_cpu "$name-$((i++))" "$npid" || return 1
		done
	else
		limit_cpu "$name" "${PID[$name]}" || return 1
	fi
	note "$name: each broker process limited to $NODE_CPU CPU"
}

# ready NAME waits until a started broker can be loaded.
ready() {
	if [[ $1 == triad-cluster ]]; then
		wait_cluster
	else
		wait_ready "$1"
	fi
}

# bench_broker NAME runs every scenario against a started broker; a failed
# run is added to failed. It exits the script when loadgen was interrupted.
bench_broker() {
	local name=$1 qos rc
	for qos in $QOSES; do
		note "$name qos$qos ..."
		# In the background so that a signal to this script is handled at
		# once (bash runs traps only between foreground commands).
		"$LOADGEN_BIN" -addr "${ADDR[$name]}" -label "$name" -qos "$qos" \
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
			show_log "$name" 5
		fi
	done
}

for name in $BROKERS; do
	case $name in
	triad | triad-dynsec | triad-cluster | mochi | mosquitto) ;;
	*)
		loud "unknown broker '$name' in BENCH_BROKERS (want triad, triad-dynsec, triad-cluster, mochi, mosquitto)"
		exit 2
		;;
	esac
done

build "$LOADGEN_BIN" ./bench/loadgen
go build -o "$tmp/report" ./bench/report

if ! [[ $NODE_CPU =~ ^[0-9]+(\.[0-9]+)?$ ]] || { [[ $NODE_CPU != 0 ]] && awk -v c="$NODE_CPU" -v n="$(nproc)" 'BEGIN { exit !(c < 0.01 || c > n) }'; }; then
	loud "BENCH_NODE_CPU='$NODE_CPU': want 0 (no limit) or a number of CPUs from 0.01 to $(nproc)"
	exit 2
fi
if [[ $NODE_CPU != 0 ]]; then
	cpu_cgroup_init || true
fi

results=$tmp/results.jsonl
: >"$results"
note "scenarios: QoS {$QOSES}, $PAIRS pairs x $COUNT msgs x ${SIZE}B, inflight $INFLIGHT, timeout $TIMEOUT"
ran=()
skipped=()
failed=()
for name in $BROKERS; do
	if ! "start_${name//-/_}"; then
		skipped+=("$name")
		continue
	fi
	if ! ready "$name"; then
		failed+=("$name start-up")
		stop_broker "$name"
		continue
	fi
	note "$name up on ${ADDR[$name]} (pid ${PID[$name]})"
	if ! limit_broker "$name"; then
		failed+=("$name start-up (cpu limit)")
		stop_broker "$name"
		continue
	fi
	ran+=("$name")
	bench_broker "$name"
	if ! kill -0 "${PID[$name]}" 2>/dev/null; then
		loud "$name exited during the benchmark"
		show_log "$name" 20
		failed+=("$name exited")
	elif [[ $name == triad-cluster ]] && ! cluster_still_sound; then
		show_log "$name" 20
		failed+=("$name node or leader lost")
	fi
	stop_broker "$name"
done

if ((${#ran[@]} == 0)); then
	loud "no broker to benchmark"
	exit 1
fi

if [[ -n ${BENCH_OUT:-} ]]; then
	cp "$results" "$BENCH_OUT"
	note "raw results in $BENCH_OUT"
fi
echo
budget="all share the machine"
[[ $NODE_CPU == 0 ]] || budget="$NODE_CPU CPU per broker process"
echo "Triad bench: $PAIRS pairs, $COUNT msgs/publisher, ${SIZE}B payload, inflight $INFLIGHT, $(nproc) cores, $budget"
# Ratios only between brokers that ran: triad against each baseline,
# triad-dynsec against triad (the cost of ACL checks), and triad-cluster
# against triad (the cost of replication) and mochi.
has() { [[ " ${ran[*]} " == *" $1 "* ]]; }
ratios=()
if has triad; then
	for name in "${ran[@]}"; do
		[[ $name == triad* ]] || ratios+=("triad/$name")
	done
fi
targets=
if has triad-dynsec && has triad; then
	ratios+=("triad-dynsec/triad")
	targets=$DYNSEC_TARGETS
fi
if has triad-cluster; then
	for name in triad mochi; do
		if has "$name"; then
			ratios+=("triad-cluster/$name")
		fi
	done
	targets=${targets:+$targets,}$CLUSTER_TARGETS
fi
ratio_arg=$(
	IFS=,
	echo "${ratios[*]}"
)
if [[ -s $results ]]; then
	"$tmp/report" -ratio "$ratio_arg" -target "$targets" <"$results"
fi
if ((${#skipped[@]} > 0)); then
	loud "skipped (not installed, not built or no free port): ${skipped[*]}"
fi
# Only Triad's failures (triad, triad-cluster), and brokers that would not
# start, fail the run: a baseline that loses messages under this load is a
# finding to read in the table, not a broken build.
if ((${#failed[@]} > 0)); then
	loud "FAILED: ${failed[*]}"
	for f in "${failed[@]}"; do
		if [[ $f == triad* || $f == *start-up ]]; then
			exit 1
		fi
	done
fi
