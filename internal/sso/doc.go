// Package sso is the OpenID Connect relying party: per-tenant provider settings, lazy cached discovery,
// the authorization-code flow with PKCE, and the checks on the IdP's answer that go-oidc leaves to its caller.
package sso
