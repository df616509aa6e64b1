package gateway

import (
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/vectis/mfa-gateway/config"
)

// The audit webhook receiver is down while operators sign in: sign-ins proceed at normal speed, and the events
// arrive, in order, once the receiver is back.
func TestWebhookDownNeverBlocksSignIns(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // down: connections are refused
	e := newEnv(t, func(c *config.Config) { c.AuditWebhook = "http://" + addr + "/hook" })
	b := e.browser()
	start := time.Now()
	b.enroll("admin@acme.example", "correct horse battery", "/")
	if r := b.do("GET", "/x", nil); r.status != http.StatusOK {
		t.Fatalf("sign-in with the webhook down: %d", r.status)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("sign-in took %s with the webhook down", d)
	}
	var mu sync.Mutex
	var got []string
	l, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("could not take the receiver's port back: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			Type string `json:"type"`
		}
		_ = json.NewDecoder(r.Body).Decode(&ev)
		mu.Lock()
		got = append(got, ev.Type)
		mu.Unlock()
	})}
	go srv.Serve(l)
	defer srv.Close()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 2 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) < 2 || got[0] != "enroll" || got[1] != "signin.success" {
		t.Fatalf("webhook events after the receiver came back: %v", got)
	}
}
