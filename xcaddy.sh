#!/bin/sh
# Builds Caddy with the Vectis MFA gateway through xcaddy, at pinned versions, for operators who
# already build their Caddy that way. `go build ./cmd/vectis-gateway` gives the same binary
# without xcaddy.
#
# Usage: ./xcaddy.sh [output]   (default output: ./caddy)
set -eu

XCADDY_VERSION=v0.4.5
CADDY_VERSION=v2.11.9
# xcaddy refuses a plain "module=." replacement; a module path pinned at the zero pseudo-version,
# replaced by this checkout, is accepted.
MODULE=github.com/vectis/mfa-gateway@v0.0.0-00010101000000-000000000000

cd "$(dirname "$0")"
out=${1:-./caddy}
case $out in
/*) ;;
*) out=$(pwd)/$out ;;
esac

exec go run "github.com/caddyserver/xcaddy/cmd/xcaddy@${XCADDY_VERSION}" build "${CADDY_VERSION}" \
	--with "${MODULE}=$(pwd)" \
	--output "$out"
