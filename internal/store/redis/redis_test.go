package redis

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/vectis/mfa-gateway/internal/directory"
	"github.com/vectis/mfa-gateway/internal/lockout"
	"github.com/vectis/mfa-gateway/internal/session"
	"github.com/vectis/mfa-gateway/internal/store"
	"github.com/vectis/mfa-gateway/internal/store/redis/redistest"
	"github.com/vectis/mfa-gateway/internal/store/storetest"
)

// flush empties every database the store's client writes to (each master of a cluster).
func flush(t testing.TB, s *Store) {
	t.Helper()
	ctx := context.Background()
	var err error
	if cc, ok := s.c.(*goredis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, n *goredis.Client) error { return n.FlushDB(ctx).Err() })
	} else {
		err = s.c.FlushDB(ctx).Err()
	}
	if err != nil {
		t.Fatalf("flush: %v", err)
	}
}

func openFresh(t testing.TB, url string) *Store {
	t.Helper()
	s, err := Open(url, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	flush(t, s)
	return s
}

func TestConformance(t *testing.T) {
	srv := redistest.Start(t)
	storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t, srv.URL()) })
}

// The cluster run proves the key layout: a script or multi-key command whose keys hash to different
// slots fails there with CROSSSLOT, where a single server would not notice.
func TestConformanceCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t, c.URL()) })
}

func TestConformanceSentinel(t *testing.T) {
	master := redistest.Start(t)
	sentinel := redistest.StartSentinel(t, master, "vectis")
	storetest.Run(t, func(t *testing.T) store.Store {
		return openFresh(t, "redis+sentinel://"+sentinel.Addr()+"/vectis/2")
	})
	// The data went to the master's database 2, found through the sentinel.
	c := goredis.NewClient(&goredis.Options{Addr: master.Addr(), DB: 2})
	defer c.Close()
	if err := c.Set(context.Background(), "probe", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// go-redis's own log lines (here: the master it found) go to the Logger given to Open.
	var logs lockedBuffer
	s, err := Open("redis+sentinel://"+sentinel.Addr()+"/vectis/2", Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.c.Get(context.Background(), "probe").Result(); err != nil || v != "1" {
		t.Fatalf("sentinel client reads %q, %v from master db 2; want 1", v, err)
	}
	if got := logs.String(); !strings.Contains(got, "component=go-redis") || !strings.Contains(got, master.Addr()) {
		t.Fatalf("go-redis log lines did not reach the Logger: %q", got)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

const password = "p@ss/w?rd#1%" // every character that breaks naive URL handling

func TestParseURL(t *testing.T) {
	esc := url.QueryEscape(password) // what a careful operator writes
	rows := []struct {
		name      string
		url       string
		mode      mode
		addrs     []string
		db        int
		user      string
		pass      string
		tls       bool
		master    string
		sentinelP string
		check     func(t *testing.T, c *clientConfig)
	}{
		{name: "plain", url: "redis://127.0.0.1:6379/0", addrs: []string{"127.0.0.1:6379"}},
		{name: "default port and db", url: "redis://cache.internal", addrs: []string{"cache.internal:6379"}},
		{name: "db number", url: "redis://h:7000/5", addrs: []string{"h:7000"}, db: 5},
		{name: "user and escaped password", url: "redis://gw:" + esc + "@h:6379/1", addrs: []string{"h:6379"}, db: 1, user: "gw", pass: password},
		{name: "unescaped password up to the last @", url: "redis://gw:" + strings.ReplaceAll(password, "%", "%25") + "@h:6379/1",
			addrs: []string{"h:6379"}, db: 1, user: "gw", pass: password},
		{name: "password only", url: "redis://:" + esc + "@h", addrs: []string{"h:6379"}, pass: password},
		{name: "tls", url: "rediss://h:6380/0", addrs: []string{"h:6380"}, tls: true},
		{name: "ipv6", url: "redis://[::1]:6379/0", addrs: []string{"[::1]:6379"}},
		{name: "ipv6 default port", url: "redis://[::1]", addrs: []string{"[::1]:6379"}},
		{name: "go-redis query options pass through", url: "redis://h/0?client_name=gw&max_retries=4", addrs: []string{"h:6379"},
			check: func(t *testing.T, c *clientConfig) {
				if c.simple.ClientName != "gw" || c.simple.MaxRetries != 4 {
					t.Fatalf("options = %q, %d", c.simple.ClientName, c.simple.MaxRetries)
				}
			}},
		{name: "scheme is case-insensitive", url: "REDIS://h", addrs: []string{"h:6379"}},
		{name: "sentinel", url: "redis+sentinel://gw:" + esc + "@s1:26379,s2:26380,s3/mymaster/3", mode: sentinel,
			addrs: []string{"s1:26379", "s2:26380", "s3:26379"}, db: 3, user: "gw", pass: password, master: "mymaster"},
		{name: "sentinel own password", url: "redis+sentinel://s1/m?sentinel_password=" + esc, mode: sentinel,
			addrs: []string{"s1:26379"}, master: "m", sentinelP: password},
		{name: "sentinel tls", url: "rediss+sentinel://s1/m", mode: sentinel, addrs: []string{"s1:26379"}, master: "m", tls: true},
		{name: "cluster", url: "redis+cluster://gw:" + esc + "@n1:7000,n2:7001,n3", mode: cluster,
			addrs: []string{"n1:7000", "n2:7001", "n3:6379"}, user: "gw", pass: password},
		{name: "cluster trailing slash", url: "rediss+cluster://n1:7000/", mode: cluster, addrs: []string{"n1:7000"}, tls: true},
		{name: "cluster options", url: "redis+cluster://n1?max_redirects=5", mode: cluster, addrs: []string{"n1:6379"},
			check: func(t *testing.T, c *clientConfig) {
				if c.cluster.MaxRedirects != 5 {
					t.Fatalf("MaxRedirects = %d", c.cluster.MaxRedirects)
				}
			}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			c, err := parseURL(r.url)
			if err != nil {
				t.Fatalf("parseURL: %v", err)
			}
			if c.mode != r.mode {
				t.Fatalf("mode = %d, want %d", c.mode, r.mode)
			}
			var addrs []string
			var db int
			var user, pass, master, sentinelP string
			var tls bool
			switch c.mode {
			case standalone:
				addrs, db, user, pass, tls = []string{c.simple.Addr}, c.simple.DB, c.simple.Username, c.simple.Password, c.simple.TLSConfig != nil
			case sentinel:
				o := c.failover
				addrs, db, user, pass, tls, master, sentinelP = o.SentinelAddrs, o.DB, o.Username, o.Password, o.TLSConfig != nil, o.MasterName, o.SentinelPassword
			case cluster:
				addrs, user, pass, tls = c.cluster.Addrs, c.cluster.Username, c.cluster.Password, c.cluster.TLSConfig != nil
			}
			if !slices.Equal(addrs, r.addrs) || db != r.db || user != r.user || pass != r.pass || tls != r.tls || master != r.master || sentinelP != r.sentinelP {
				t.Fatalf("got addrs %v db %d user %q pass %q tls %v master %q sentinel pass %q\nwant addrs %v db %d user %q pass %q tls %v master %q sentinel pass %q",
					addrs, db, user, pass, tls, master, sentinelP, r.addrs, r.db, r.user, r.pass, r.tls, r.master, r.sentinelP)
			}
			if r.check != nil {
				r.check(t, c)
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	const secret = "Sup3rS3cret"
	rows := []struct {
		name, url, want string
	}{
		{"no scheme", "127.0.0.1:6379", "must start with redis://"},
		{"no scheme with password", "user:" + secret + "@127.0.0.1", "must start with redis://"},
		{"unknown scheme", "memcached://h", `"memcached" is not supported`},
		{"bad escape in password", "redis://u:" + secret + "%zz@h", "valid escape"},
		{"no host", "redis://u:" + secret + "@/0", "names no host"},
		{"bad port", "redis://u:" + secret + "@h:99999/0", "invalid port"},
		{"password without @", "redis://:" + secret + "/0", "address 1"},
		{"empty address in list", "redis+cluster://a:1,,b:2", "address 2"},
		{"several hosts for redis://", "redis://u:" + secret + "@a,b/0", "takes one address"},
		{"bad db", "redis://u:" + secret + "@h/x", "database"},
		{"unknown option", "redis://u:" + secret + "@h/0?bogus=1", "bogus"},
		{"fragment", "redis://h/0#" + secret, "fragment"},
		{"cluster db", "redis+cluster://u:" + secret + "@h/3", "no database number"},
		{"sentinel without master", "redis+sentinel://u:" + secret + "@h", "master name"},
		{"sentinel too deep", "redis+sentinel://h/m/0/extra", "master name"},
		{"sentinel password in query", "redis+sentinel://h/m?password=" + secret, "user:password"},
		{"sentinel bad option", "redis+sentinel://h/m?sentinel_password=" + secret + "&bogus=1", "bogus"},
		{"bad query", "redis://h/0?a=%zz" + secret, "query string"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			_, err := Open(r.url, Options{})
			if err == nil {
				t.Fatal("Open accepted a malformed URL")
			}
			if !strings.Contains(err.Error(), r.want) {
				t.Fatalf("error %q does not say %q", err, r.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error %q shows the password", err)
			}
		})
	}
}

func TestOpenTimeoutsAreBounded(t *testing.T) {
	rows := []struct {
		name                 string
		url                  string
		opts                 Options
		dial, read, write    time.Duration
		pool, retries, dial2 int
	}{
		{"defaults", "redis://h", Options{}, 2 * time.Second, time.Second, time.Second, 0, 1, 1},
		{"from URL", "redis://h?dial_timeout=3s&read_timeout=500ms&write_timeout=2&pool_size=7", Options{},
			3 * time.Second, 500 * time.Millisecond, 2 * time.Second, 7, 1, 1},
		{"URL cannot switch timeouts off", "redis://h?read_timeout=-1&write_timeout=-2&dial_timeout=0", Options{},
			2 * time.Second, time.Second, time.Second, 0, 1, 1},
		{"options win over URL", "redis://h?read_timeout=5s", Options{ReadTimeout: 200 * time.Millisecond, PoolSize: 3},
			2 * time.Second, 200 * time.Millisecond, time.Second, 3, 1, 1},
		{"capped", "redis://h?dial_timeout=1h", Options{ReadTimeout: time.Hour}, MaxTimeout, MaxTimeout, time.Second, 0, 1, 1},
		{"retries from URL kept", "redis://h?max_retries=-1", Options{}, 2 * time.Second, time.Second, time.Second, 0, -1, 1},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			cfg, err := parseURL(r.url)
			if err != nil {
				t.Fatal(err)
			}
			o := cfg.simple
			tune(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolSize, &o.MaxRetries, &o.DialerRetries, r.opts)
			if o.DialTimeout != r.dial || o.ReadTimeout != r.read || o.WriteTimeout != r.write || o.PoolSize != r.pool || o.MaxRetries != r.retries || o.DialerRetries != r.dial2 {
				t.Fatalf("dial %s read %s write %s pool %d retries %d dial retries %d; want %s %s %s %d %d %d",
					o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolSize, o.MaxRetries, o.DialerRetries,
					r.dial, r.read, r.write, r.pool, r.retries, r.dial2)
			}
		})
	}
	// The same bounds reach each kind of client.
	for _, u := range []string{"redis://h?read_timeout=-1", "redis+sentinel://h/m?read_timeout=-1", "redis+cluster://h?read_timeout=-1"} {
		s, err := Open(u, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var read time.Duration
		switch c := s.c.(type) {
		case *goredis.Client:
			read = c.Options().ReadTimeout
		case *goredis.ClusterClient:
			read = c.Options().ReadTimeout
		}
		s.Close()
		if read != DefaultReadTimeout {
			t.Fatalf("%s: client ReadTimeout %s, want %s", u, read, DefaultReadTimeout)
		}
	}
}

func TestOpenDoesNotConnect(t *testing.T) {
	// A port nothing listens on: Open must still succeed (Caddy's Provision and `caddy validate` run
	// without network); the first command reports the outage.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for _, u := range []string{"redis://" + addr, "redis+sentinel://" + addr + "/m", "redis+cluster://" + addr} {
		start := time.Now()
		s, err := Open(u, Options{})
		if err != nil {
			t.Fatalf("Open(%s): %v", u, err)
		}
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Fatalf("Open(%s) took %s: it must not dial", u, d)
		}
		if err := s.Ping(context.Background()); err == nil {
			t.Fatalf("Ping(%s) with nothing listening succeeded", u)
		}
		s.Close()
	}
}

// crc16 and slot follow the Redis Cluster specification (CRC16-XMODEM of the hash tag, mod 16384).
func crc16(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc ^= uint16(c) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

func slot(key string) uint16 {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return crc16([]byte(key)) % 16384
}

func TestKeyTags(t *testing.T) {
	if got := slot("123456789"); got != 0x31C3%16384 { // the specification's CRC16 check value
		t.Fatalf("crc16 check value: %x", got)
	}
	for _, tenant := range []string{"acme", "a-1", "we{ird", "we}ird", "{x}", "%7B"} {
		keys := []string{
			tenantKey(tenant), operatorKey(tenant, "u1"), operatorSetKey(tenant),
			sessionKey(tenant, []byte{1, 2}), sessionIndexKey(tenant, "u1"),
			credKey(tenant, "u1"), recoveryKey(tenant, "u1"), lockKey(tenant, "u1"),
		}
		for _, k := range keys {
			if slot(k) != slot(keys[0]) {
				t.Fatalf("tenant %q: %s is in slot %d, %s in %d", tenant, k, slot(k), keys[0], slot(keys[0]))
			}
			if strings.Count(k, "{") != 1 || strings.Count(k, "}") != 1 {
				t.Fatalf("tenant %q: key %q has a stray brace", tenant, k)
			}
		}
	}
	// Escaping is one-to-one: ids that differ keep different keys.
	seen := map[string]string{}
	for _, tenant := range []string{"a}b", "a%7Db", "a%257Db", "a{b", "a%7Bb"} {
		k := tenantKey(tenant)
		if other, dup := seen[k]; dup {
			t.Fatalf("tenants %q and %q share key %q", tenant, other, k)
		}
		seen[k] = tenant
	}
	if got, want := emailKey(" Alice@Example.COM "), "vectis:{e:ff8d9819}:email:alice@example.com"; got != want {
		t.Fatalf("emailKey = %q, want %q", got, want)
	}
	if slot(lockKey("ip", "203.0.113.9")) != slot("vectis:{ip}:x") {
		t.Fatal("ip counters are not under the ip tag")
	}
}

// TestKeyLayout pins the documented layout: every key one scenario writes, by name.
func TestKeyLayout(t *testing.T) {
	srv := redistest.Start(t)
	s := openFresh(t, srv.URL())
	defer s.Close()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.PutTenant(ctx, directory.Tenant{ID: "acme", Name: "Acme"}))
	must(s.CreateOperator(ctx, directory.Operator{ID: "u1", TenantID: "acme", Email: "alice@acme.example", Role: directory.RoleAdmin}))
	now := time.Now()
	must(s.CreateSession(ctx, []byte{0xab, 0xcd}, session.Session{TenantID: "acme", UserID: "u1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	_, err := s.ActivateTOTP(ctx, "acme", "u1", []byte("sealed"), 1, [][]byte{[]byte("h1")}, now)
	must(err)
	_, err = s.Attempt(ctx, "acme", "u1", now, 5, time.Minute)
	must(err)
	_, err = s.Attempt(ctx, "ip", "203.0.113.9", now, 5, time.Minute)
	must(err)
	_, err = s.PutMetaIfAbsent(ctx, "signing_key", []byte("k"))
	must(err)

	got, err := s.c.Keys(ctx, "*").Result()
	must(err)
	slices.Sort(got)
	want := []string{
		"vectis:{acme}:cred:u1",
		"vectis:{acme}:lock:u1",
		"vectis:{acme}:op:u1",
		"vectis:{acme}:ops",
		"vectis:{acme}:rc:u1",
		"vectis:{acme}:sess:abcd",
		"vectis:{acme}:tenant",
		"vectis:{acme}:usess:u1",
		"vectis:{e:" + emailKey("alice@acme.example")[len("vectis:{e:"):len("vectis:{e:")+8] + "}:email:alice@acme.example",
		"vectis:{ip}:lock:203.0.113.9",
		"vectis:{meta}:meta:signing_key",
		"vectis:{meta}:tenants",
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("keys\n got %q\nwant %q", got, want)
	}
}

func pttl(t *testing.T, s *Store, key string) time.Duration {
	t.Helper()
	d, err := s.c.PTTL(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func near(got, want time.Duration) bool { return got <= want && got > want-5*time.Second }

func TestSessionTTL(t *testing.T) {
	srv := redistest.Start(t)
	s := openFresh(t, srv.URL())
	defer s.Close()
	ctx := context.Background()
	// A session from an injected clock far in the past: the TTL is its own length plus a minute,
	// not ExpiresAt against the wall clock (which would have dropped it at once).
	created := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	long := session.Session{TenantID: "acme", UserID: "u1", CreatedAt: created, ExpiresAt: created.Add(2 * time.Hour)}
	id := []byte("long")
	if err := s.CreateSession(ctx, id, long); err != nil {
		t.Fatal(err)
	}
	if d := pttl(t, s, sessionKey("acme", id)); !near(d, 2*time.Hour+time.Minute) {
		t.Fatalf("session TTL %s, want about 2h1m", d)
	}
	index := sessionIndexKey("acme", "u1")
	if d := pttl(t, s, index); !near(d, 2*time.Hour+time.Minute) {
		t.Fatalf("index TTL %s, want about 2h1m", d)
	}
	if _, err := s.GetSession(ctx, "acme", id); err != nil {
		t.Fatalf("GetSession judged expiry by the wall clock: %v", err)
	}
	// Update keeps the TTL (it neither drops it nor makes the record immortal).
	long.LastSeen = created.Add(time.Hour)
	if err := s.UpdateSession(ctx, id, long); err != nil {
		t.Fatal(err)
	}
	if d := pttl(t, s, sessionKey("acme", id)); !near(d, 2*time.Hour+time.Minute) {
		t.Fatalf("session TTL after update %s, want about 2h1m", d)
	}
	// A shorter session does not shorten the index; a longer one lengthens it.
	short := session.Session{TenantID: "acme", UserID: "u1", CreatedAt: created, ExpiresAt: created.Add(10 * time.Minute)}
	if err := s.CreateSession(ctx, []byte("short"), short); err != nil {
		t.Fatal(err)
	}
	if d := pttl(t, s, sessionKey("acme", []byte("short"))); !near(d, 11*time.Minute) {
		t.Fatalf("short session TTL %s, want about 11m", d)
	}
	if d := pttl(t, s, index); !near(d, 2*time.Hour+time.Minute) {
		t.Fatalf("index TTL after a shorter session %s, want about 2h1m", d)
	}
	longer := session.Session{TenantID: "acme", UserID: "u1", CreatedAt: created, ExpiresAt: created.Add(12 * time.Hour)}
	if err := s.CreateSession(ctx, []byte("longer"), longer); err != nil {
		t.Fatal(err)
	}
	if d := pttl(t, s, index); !near(d, 12*time.Hour+time.Minute) {
		t.Fatalf("index TTL after a longer session %s, want about 12h1m", d)
	}
	// A nonsensical lifetime still gets a short, positive TTL rather than none.
	odd := session.Session{TenantID: "acme", UserID: "u2", CreatedAt: created, ExpiresAt: created.Add(-time.Hour)}
	if err := s.CreateSession(ctx, []byte("odd"), odd); err != nil {
		t.Fatal(err)
	}
	if d := pttl(t, s, sessionKey("acme", []byte("odd"))); !near(d, time.Minute) {
		t.Fatalf("TTL for ExpiresAt before CreatedAt %s, want about 1m", d)
	}
}

func TestSessionIndexPruned(t *testing.T) {
	srv := redistest.Start(t)
	s := openFresh(t, srv.URL())
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	sess := session.Session{TenantID: "acme", UserID: "u1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	for _, id := range []string{"a", "b", "c"} {
		if err := s.CreateSession(ctx, []byte(id), sess); err != nil {
			t.Fatal(err)
		}
	}
	// "b" expires in Redis on its own (its TTL ran out); "c" is deleted.
	if err := s.c.Del(ctx, sessionKey("acme", []byte("b"))).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSession(ctx, "acme", []byte("c")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx, []byte("d"), sess); err != nil {
		t.Fatal(err)
	}
	members, err := s.c.SMembers(ctx, sessionIndexKey("acme", "u1")).Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(members)
	if want := []string{"61", "64"}; !slices.Equal(members, want) { // hex of "a" and "d"
		t.Fatalf("index members %q, want %q", members, want)
	}
}

func TestLockoutTTLIsRelative(t *testing.T) {
	srv := redistest.Start(t)
	s := openFresh(t, srv.URL())
	defer s.Close()
	ctx := context.Background()
	// A clock far in the past: the key must still live for the window plus a minute.
	now := time.Date(2001, 2, 3, 4, 5, 6, 789, time.UTC)
	v, err := s.Attempt(ctx, "acme", "u1", now, 5, 15*time.Minute)
	if err != nil || !v.Allowed || v.Count != 1 || !v.WindowEnd.Equal(now.Add(15*time.Minute)) {
		t.Fatalf("Attempt = %+v, %v", v, err)
	}
	if d := pttl(t, s, lockKey("acme", "u1")); !near(d, 16*time.Minute) {
		t.Fatalf("lock TTL %s, want about 16m", d)
	}
	v, err = s.Attempt(ctx, "acme", "u1", now.Add(10*time.Minute), 5, 15*time.Minute)
	if err != nil || v.Count != 2 {
		t.Fatalf("second Attempt = %+v, %v", v, err)
	}
	if d := pttl(t, s, lockKey("acme", "u1")); !near(d, 6*time.Minute) {
		t.Fatalf("lock TTL after a later attempt %s, want about 6m (the rest of the window plus 1m)", d)
	}
	// Nanoseconds survive: the window ends exactly, not at a rounded millisecond.
	end := now.Add(15 * time.Minute)
	if v, err := s.Status(ctx, "acme", "u1", end.Add(-time.Nanosecond)); err != nil || v.Count != 2 {
		t.Fatalf("Status 1ns before the end = %+v, %v; want Count 2", v, err)
	}
	if v, err := s.Status(ctx, "acme", "u1", end); err != nil || v.Count != 0 {
		t.Fatalf("Status at the end = %+v, %v; want Count 0", v, err)
	}
	v, err = s.Attempt(ctx, "acme", "u1", end, 5, 15*time.Minute)
	if err != nil || v.Count != 1 || !v.WindowEnd.Equal(end.Add(15*time.Minute)) {
		t.Fatalf("Attempt at the end = %+v, %v; want a new window", v, err)
	}
	if _, err := s.Attempt(ctx, "acme", "u1", now, 0, time.Minute); err == nil {
		t.Fatal("Attempt with max 0 accepted")
	}
}

// TestLockoutAcrossReplicas: two gateway replicas (two Stores, two connection pools) share one counter.
func TestLockoutAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	a := openFresh(t, srv.URL())
	defer a.Close()
	b, err := Open(srv.URL(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	now := time.Now()
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := a
			if i%2 == 1 {
				s = b
			}
			v, err := s.Attempt(context.Background(), "acme", "u1", now, 5, 15*time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			if v.Allowed {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if allowed != 5 {
		t.Fatalf("40 attempts over two replicas: %d allowed, want 5", allowed)
	}
}

// everyCall runs one call of each kind of store operation and returns their errors by name.
func everyCall(ctx context.Context, s *Store) map[string]error {
	now := time.Now()
	id := []byte("outage")
	sess := session.Session{TenantID: "acme", UserID: "u1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	errs := map[string]error{}
	_, errs["GetSession"] = s.GetSession(ctx, "acme", id)
	errs["CreateSession"] = s.CreateSession(ctx, id, sess)
	errs["UpdateSession"] = s.UpdateSession(ctx, id, sess)
	errs["DeleteSession"] = s.DeleteSession(ctx, "acme", id)
	_, errs["DeleteOperatorSessions"] = s.DeleteOperatorSessions(ctx, "acme", "u1")
	_, errs["Attempt"] = s.Attempt(ctx, "acme", "u1", now, 5, time.Minute)
	_, errs["Status"] = s.Status(ctx, "acme", "u1", now)
	_, errs["GetCredentials"] = s.GetCredentials(ctx, "acme", "u1")
	_, errs["UseStep"] = s.UseStep(ctx, "acme", "u1", 1)
	_, _, errs["ConsumeRecoveryCode"] = s.ConsumeRecoveryCode(ctx, "acme", "u1", []byte("h"))
	_, errs["GetOperator"] = s.GetOperator(ctx, "acme", "u1")
	_, errs["OperatorByEmail"] = s.OperatorByEmail(ctx, "alice@acme.example")
	_, errs["GetTenant"] = s.GetTenant(ctx, "acme")
	_, errs["GetMeta"] = s.GetMeta(ctx, "signing_key")
	errs["Ping"] = s.Ping(ctx)
	return errs
}

func TestOutageAndRecovery(t *testing.T) {
	srv := redistest.Start(t)
	s := openFresh(t, srv.URL())
	defer s.Close()
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	start := time.Now()
	for name, err := range everyCall(ctx, s) {
		if err == nil || errors.Is(err, session.ErrNotFound) || errors.Is(err, directory.ErrNotFound) {
			t.Errorf("%s with Redis down: %v; want a machinery error, not a verdict", name, err)
		}
	}
	// Connection refused must fail fast: a second per call at the very most, all of them together.
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("15 calls with Redis down took %s", d)
	}

	// Same port, new (empty) server: the same Store recovers without being reopened.
	srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for s.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("Store did not reconnect within 10s of Redis coming back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	now := time.Now()
	id := []byte("after")
	if err := s.CreateSession(ctx, id, session.Session{TenantID: "acme", UserID: "u1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatalf("CreateSession after recovery: %v", err)
	}
	if _, err := s.GetSession(ctx, "acme", id); err != nil {
		t.Fatalf("GetSession after recovery: %v", err)
	}
	// Scripts work again although the new server's script cache is empty (EVALSHA falls back to EVAL).
	if v, err := s.Attempt(ctx, "acme", "u1", now, 5, time.Minute); err != nil || !v.Allowed {
		t.Fatalf("Attempt after recovery = %+v, %v", v, err)
	}
}

// TestHungServer: a server that accepts connections and never answers must not hang a request: the
// read timeout ends each try.
func TestHungServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	done := make(chan struct{})
	t.Cleanup(func() { close(done); l.Close(); conns.Wait() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer conns.Done()
				<-done
				c.Close()
			}()
		}
	}()
	timeout := 300 * time.Millisecond
	s, err := Open("redis://"+l.Addr().String(), Options{DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	_, err = s.GetSession(context.Background(), "acme", []byte("x"))
	d := time.Since(start)
	if err == nil || errors.Is(err, session.ErrNotFound) {
		t.Fatalf("GetSession against a silent server: %v; want an error", err)
	}
	// Two tries (one retry), each bounded by the read timeout, plus backoff.
	if d > 4*timeout+time.Second {
		t.Fatalf("GetSession against a silent server took %s", d)
	}
	// A caller's deadline shorter than the timeouts is honoured too.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := s.Attempt(ctx, "acme", "u1", time.Now(), 5, time.Minute); err == nil {
		t.Fatal("Attempt against a silent server succeeded")
	}
	if d := time.Since(start); d > 2*timeout+time.Second {
		t.Fatalf("Attempt with a 100ms deadline took %s", d)
	}
}

func TestCredentialsNotInErrors(t *testing.T) {
	srv := redistest.Start(t)
	admin := openFresh(t, srv.URL())
	defer admin.Close()
	ctx := context.Background()
	if err := admin.c.ConfigSet(ctx, "requirepass", password).Err(); err != nil {
		t.Fatal(err)
	}
	// The right password, written unescaped (everything up to the last @ is user:password).
	good, err := Open("redis://default:"+strings.ReplaceAll(password, "%", "%25")+"@"+srv.Addr()+"/0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	if err := good.Ping(ctx); err != nil {
		t.Fatalf("Ping with the right password: %v", err)
	}
	bad, err := Open("redis://default:"+url.QueryEscape("wrong-"+password)+"@"+srv.Addr()+"/0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	for name, err := range everyCall(ctx, bad) {
		if err == nil {
			t.Fatalf("%s with a wrong password succeeded", name)
		}
		if strings.Contains(err.Error(), "wrong-") || strings.Contains(err.Error(), "w?rd") {
			t.Fatalf("%s error shows the password: %v", name, err)
		}
	}
}

func TestCreateOperatorRollsBackEmail(t *testing.T) {
	srv := redistest.Start(t)
	s := openFresh(t, srv.URL())
	defer s.Close()
	ctx := context.Background()
	// The operator write fails (its key holds the wrong type); the email reservation must be undone.
	if err := s.c.SAdd(ctx, operatorSetKey("acme"), "x").Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.c.HSet(ctx, operatorKey("acme", "u1"), "f", "v").Err(); err != nil {
		t.Fatal(err)
	}
	err := s.CreateOperator(ctx, directory.Operator{ID: "u1", TenantID: "acme", Email: "alice@acme.example"})
	if !errors.Is(err, directory.ErrExists) {
		t.Fatalf("CreateOperator over an existing id key: %v, want ErrExists", err)
	}
	if n, err := s.c.Exists(ctx, emailKey("alice@acme.example")).Result(); err != nil || n != 0 {
		t.Fatalf("email reservation left behind: %d, %v", n, err)
	}
	// A script error (not a refusal) rolls back too and is reported.
	if err := s.c.Del(ctx, operatorKey("acme", "u1")).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.c.Set(ctx, operatorSetKey("acme"), "not a set", 0).Err(); err != nil {
		t.Fatal(err)
	}
	err = s.CreateOperator(ctx, directory.Operator{ID: "u1", TenantID: "acme", Email: "alice@acme.example"})
	if err == nil || errors.Is(err, directory.ErrExists) {
		t.Fatalf("CreateOperator with a broken operator set: %v, want a machinery error", err)
	}
	if n, err := s.c.Exists(ctx, emailKey("alice@acme.example")).Result(); err != nil || n != 0 {
		t.Fatalf("email reservation left behind after a script error: %d, %v", n, err)
	}
}

func BenchmarkGetSession(b *testing.B) {
	srv := redistest.Start(b)
	s := openFresh(b, srv.URL())
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	id := make([]byte, 32)
	sess := session.Session{TenantID: "acme", UserID: "u1", Email: "alice@acme.example", Role: "admin",
		State: session.StateActive, Auth: "password+totp", CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(12 * time.Hour), MFAAt: now}
	if err := s.CreateSession(ctx, id, sess); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.GetSession(ctx, "acme", id); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAttempt(b *testing.B) {
	srv := redistest.Start(b)
	s := openFresh(b, srv.URL())
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		// A limit no loop reaches, so every iteration is a counted attempt (the write path).
		if _, err := s.Attempt(ctx, "acme", "u1", now, 1<<30, 15*time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}

// commandCalls reads the server's per-command call counts (INFO commandstats).
func commandCalls(t *testing.T, c goredis.UniversalClient) map[string]int {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ",")
		var v int
		for _, r := range n {
			v = v*10 + int(r-'0')
		}
		calls[strings.TrimPrefix(name, "cmdstat_")] = v
	}
	return calls
}

// TestHotPathsAreOneCommand: the per-request reads and the lockout count are one command each (one
// round trip), as the benchmarks assume.
func TestHotPathsAreOneCommand(t *testing.T) {
	srv := redistest.Start(t)
	s := openFresh(t, srv.URL())
	defer s.Close()
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	ctx := context.Background()
	now := time.Now()
	id := []byte("hot")
	if err := s.CreateSession(ctx, id, session.Session{TenantID: "acme", UserID: "u1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Attempt(ctx, "acme", "u1", now, 1000, time.Minute); err != nil { // loads the script
		t.Fatal(err)
	}
	if err := admin.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := s.GetSession(ctx, "acme", id); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Attempt(ctx, "acme", "u1", now, 1000, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	calls := commandCalls(t, admin)
	if calls["get"] != 10 || calls["evalsha"] != 10 {
		t.Fatalf("10 GetSession + 10 Attempt made calls %v; want get=10 evalsha=10", calls)
	}
	// commandstats also counts the commands a script runs inside the server; those are not round trips.
	inScript := map[string]bool{"hmget": true, "hset": true, "hincrby": true, "pexpire": true}
	for name := range calls {
		if name != "get" && name != "evalsha" && !inScript[name] && !strings.HasPrefix(name, "config") && name != "info" {
			t.Fatalf("unexpected command %s in %v", name, calls)
		}
	}
}

// TestLockoutSurvivesRestartWithAOF: with the documented AOF setting, a lock outlives a Redis crash
// (SIGKILL) and the Store carries on without being reopened.
func TestLockoutSurvivesRestartWithAOF(t *testing.T) {
	srv := redistest.StartAOF(t)
	s := openFresh(t, srv.URL())
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	for i := range 5 {
		if _, err := s.Attempt(ctx, "acme", "u1", now.Add(time.Duration(i)*time.Second), 5, 15*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	var v lockout.Verdict
	var err error
	for {
		v, err = s.Attempt(ctx, "acme", "u1", now.Add(time.Minute), 5, 15*time.Minute)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || v.Allowed || v.Count != 5 {
		t.Fatalf("Attempt after a restart = %+v, %v; want still locked at 5", v, err)
	}
}
