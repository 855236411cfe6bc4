#!/bin/sh
# Mutation testing (make mutate): gremlins over the packages that guard data and PID 1, one
# package at a time, then one table (package | efficacy | killed | lived | not covered | timed
# out) and the list of the mutants that lived. Not in CI: it takes minutes per package.
#
#   MUTATE_PKGS     packages to measure (default: all of them, the small critical ones first)
#   MUTATE_FILES    for the per-file packages, only these files (e.g. "files.go ebs.go")
#   MUTATE_WORKERS  gremlins workers (default 1: each worker builds and tests a mutant)
#
# stage2 and stage2/supervise are measured one file at a time: each mutant runs the whole
# package's tests (moto and PID 1 namespace tests included: nothing is left out), so a whole
# pass takes long; per file, a run stays a few minutes and can be repeated for the file a
# change touches (MUTATE_PKGS=stage2 MUTATE_FILES=rootgrow.go). The results of every file
# run are kept under .cache/mutate and summed in the table.
set -eu
cd "$(dirname "$0")/.."
GO=${GO:-go}
GREMLINS_VERSION=${GREMLINS_VERSION:-v0.6.0}
MUTATE_PKGS=${MUTATE_PKGS:-internal/fsprobe internal/gpt internal/reaper internal/imds internal/kmod internal/netconf internal/mustache plan stage1 stage2 stage2/supervise}
MUTATE_WORKERS=${MUTATE_WORKERS:-1}
MUTATE_FILES=${MUTATE_FILES:-}
OUT=.cache/mutate
mkdir -p "$OUT"

GREMLINS="$($GO env GOPATH)/bin/gremlins"
# (go install builds report version "dev": the module version is in the build info)
if ! $GO version -m "$GREMLINS" 2>/dev/null | grep -q "^[[:space:]]*mod[[:space:]].*gremlins[[:space:]]*$GREMLINS_VERSION[[:space:]]"; then
	echo "mutate: installing gremlins $GREMLINS_VERSION"
	$GO install "github.com/go-gremlins/gremlins/cmd/gremlins@$GREMLINS_VERSION"
fi

# run NAME PKG [GREMLINS ARGS...]: one gremlins pass, its JSON in $OUT/NAME.json.
run() {
	name=$1 pkg=$2
	shift 2
	echo "mutate: $name"
	rm -f "$OUT/$name.json"
	if ! "$GREMLINS" unleash --workers "$MUTATE_WORKERS" --timeout-coefficient 3 \
		-o "$OUT/$name.json" "$@" "./$pkg" >"$OUT/$name.log" 2>&1; then
		echo "mutate: gremlins failed on $pkg (see $OUT/$name.log)"
		tail -5 "$OUT/$name.log"
		exit 1
	fi
	grep -E 'LIVED|TIMED OUT' "$OUT/$name.log" | sed 's/^/    /' || true
}

results=""
for pkg in $MUTATE_PKGS; do
	base=$(echo "$pkg" | tr / +)
	case $pkg in
	stage2 | stage2/supervise)
		files=$MUTATE_FILES
		[ -n "$files" ] || files=$(cd "$pkg" && ls *.go | grep -v '_test\.go$')
		for f in $files; do
			[ -f "$pkg/$f" ] || continue
			# Mutate $f only: every other file of the directory tree is excluded.
			excl=$(cd "$pkg" && find . -name '*.go' ! -name '*_test.go' | sed 's|^\./||' | grep -vx "$f" |
				sed 's/[.]/[.]/g; s/^/-E ^/; s/$/$/' | tr '\n' ' ')
			# shellcheck disable=SC2086 # one -E per excluded file
			run "$base--${f%.go}" "$pkg" $excl
		done
		results="$results $OUT/$base--*.json"
		;;
	*)
		# The subpackages (if any) are measured on their own.
		excl=$(cd "$pkg" && find . -mindepth 2 -name '*.go' | sed 's|^\./||; s|/.*||' | sort -u | sed 's|^|-E ^|; s|$|/|' | tr '\n' ' ')
		# shellcheck disable=SC2086
		run "$base" "$pkg" $excl
		results="$results $OUT/$base.json"
		;;
	esac
done
# shellcheck disable=SC2086 # globs of result files
$GO run ./tests/cmd/mutatetable $results
