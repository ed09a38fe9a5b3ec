#!/usr/bin/env bash
# Builds the live dashboard (dashboard/, issue 18) into dashboard/dist, idempotently: installs the
# pinned npm dependencies (package-lock.json) only when they changed, then bundles the page with
# esbuild. `ank-controller --dashboard-listen` and `ank-broker --dashboard-listen` serve the
# result; docs/dashboard.md says how.
#
# Usage: scripts/dashboard.sh          (Node 18 or later and npm on PATH)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir="$root/dashboard"
log() { printf 'dashboard: %s\n' "$*" >&2; }
die() { printf 'dashboard: error: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null || die "node is missing (Debian package nodejs)"
command -v npm >/dev/null || die "npm is missing (Debian package npm)"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 18 ] || die "node $major is too old: the dashboard's build needs 18 or later"

# npm ci wipes node_modules, so run it only when the lock file differs from what was installed.
stamp="$dir/node_modules/.ank-lock"
if ! cmp -s "$dir/package-lock.json" "$stamp" 2>/dev/null; then
  log "installing the pinned dependencies (npm ci)"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed in $dir"
  cp "$dir/package-lock.json" "$stamp"
fi
(cd "$dir" && node build.mjs) || die "the build failed (node build.mjs in $dir)"
[ -s "$dir/dist/index.html" ] && [ -s "$dir/dist/app.js" ] || die "the build wrote no dashboard/dist/index.html and app.js"
log "built $dir/dist ($(du -sh "$dir/dist" | cut -f1))"
