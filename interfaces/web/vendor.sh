#!/bin/sh
# Vendors the web apps' browser libraries from the npm registry, at pinned versions, with their licences:
# htmx (the apps' interactions) and axe-core (the accessibility checker the browser tests inject).
# Run from anywhere: `sh interfaces/web/vendor.sh`; commit what it writes under interfaces/web/static/vendor/.
set -eu
HTMX=2.0.4
AXE=4.10.2
here=$(cd "$(dirname "$0")" && pwd)
out="$here/static/vendor"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "htmx.org@$HTMX" "axe-core@$AXE" >/dev/null
tar -xzf "htmx.org-$HTMX.tgz" && mv package htmx
tar -xzf "axe-core-$AXE.tgz" && mv package axe
mkdir -p "$out"
cp htmx/dist/htmx.min.js "$out/htmx.min.js"
cp htmx/LICENSE "$out/htmx.LICENSE"
cp axe/axe.min.js "$out/axe.min.js"
cp axe/LICENSE "$out/axe-core.LICENSE"
printf 'htmx.org %s\naxe-core %s\n' "$HTMX" "$AXE" > "$out/VERSIONS"
