#!/usr/bin/env bash
# Installs the Debian packages Triad's tests, benchmarks and demo use, when
# they are missing. Needs root (or sudo) for apt-get; without it, it says
# what to install and fails.
set -euo pipefail

# command → Debian package
declare -A want=(
  [mosquitto_pub]=mosquitto-clients
  [mosquitto_sub]=mosquitto-clients
  [mosquitto]=mosquitto
  [curl]=curl
  [haproxy]=haproxy
  [rpm]=rpm # inspects the .rpm in make package-check
  # make chaos / chaos-quick: namespaces and veths, packet drops, qdiscs
  [ip]=iproute2
  [tc]=iproute2
  [nft]=nftables
)
for extra in "$@"; do
  want[${extra%%=*}]=${extra#*=}
done

missing=()
for cmd in "${!want[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("${want[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if [ "$(id -u)" -eq 0 ]; then
  apt=(apt-get)
elif command -v sudo >/dev/null 2>&1; then
  apt=(sudo apt-get)
else
  echo "deps: missing ${missing[*]}; install them with: apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${apt[@]}" update -qq
"${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
