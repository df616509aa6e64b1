package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// upstreamBody is the fixed response: small and static, so the upstream costs the same in every scenario
// and the figures compare what sits in front of it.
var upstreamBody = []byte("vectis-bench upstream: ok\n" + strings.Repeat("x", 100) + "\n")

// countPath answers the request counts. It is asked on the upstream's own port, never through a proxy.
const countPath = "/__bench/count"

// counts is what the upstream saw: every request, and those that arrived carrying an identity that one of
// the front ends vouched for. The bench compares them with wrk's own count, so a front end that answered
// without reaching the upstream (a redirect to a login page, say) cannot pass for a fast one.
type counts struct {
	Total      int64 `json:"total"`
	Identified int64 `json:"identified"`
}

// identityHeaders are the headers each front end sets for a signed-in user: the gateway's, oauth2-proxy's
// (pass_user_headers), and the ones Caddy's forward_auth copies from oauth2-proxy's auth answer.
var identityHeaders = []string{"X-Vectis-User-Id", "X-Forwarded-Email", "X-Auth-Request-Email"}

func upstreamMain(args []string) int {
	fs := flag.NewFlagSet("upstream", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		return 1
	}
	var total, identified atomic.Int64
	length := strconv.Itoa(len(upstreamBody))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == countPath {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(counts{Total: total.Load(), Identified: identified.Load()})
			return
		}
		total.Add(1)
		for _, name := range identityHeaders {
			if r.Header.Get(name) != "" {
				identified.Add(1)
				break
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Length", length)
		_, _ = w.Write(upstreamBody)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Println(ln.Addr().String()) // the parent reads the address from the first line
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		return 1
	}
	return 0
}
