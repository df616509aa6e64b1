// Command vectis-gateway is Caddy with the standard modules and the Vectis MFA gateway built in,
// so a plain `go build` gives a working binary without xcaddy.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/vectis/mfa-gateway/caddymodule"
)

func main() {
	caddycmd.Main()
}
