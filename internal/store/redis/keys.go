package redis

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/vectis/mfa-gateway/internal/directory"
)

const prefix = "vectis:"

// tagEscaper keeps a tenant id (or lockout tag) inside its hash tag: Redis hashes only the text between
// the first "{" and the next "}", so a "}" in an id would end the tag early and a "{" could start a
// different one. "%" is escaped too, so that two different ids never escape to the same text.
var tagEscaper = strings.NewReplacer("%", "%25", "{", "%7B", "}", "%7D")

// tagged is the common start of every key under one hash tag: "vectis:{<tag>}:".
func tagged(tag string) string { return prefix + "{" + tagEscaper.Replace(tag) + "}:" }

func tenantKey(tenant string) string          { return tagged(tenant) + "tenant" }
func operatorKey(tenant, id string) string    { return tagged(tenant) + "op:" + id }
func operatorSetKey(tenant string) string     { return tagged(tenant) + "ops" }
func sessionPrefix(tenant string) string      { return tagged(tenant) + "sess:" }
func sessionIndexPrefix(tenant string) string { return tagged(tenant) + "usess:" }
func credKey(tenant, user string) string      { return tagged(tenant) + "cred:" + user }
func recoveryKey(tenant, user string) string  { return tagged(tenant) + "rc:" + user }
func lockKey(tag, key string) string          { return tagged(tag) + "lock:" + key }
func onceKey(tag, key string) string          { return tagged(tag) + "once:" + key }
func ssoKeyPrefix(tenant string) string       { return tagged(tenant) + "ssokey:" }
func tenantsKey() string                      { return tagged("meta") + "tenants" }
func metaKey(name string) string              { return tagged("meta") + "meta:" + name }

func sessionKey(tenant string, id []byte) string {
	return sessionPrefix(tenant) + hex.EncodeToString(id)
}

func sessionIndexKey(tenant, user string) string { return sessionIndexPrefix(tenant) + user }

// emailKey spreads the email index over the cluster by a short hash of the normalized email; the key
// still holds the email itself, so two emails with the same 8 hex digits stay apart.
func emailKey(email string) string {
	email = directory.NormalizeEmail(email)
	sum := sha256.Sum256([]byte(email))
	return prefix + "{e:" + hex.EncodeToString(sum[:4]) + "}:email:" + email
}
