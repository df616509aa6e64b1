package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vectis/mfa-gateway/internal/directory"
	"github.com/vectis/mfa-gateway/internal/session"
	"github.com/vectis/mfa-gateway/internal/store"
)

// operatorsPerTenant spreads the preloaded operators over workspaces the way an MSP SaaS has them.
const operatorsPerTenant = 100

// preloadSpec is the large store of the scale scenarios.
type preloadSpec struct {
	operators, sessions int
	// benchSeed holds the one operator the bench signs in as (imported the way a seed file is).
	benchSeed []byte
	// cookieFile receives one "vectis_session=<token>" line per live session written.
	cookieFile string
	// workers writing at once (Redis pipelines well; bolt has one writer anyway).
	workers int
}

// preload fills st through the same store API the gateway uses: the bench operator from the seed, then
// spec.operators operators in tenants of operatorsPerTenant, and spec.sessions active sessions, one for each
// of the first operators, whose cookies go to spec.cookieFile. All operators share one argon2id hash (they
// are never signed in; hashing 100,000 passwords would take minutes and measure nothing).
func preload(ctx context.Context, st store.Store, spec preloadSpec, now time.Time) error {
	h := directory.NewHasher(0)
	seed, err := directory.ParseSeed(spec.benchSeed)
	if err != nil {
		return fmt.Errorf("bench seed: %w", err)
	}
	if _, err := directory.Import(ctx, st, seed, h, rand.Reader, nil, now); err != nil {
		return fmt.Errorf("importing the bench operator: %w", err)
	}
	hash, err := h.Hash(ctx, rand.Reader, "preloaded operators never sign in")
	if err != nil {
		return err
	}
	tenants := (spec.operators + operatorsPerTenant - 1) / operatorsPerTenant
	for t := 0; t < tenants; t++ {
		id := tenantID(t)
		if err := st.PutTenant(ctx, directory.Tenant{ID: id, Name: "Scale MSP " + id, BillingEmail: "billing@" + id + ".example", CreatedAt: now}); err != nil {
			return fmt.Errorf("tenant %s: %w", id, err)
		}
	}

	var cookies []string
	var cmu sync.Mutex
	var next atomic.Int64
	errc := make(chan error, spec.workers)
	var wg sync.WaitGroup
	for range max(1, spec.workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= spec.operators || ctx.Err() != nil {
					return
				}
				tenant := tenantID(i / operatorsPerTenant)
				role := directory.RoleMember
				if i%operatorsPerTenant == 0 {
					role = directory.RoleAdmin
				}
				op := directory.Operator{ID: fmt.Sprintf("op_scale%012d", i), TenantID: tenant,
					Email: fmt.Sprintf("operator%d@%s.example", i, tenant), Role: role, PasswordHash: hash, CreatedAt: now}
				if err := st.CreateOperator(ctx, op); err != nil {
					errc <- fmt.Errorf("operator %d: %w", i, err)
					return
				}
				if i >= spec.sessions {
					continue
				}
				tok, id, err := newCookie(tenant)
				if err != nil {
					errc <- err
					return
				}
				s := session.Session{TenantID: tenant, UserID: op.ID, Email: op.Email, Role: string(role),
					State: session.StateActive, Auth: "password+totp", CreatedAt: now, LastSeen: now,
					ExpiresAt: now.Add(12 * time.Hour), MFAAt: now}
				if err := st.CreateSession(ctx, id[:], s); err != nil {
					errc <- fmt.Errorf("session %d: %w", i, err)
					return
				}
				cmu.Lock()
				cookies = append(cookies, "vectis_session="+tok)
				cmu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	return os.WriteFile(spec.cookieFile, []byte(strings.Join(cookies, "\n")+"\n"), 0o600)
}

func tenantID(t int) string { return fmt.Sprintf("scale-%05d", t) }

// newCookie makes a session cookie value the way the gateway does ("<tenant>.<43 base64url chars>") and its
// store id, the SHA-256 of the whole value.
func newCookie(tenant string) (string, [32]byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", [32]byte{}, err
	}
	v := tenant + "." + base64.RawURLEncoding.EncodeToString(b)
	return v, sha256.Sum256([]byte(v)), nil
}
