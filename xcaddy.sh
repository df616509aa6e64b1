#!/bin/sh
# Builds Caddy with the Vectis MFA gateway through xcaddy, at pinned versions, for operators who
# already build their Caddy that way. `go build ./cmd/vectis-gateway` gives the same binary
# without xcaddy.
#
# From a published module this is plain `xcaddy build v2.11.9 --with github.com/vectis/mfa-gateway`:
# the module's root package registers the gateway. Here the module is this checkout, so it is named at
# the zero pseudo-version and replaced by this directory; Go then asks no module proxy about it (a
# replaced module without a version would be looked up as "latest" first).
#
# Usage: ./xcaddy.sh [output]   (default output: ./caddy)
set -eu

XCADDY_VERSION=v0.4.5
CADDY_VERSION=v2.11.9
MODULE=github.com/vectis/mfa-gateway
ZERO=v0.0.0-00010101000000-000000000000

cd "$(dirname "$0")"
out=${1:-./caddy}
case $out in
/*) ;;
*) out=$(pwd)/$out ;;
esac

exec go run "github.com/caddyserver/xcaddy/cmd/xcaddy@${XCADDY_VERSION}" build "${CADDY_VERSION}" \
	--with "${MODULE}@${ZERO}=$(pwd)" \
	--output "$out"
