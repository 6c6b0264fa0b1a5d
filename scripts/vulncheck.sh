#!/usr/bin/env bash
# Checks Triad's code against the Go vulnerability database with
# govulncheck (golang.org/x/vuln, a tool in go.mod), offline: the
# database is the golang.org/x/vulndb module, fetched through the Go
# module proxy like any module (vuln.go.dev itself is not reachable from
# CI). Its data/osv folder holds one OSV file per vulnerability, the data
# vuln.go.dev serves; govulncheck reads such a folder given as
# -db file://DIR and builds the index in memory (the same findings as
# the v1 layout that x/vulndb's cmd/indexdb writes from it, which needs
# some forty more modules to build).
#
# It fails (exit 1) when the code calls a vulnerable symbol of a module
# in go.mod (fix: go get MODULE@FIXED), and prints vulnerable symbols of
# the standard library that the code calls, which only a newer Go fixes
# (the Go at /usr/local/go, not a module): a warning, or a failure with
# VULNCHECK_STDLIB=fail. Vulnerabilities in modules or packages the code
# requires but never calls are counted, not listed; for everything,
# with traces:
#   go tool govulncheck -db file://<the folder it prints> ./...
#
# The database is pinned: golang.org/x/vulndb at its commit of
# 2026-11-05. To refresh it, set VULNDB_VERSION to a newer pseudo-version
# (go list -m golang.org/x/vulndb@latest) and VULNDB_SUM to its "Sum"
# (go mod download -json golang.org/x/vulndb@VERSION), and run this with
# both set, then write them below.
set -euo pipefail
cd "$(dirname "$0")/.."

VULNDB_VERSION=${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}
VULNDB_SUM=${VULNDB_SUM:-h1:mfngRv0Yoh0VApsXKEN82CjD99kl7mtparN3bs3JnqI=}
GO=${GO:-go}

command -v jq >/dev/null 2>&1 || ./scripts/deps.sh jq=jq

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Download outside this module, so that go.mod and go.sum stay as they are.
# The go command checks the module against the checksum database; the sum
# pinned here is checked too.
if ! (cd "$tmp" && "$GO" mod download -json "golang.org/x/vulndb@$VULNDB_VERSION") >"$tmp/download.json"; then
  echo "vulncheck: cannot download golang.org/x/vulndb@$VULNDB_VERSION:" >&2
  jq -r '.Error // empty' "$tmp/download.json" >&2 || cat "$tmp/download.json" >&2
  exit 2
fi
sum=$(jq -r .Sum "$tmp/download.json")
if [ "$sum" != "$VULNDB_SUM" ]; then
  echo "vulncheck: golang.org/x/vulndb@$VULNDB_VERSION has sum $sum, want $VULNDB_SUM" >&2
  exit 2
fi
db="$(jq -r .Dir "$tmp/download.json")/data/osv"
if [ ! -d "$db" ]; then
  echo "vulncheck: $db is missing: golang.org/x/vulndb@$VULNDB_VERSION has no data/osv folder" >&2
  exit 2
fi
echo "vulncheck: golang.org/x/vulndb@$VULNDB_VERSION ($(find "$db" -name '*.json' | wc -l) entries, $db)"

# -format json exits 0 whatever it finds; it fails on a scan error (a
# package that does not load, a database it cannot read).
if ! "$GO" tool govulncheck -db "file://$db" -format json ./... >"$tmp/scan.json" 2>"$tmp/scan.err"; then
  cat "$tmp/scan.err" >&2
  echo "vulncheck: govulncheck failed" >&2
  exit 2
fi

# One line per vulnerability whose symbol the code calls, with one trace
# from our code to it: stdlib ones first.
report() { # $1: "stdlib" or "modules"
  jq -rs --arg which "$1" '
    (map(select(.osv)) | map({key: .osv.id, value: .osv.summary}) | from_entries) as $summary
    | map(select(.finding.trace[0].function?) | .finding)
    | map(select((.trace[0].module == "stdlib") == ($which == "stdlib")))
    | group_by(.osv)[]
    | .[0] as $f | $f.trace[0] as $v | $f.trace[-1] as $e
    | def sym(p): "\(p).\(if .receiver then (.receiver | ltrimstr("*")) + "." else "" end)\(.function)";
      "  \($f.osv) \($v.module)@\($v.version), fixed in \($f.fixed_version // "no version yet"): \($summary[$f.osv])\n"
      + "    e.g. \($e | sym(.package | sub(".*/"; ""))) (\($e.position.filename):\($e.position.line)) eventually calls \($v | sym(.package))"
  ' "$tmp/scan.json"
}
stdlib=$(report stdlib)
modules=$(report modules)
uncalled=$(jq -rs '
  [map(select(.finding) | .finding) | group_by(.osv)[] | select(all(.trace[0].function? == null)) | .[0].osv] | length
' "$tmp/scan.json")
go_version=$(jq -rs 'map(select(.config)) | .[0].config.go_version' "$tmp/scan.json")

status=0
if [ -n "$modules" ]; then
  echo "vulncheck: the code calls vulnerable symbols of these modules; upgrade each (go get MODULE@FIXED):"
  echo "$modules"
  status=1
fi
if [ -n "$stdlib" ]; then
  echo "vulncheck: the code calls vulnerable symbols of the standard library of $go_version; a newer Go fixes them:"
  echo "$stdlib"
  if [ "${VULNCHECK_STDLIB:-warn}" = fail ]; then
    status=1
  else
    echo "vulncheck: WARNING: the standard library findings above need a newer Go than $go_version (not a module: VULNCHECK_STDLIB=fail makes them fail this check)" >&2
  fi
fi
echo "vulncheck: $uncalled more vulnerabilities are in modules or packages the code requires but does not call"
if [ -z "$modules$stdlib" ]; then
  echo "vulncheck: no vulnerable symbol is called"
fi
exit "$status"
