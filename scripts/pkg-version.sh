#!/bin/sh
# The packages' version, made from `git describe --tags --always --dirty`
# (which `triad version` shows as it is) so that dpkg and rpm order it:
#   v1.2.3               -> 1.2.3
#   v1.2.3-rc1           -> 1.2.3~rc1           (before 1.2.3)
#   v1.2.3-4-gabc1234    -> 1.2.3+4.gabc1234    (after 1.2.3)
#   abc1234 (no tag yet) -> 0.0.0+git<commits>.gabc1234
#   ...-dirty            -> ....dirty
set -eu
d=$(git describe --tags --always --dirty 2>/dev/null) || { echo "0.0.0+unknown"; exit 0; }
dirty=
case "$d" in *-dirty) dirty=.dirty; d=${d%-dirty} ;; esac
case "$d" in
v[0-9]*.* | [0-9]*.*) # a version tag (a bare commit hash has no dot)
	d=${d#v}
	post=
	if printf '%s\n' "$d" | grep -Eq -- '-[0-9]+-g[0-9a-f]+$'; then
		post=$(printf '%s\n' "$d" | sed -E 's/^.*-([0-9]+)-(g[0-9a-f]+)$/+\1.\2/')
		d=$(printf '%s\n' "$d" | sed -E 's/-[0-9]+-g[0-9a-f]+$//')
	fi
	printf '%s%s%s\n' "$(printf '%s' "$d" | tr - '~')" "$post" "$dirty"
	;;
*)
	printf '0.0.0+git%s.g%s%s\n' "$(git rev-list --count HEAD)" "$d" "$dirty"
	;;
esac
