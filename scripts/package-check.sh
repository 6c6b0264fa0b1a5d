#!/usr/bin/env bash
# Checks the packages `make packages` built (make package-check): installs
# the .deb on this machine, checks its files, owners and modes, the triad
# user, the conffiles (kept across a reinstall), the units (systemd-analyze
# verify, with and without the generator's drop-ins) and the binaries'
# version, then purges it and checks that nothing is left; inspects the
# .rpm with Debian's rpm. Needs root; refuses to touch an installed triad.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${VERSION:?}" "${PKG_VERSION:?}"
deb=dist/triad_${PKG_VERSION}_amd64.deb
rpm=dist/triad-${PKG_VERSION}-1.x86_64.rpm
checks=0
fail() { echo "package-check: FAIL: $*" >&2; exit 1; }
ok() { checks=$((checks + 1)); }

# The package version scheme (scripts/pkg-version.sh), with a fake git.
fakegit=$(mktemp -d)
cat >"$fakegit/git" <<'SH'
#!/bin/sh
case "$1" in describe) echo "$FAKE_DESCRIBE" ;; rev-list) echo 66 ;; esac
SH
chmod 755 "$fakegit/git"
while read -r describe want; do
	got=$(PATH="$fakegit:$PATH" FAKE_DESCRIBE=$describe ./scripts/pkg-version.sh)
	[ "$got" = "$want" ] || fail "pkg-version.sh: git describe $describe gave $got, want $want"
	ok
done <<'TABLE'
v1.2.3 1.2.3
v1.2.3-rc1 1.2.3~rc1
v1.2.3-4-gabc1234 1.2.3+4.gabc1234
v1.2.3-4-gabc1234-dirty 1.2.3+4.gabc1234.dirty
1e66179 0.0.0+git66.g1e66179
abc1234-dirty 0.0.0+git66.gabc1234.dirty
TABLE
rm -rf "$fakegit"

[ "$(id -u)" -eq 0 ] || fail "needs root (dpkg -i)"
[ -f "$deb" ] || fail "no $deb (make packages)"
[ -f "$rpm" ] || fail "no $rpm (make packages)"
if dpkg-query -W -f='${Status}' triad 2>/dev/null | grep -q installed; then
	fail "a triad package is already installed on this machine; not touching it"
fi
for f in /etc/triad /var/lib/triad /etc/systemd/system/triad.service.d; do
	[ ! -e "$f" ] || fail "$f exists already; not touching it"
done

purge() { dpkg --purge triad >/dev/null 2>&1 || true; rm -rf /etc/systemd/system/triad.service.d; }
trap purge EXIT

echo "package-check: dpkg -i $deb"
dpkg -i "$deb" >/dev/null

# path mode owner group
expect_stat() {
	local got
	got=$(stat -c '%a %U %G' "$1" 2>/dev/null) || fail "$1 missing"
	[ "$got" = "$2 $3 $4" ] || fail "$1: mode/owner/group $got, want $2 $3 $4"
	ok
}
for b in triad triadctl triad-lbagent; do expect_stat /usr/bin/$b 755 root root; done
expect_stat /etc/triad 750 root triad
expect_stat /etc/triad/triad.yaml 640 root triad
expect_stat /etc/triad/lbagent.yaml 640 root triad
expect_stat /var/lib/triad 750 triad triad
expect_stat /usr/lib/systemd/system/triad.service 644 root root
expect_stat /usr/lib/systemd/system/triad-lbagent.service 644 root root
expect_stat /usr/lib/systemd/system-generators/triad-generator 755 root root
for d in README.md architecture.md operations.md guarantees.md configuration.md dynsec.md lbagent.md cluster-modes.md \
	examples/haproxy.cfg examples/haproxy-dynsec.cfg examples/grafana-dashboard.json; do
	expect_stat /usr/share/doc/triad/$d 644 root root
done

IFS=: read -r _ _ uid _ _ home shell < <(getent passwd triad) || fail "no user triad"
[ "$uid" -lt 1000 ] || fail "triad is not a system user (uid $uid)"
[ "$home" = /var/lib/triad ] || fail "triad's home is $home"
[ "$shell" = /usr/sbin/nologin ] || fail "triad's shell is $shell"
getent group triad >/dev/null || fail "no group triad"
ok

conffiles=$(dpkg-query -W -f='${Conffiles}' triad)
for f in /etc/triad/triad.yaml /etc/triad/lbagent.yaml; do
	grep -q " $f " <<<"$conffiles" || fail "$f is not a conffile: $conffiles"
	ok
done

for b in triad triadctl triad-lbagent; do
	got=$(/usr/bin/$b version)
	[ "$got" = "$b $VERSION" ] || fail "$b version: \"$got\", want \"$b $VERSION\""
	ok
done

# The shipped configuration is valid and readable by the service's user.
runuser -u triad -- /usr/bin/triad check-config --config /etc/triad/triad.yaml >/dev/null ||
	fail "the packaged /etc/triad/triad.yaml does not pass check-config as user triad"
ok

# ExecStopPost revokes the node's leases after a crash, not after a clean
# stop: run its command line as systemd would (with the packaged standalone
# config triadctl finds nothing to revoke, without needing etcd).
stoppost=$(sed -n 's/^ExecStopPost=//p' /usr/lib/systemd/system/triad.service | sed 's/\$\$/$/g')
[ -n "$stoppost" ] || fail "triad.service has no ExecStopPost"
out=$(runuser -u triad -- env SERVICE_RESULT=success /bin/sh -c "$stoppost" 2>&1) || fail "ExecStopPost after a clean stop: $out"
[ -z "$out" ] || fail "ExecStopPost ran something after a clean stop: $out"
out=$(runuser -u triad -- env SERVICE_RESULT=signal /bin/sh -c "$stoppost" 2>&1) || fail "ExecStopPost after a crash: $out"
grep -q "nothing to revoke: /etc/triad/triad.yaml is a standalone node's configuration" <<<"$out" ||
	fail "ExecStopPost after a crash did not run triadctl revoke: $out"
ok

verify() {
	local out
	if ! out=$(systemd-analyze verify "$@" 2>&1); then
		fail "systemd-analyze verify $*: $out"
	fi
	# verify also reports problems of unrelated units on this machine:
	# only ours count.
	if grep -E 'triad' <<<"$out"; then
		fail "systemd-analyze verify $* warns about triad"
	fi
	ok
}
verify /usr/lib/systemd/system/triad.service /usr/lib/systemd/system/triad-lbagent.service

# The generator: nothing for the shipped config; CAP_NET_BIND_SERVICE and
# ReadWritePaths for one that needs them, and the unit still verifies.
gen=$(mktemp -d)
/usr/lib/systemd/system-generators/triad-generator "$gen" "$gen" "$gen"
[ -z "$(ls -A "$gen")" ] || fail "the generator wrote drop-ins for the shipped config: $(ls -R "$gen")"
ok
cfg=$gen/privileged.yaml
cat >"$cfg" <<'YAML'
node:
  name: n1
  data_dir: /srv/triad
mqtt:
  listeners:
    - type: tcp
      address: 0.0.0.0:883
YAML
/usr/bin/triad systemd-generator --config "$cfg" "$gen/out"
grep -qx 'AmbientCapabilities=CAP_NET_BIND_SERVICE' "$gen/out/triad.service.d/50-net-bind-service.conf" ||
	fail "no CAP_NET_BIND_SERVICE drop-in for port 883"
grep -qx 'ReadWritePaths=/srv/triad' "$gen/out/triad.service.d/50-writable-paths.conf" ||
	fail "no ReadWritePaths drop-in for /srv/triad"
ok
mkdir -p /etc/systemd/system/triad.service.d
cp "$gen"/out/triad.service.d/*.conf /etc/systemd/system/triad.service.d/
verify /usr/lib/systemd/system/triad.service
rm -rf /etc/systemd/system/triad.service.d "$gen"

# A reinstall (as an upgrade does) keeps an edited configuration.
echo "# edited by package-check" >>/etc/triad/triad.yaml
dpkg -i "$deb" >/dev/null
tail -1 /etc/triad/triad.yaml | grep -qx '# edited by package-check' || fail "reinstalling overwrote the edited /etc/triad/triad.yaml"
expect_stat /var/lib/triad 750 triad triad

echo "package-check: dpkg --purge triad"
dpkg --purge triad >/dev/null
for f in /usr/bin/triad /usr/bin/triadctl /usr/bin/triad-lbagent /etc/triad /var/lib/triad \
	/usr/lib/systemd/system/triad.service /usr/lib/systemd/system/triad-lbagent.service \
	/usr/lib/systemd/system-generators/triad-generator /usr/share/doc/triad; do
	[ ! -e "$f" ] || fail "$f left after purge"
done
! dpkg-query -W triad >/dev/null 2>&1 || dpkg-query -W -f='${Status}' triad | grep -q not-installed ||
	fail "dpkg still lists triad after purge"
ok

echo "package-check: rpm -qp $rpm"
info=$(rpm -qpi "$rpm" 2>/dev/null)
for want in "Name        : triad" "Version     : $PKG_VERSION" "Release     : 1" "Architecture: x86_64"; do
	grep -qF "$want" <<<"$info" || fail "rpm -qpi lacks \"$want\":
$info"
	ok
done
files=$(rpm -qpl "$rpm" 2>/dev/null)
for f in /usr/bin/triad /usr/bin/triadctl /usr/bin/triad-lbagent /etc/triad/triad.yaml /etc/triad/lbagent.yaml \
	/usr/lib/systemd/system/triad.service /usr/lib/systemd/system/triad-lbagent.service \
	/usr/lib/systemd/system-generators/triad-generator /usr/share/doc/triad/examples/haproxy.cfg \
	/usr/share/doc/triad/examples/haproxy-dynsec.cfg; do
	grep -qx "$f" <<<"$files" || fail "rpm -qpl lacks $f"
	ok
done
flags=$(rpm -qp --qf '[%{FILENAMES} %{FILEFLAGS:fflags}\n]' "$rpm" 2>/dev/null)
for f in /etc/triad/triad.yaml /etc/triad/lbagent.yaml; do
	grep -qx "$f cn" <<<"$flags" || fail "$f is not %config(noreplace) in the rpm: $(grep "$f" <<<"$flags")"
	ok
done
scripts=$(rpm -qp --scripts "$rpm" 2>/dev/null)
for s in preinstall postinstall preuninstall postuninstall; do
	grep -q "^$s scriptlet" <<<"$scripts" || fail "rpm has no $s scriptlet"
	ok
done
grep -q 'useradd --system' <<<"$scripts" || fail "the rpm's scripts do not create the triad user"
ok

echo "package-check: $checks checks passed ($deb, $rpm)"
