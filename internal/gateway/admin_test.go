package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

func opID(t *testing.T, e *env, email string) string {
	t.Helper()
	op, err := e.st.OperatorByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return op.ID
}

func TestAdminResetKillsSessionsAndForcesEnrollment(t *testing.T) {
	e := newEnv(t)
	adm := e.browser()
	adm.enroll("admin@acme.example", "correct horse battery", "/")
	member := e.browser()
	_, codes := member.enroll("tech@acme.example", "tech password 1", "/")
	// The member also has a half-finished sign-in in another browser.
	e.clk.Add(31 * time.Second)
	half := e.browser()
	if r := half.post("/.vectis/login", url.Values{"email": {"tech@acme.example"}, "password": {"tech password 1"}}); r.loc != "/.vectis/mfa" {
		t.Fatalf("half sign-in %d %q", r.status, r.loc)
	}
	page := adm.do("GET", "/.vectis/admin/users", nil)
	if page.status != http.StatusOK || !strings.Contains(page.body, "tech@acme.example") || strings.Contains(page.body, "beta.example") {
		t.Fatalf("admin users page %d", page.status)
	}
	tech := opID(t, e, "tech@acme.example")
	// The first POST asks for confirmation; nothing changes yet.
	csrf := hiddenRE.FindStringSubmatch(page.body)[2]
	r := adm.do("POST", "/.vectis/admin/users/reset-mfa", url.Values{"csrf": {csrf}, "user": {tech}})
	if r.status != http.StatusOK || !strings.Contains(r.body, "Reset two-factor authentication?") {
		t.Fatalf("confirm step %d", r.status)
	}
	if _, err := e.st.GetCredentials(context.Background(), "acme", tech); err != nil {
		t.Fatal("reset happened before confirmation")
	}
	r = adm.do("POST", "/.vectis/admin/users/reset-mfa", url.Values{"csrf": {csrf}, "user": {tech}, "confirm": {"yes"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("reset %d %.200s", r.status, r.body)
	}
	if r := member.do("GET", "/x", nil); r.status != http.StatusSeeOther {
		t.Fatalf("member's session survived the reset: %d", r.status)
	}
	if r := half.post("/.vectis/mfa/recovery", url.Values{"code": {codes[0]}}); r.status == http.StatusOK {
		t.Fatal("half-finished sign-in survived the reset / old recovery code worked")
	}
	events, err := e.st.ListAudit(context.Background(), "acme", 50)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range events {
		if ev.Type == "mfa.reset" && ev.User == tech && ev.Actor == "admin:admin@acme.example" {
			found = true
		}
		for _, c := range codes {
			if strings.Contains(fmt.Sprint(ev), c) {
				t.Fatal("a recovery code is in the audit trail")
			}
		}
	}
	if !found {
		t.Fatalf("no audited reset in %+v", events)
	}
	if page := adm.do("GET", "/.vectis/admin/users", nil); !strings.Contains(page.body, "Two-factor reset") {
		t.Fatal("admin page does not show the reset event")
	}
	fresh := e.browser()
	if r := fresh.post("/.vectis/login", url.Values{"email": {"tech@acme.example"}, "password": {"tech password 1"}}); r.loc != "/.vectis/enroll" {
		t.Fatalf("next sign-in after reset: %d %q", r.status, r.loc)
	}
}

func TestAdminCannotActOnAnotherTenant(t *testing.T) {
	e := newEnv(t)
	other := e.browser()
	_, _ = other.enroll("ops@beta.example", "beta password 1", "/")
	beta := opID(t, e, "ops@beta.example")
	adm := e.browser()
	adm.enroll("admin@acme.example", "correct horse battery", "/")
	page := adm.do("GET", "/.vectis/admin/users", nil)
	if strings.Contains(page.body, "beta.example") || strings.Contains(page.body, beta) {
		t.Fatal("another tenant's operator is listed")
	}
	csrf := hiddenRE.FindStringSubmatch(page.body)[2]
	for _, action := range []string{"reset-mfa", "unlock"} {
		r := adm.do("POST", "/.vectis/admin/users/"+action, url.Values{"csrf": {csrf}, "user": {beta}, "confirm": {"yes"}})
		if r.status != http.StatusForbidden {
			t.Fatalf("%s on another tenant: %d", action, r.status)
		}
	}
	if _, err := e.st.GetCredentials(context.Background(), "beta", beta); err != nil {
		t.Fatal("another tenant's operator was reset")
	}
	if r := other.do("GET", "/x", nil); r.status != http.StatusOK {
		t.Fatal("another tenant's session was ended")
	}
	// A member is not an admin.
	m := e.browser()
	m.enroll("tech@acme.example", "tech password 1", "/")
	if r := m.do("GET", "/.vectis/admin/users", nil); r.status != http.StatusForbidden {
		t.Fatalf("member on admin page: %d", r.status)
	}
}

func TestAdminActionNeedsRecentMFAAndUnlockWorks(t *testing.T) {
	e := newEnv(t)
	adm := e.browser()
	secret, _ := adm.enroll("admin@acme.example", "correct horse battery", "/")
	tech := e.browser()
	tech.enroll("tech@acme.example", "tech password 1", "/")
	techID := opID(t, e, "tech@acme.example")
	for i := 0; i < 5; i++ {
		b := e.browser()
		b.post("/.vectis/login", url.Values{"email": {"tech@acme.example"}, "password": {"tech password 1"}})
		b.post("/.vectis/mfa", url.Values{"code": {"000000"}})
	}
	page := adm.do("GET", "/.vectis/admin/users", nil)
	if !regexp.MustCompile(`data-locked>locked until`).MatchString(page.body) {
		t.Fatal("lock not shown on admin page")
	}
	e.clk.Add(16 * time.Minute) // MFA is now stale, but the lock window (15 min from the first failure) ended too
	for i := 0; i < 5; i++ {
		b := e.browser()
		b.post("/.vectis/login", url.Values{"email": {"tech@acme.example"}, "password": {"tech password 1"}})
		b.post("/.vectis/mfa", url.Values{"code": {"000000"}})
	}
	csrf := hiddenRE.FindStringSubmatch(adm.do("GET", "/.vectis/admin/users", nil).body)[2]
	r := adm.do("POST", "/.vectis/admin/users/unlock", url.Values{"csrf": {csrf}, "user": {techID}})
	if r.status != http.StatusOK || !strings.Contains(r.body, "Confirm it") {
		t.Fatalf("stale MFA: %d", r.status)
	}
	r = adm.do("POST", "/.vectis/admin/users/unlock", url.Values{"csrf": {csrf}, "user": {techID}, "code": {e.code(secret, 0)}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("reverify: %d", r.status)
	}
	r = adm.do("POST", "/.vectis/admin/users/unlock", url.Values{"csrf": {csrf}, "user": {techID}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("unlock: %d %.300s", r.status, r.body)
	}
	v, _ := e.st.Status(context.Background(), "acme", lockKey(techID), e.clk.Now())
	if v.Count != 0 {
		t.Fatalf("still locked: %+v", v)
	}
}
