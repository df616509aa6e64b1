// Package mfagateway is the Vectis MFA gateway as a Caddy plugin. Importing it registers the
// http.handlers.vectis_mfa handler (Caddyfile directive vectis_mfa), the admin.api.vectis admin
// API module and the `vectis` CLI subcommands, so a custom Caddy builds with
//
//	xcaddy build --with github.com/vectis/mfa-gateway
//
// The code lives in package caddymodule (the Caddy adapter) and under internal/; this package only
// gives the module root something to import.
package mfagateway

import (
	// Registers the gateway's Caddy modules and commands.
	_ "github.com/vectis/mfa-gateway/caddymodule"
)
