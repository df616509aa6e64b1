#!/bin/sh
# Builds Caddy with the Vectis MFA gateway through xcaddy, at pinned versions, for operators who
# already build their Caddy that way. `go build ./cmd/vectis-gateway` gives the same binary
# without xcaddy.
#
# Usage: ./xcaddy.sh [output]   (default output: ./caddy)
set -eu

XCADDY_VERSION=v0.4.5
CADDY_VERSION=v2.11.9
MODULE=github.com/vectis/mfa-gateway
PLUGIN=$MODULE/caddymodule
# xcaddy refuses a plain "module=." replacement; the module pinned at the zero pseudo-version and
# replaced by this checkout is accepted.
ZERO=v0.0.0-00010101000000-000000000000

cd "$(dirname "$0")"
out=${1:-./caddy}
case $out in
/*) ;;
*) out=$(pwd)/$out ;;
esac

# The module root holds no Go package, so the replacement goes on the module (--replace) and the
# blank import on the package that registers the handler (--with). To find the module behind
# "$PLUGIN@$ZERO", Go asks the module proxy about every prefix of that path, "$PLUGIN" itself
# included; a proxy that answers anything but "not found" for it (some answer 403) stops the
# build, and a "direct" fallback would try to clone a repository that need not exist. So the
# proxy is told to skip that one path (a "not found" Go accepts), and "direct" is left out of
# this build; Caddy and its dependencies all come from the proxy.
proxies=$(go env GOPROXY | tr ',|' '\n\n' | grep -v -x -e direct -e off -e '' | paste -sd, - || true)
if [ -z "$proxies" ]; then
	echo "xcaddy.sh: GOPROXY ($(go env GOPROXY)) names no module proxy; build with: go build ./cmd/vectis-gateway" >&2
	exit 1
fi
noproxy=$(go env GONOPROXY)
GOPROXY=$proxies GONOPROXY=${noproxy:+$noproxy,}$PLUGIN
export GOPROXY GONOPROXY

exec go run "github.com/caddyserver/xcaddy/cmd/xcaddy@${XCADDY_VERSION}" build "${CADDY_VERSION}" \
	--replace "${MODULE}@${ZERO}=$(pwd)" \
	--with "${PLUGIN}@${ZERO}" \
	--output "$out"
