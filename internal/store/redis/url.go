package redis

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// mode is the kind of deployment a URL selects.
type mode int

const (
	standalone mode = iota
	sentinel
	cluster
)

// clientConfig is a parsed URL: exactly one of the three option sets is set, matching mode.
type clientConfig struct {
	mode     mode
	simple   *goredis.Options
	failover *goredis.FailoverOptions
	cluster  *goredis.ClusterOptions
}

const schemes = "redis://, rediss://, redis+sentinel://, rediss+sentinel://, redis+cluster:// or rediss+cluster://"

var plainScheme = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*$`)

// parseURL turns one of the documented URL forms (see Open) into go-redis options.
//
// The password must never reach an error message: errors here end up in Caddy's start-up log and
// in `caddy validate` output. So the user:password part is cut off first — up to the LAST "@", which
// also copes with an unescaped "@", "/", "?" or "#" in a password — and everything handed to go-redis's
// own parsers (whose errors we pass on) is rebuilt without it; the credentials are set afterwards.
func parseURL(raw string) (*clientConfig, error) {
	raw = strings.TrimSpace(raw)
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, errors.New("redis URL must start with " + schemes)
	}
	cfg := &clientConfig{}
	secure := false
	switch strings.ToLower(scheme) {
	case "redis":
	case "rediss":
		secure = true
	case "redis+sentinel":
		cfg.mode = sentinel
	case "rediss+sentinel":
		cfg.mode, secure = sentinel, true
	case "redis+cluster":
		cfg.mode = cluster
	case "rediss+cluster":
		cfg.mode, secure = cluster, true
	default:
		if plainScheme.MatchString(scheme) {
			return nil, fmt.Errorf("redis URL scheme %q is not supported; use %s", scheme, schemes)
		}
		return nil, errors.New("redis URL must start with " + schemes)
	}
	base := "redis://"
	if secure {
		base = "rediss://"
	}

	var user, pass string
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		userinfo := rest[:at]
		rest = rest[at+1:]
		u, p, _ := strings.Cut(userinfo, ":")
		var err1, err2 error
		user, err1 = url.PathUnescape(u)
		pass, err2 = url.PathUnescape(p)
		if err1 != nil || err2 != nil {
			return nil, errors.New("the user name or password in the redis URL has a % that does not start a valid escape (write a literal % as %25)")
		}
	}
	if strings.Contains(rest, "#") {
		return nil, errors.New("redis URL must not have a #fragment (percent-encode a # in the password as %23)")
	}

	hostList := rest
	remainder := ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		hostList, remainder = rest[:i], rest[i:]
	}
	path, rawQuery, _ := strings.Cut(remainder, "?")
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, errors.New("the query string of the redis URL is malformed")
	}

	defaultPort := "6379"
	if cfg.mode == sentinel {
		defaultPort = "26379"
	}
	if hostList == "" {
		return nil, errors.New("redis URL names no host")
	}
	var hosts []string
	for i, h := range strings.Split(hostList, ",") {
		hp, err := hostPort(strings.TrimSpace(h), defaultPort)
		if err != nil {
			return nil, fmt.Errorf("address %d in the redis URL %v", i+1, err)
		}
		hosts = append(hosts, hp)
	}

	switch cfg.mode {
	case standalone:
		if len(hosts) != 1 {
			return nil, errors.New("a redis:// URL takes one address; for several use redis+sentinel:// or redis+cluster://")
		}
		o, err := goredis.ParseURL(base + hosts[0] + remainder)
		if err != nil {
			return nil, goRedisErr(err)
		}
		o.Username, o.Password = user, pass
		cfg.simple = o

	case cluster:
		if strings.Trim(path, "/") != "" {
			return nil, errors.New("a redis+cluster:// URL has no database number or path (Redis Cluster only has database 0)")
		}
		for _, h := range hosts[1:] {
			query.Add("addr", h)
		}
		o, err := goredis.ParseClusterURL(base + hosts[0] + "?" + query.Encode())
		if err != nil {
			return nil, goRedisErr(err)
		}
		o.Username, o.Password = user, pass
		cfg.cluster = o

	case sentinel:
		segs := strings.Split(strings.Trim(path, "/"), "/")
		if segs[0] == "" || len(segs) > 2 {
			return nil, errors.New("a redis+sentinel:// URL needs the master name as its path, and optionally a database number: redis+sentinel://host1:26379,host2:26379/mymaster/0")
		}
		master, err := url.PathUnescape(segs[0])
		if err != nil {
			return nil, errors.New("the master name in the redis URL is not validly escaped")
		}
		db := "0"
		if len(segs) == 2 {
			db = segs[1]
		}
		for _, k := range []string{"master_name", "db", "username", "password"} {
			if query.Has(k) {
				return nil, fmt.Errorf("a redis+sentinel:// URL takes %s from its path or user:password part, not from the query string", k)
			}
		}
		// The user:password part authenticates to the Redis servers; sentinels that require their own
		// password take it from these two query options (go-redis's parser would not accept them).
		sentinelUser, sentinelPass := query.Get("sentinel_username"), query.Get("sentinel_password")
		query.Del("sentinel_username")
		query.Del("sentinel_password")
		for _, h := range hosts[1:] {
			query.Add("addr", h)
		}
		query.Set("master_name", master)
		o, err := goredis.ParseFailoverURL(base + hosts[0] + "/" + db + "?" + query.Encode())
		if err != nil {
			return nil, goRedisErr(err)
		}
		o.Username, o.Password = user, pass
		o.SentinelUsername, o.SentinelPassword = sentinelUser, sentinelPass
		cfg.failover = o
	}
	return cfg, nil
}

// hostPort checks one address and adds the default port when it has none. Its errors do not quote
// the address: in a malformed URL (a password with no "@" after it) the "address" may be a secret.
func hostPort(h, defaultPort string) (string, error) {
	if h == "" {
		return "", errors.New("is empty")
	}
	if host, port, err := net.SplitHostPort(h); err == nil {
		if host == "" {
			return "", errors.New("has no host name")
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", errors.New("has an invalid port (want host:port, port 1-65535)")
		}
		return net.JoinHostPort(host, port), nil
	}
	host := h
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		host = h[1 : len(h)-1]
		if net.ParseIP(host) == nil {
			return "", errors.New("is not a valid bracketed IPv6 address")
		}
	} else if strings.ContainsAny(h, "[]") || (strings.Contains(h, ":") && net.ParseIP(h) == nil) {
		return "", errors.New("is not host:port")
	}
	return net.JoinHostPort(host, defaultPort), nil
}

// goRedisErr rewords an error from go-redis's URL parsers. The URL they saw carried no credentials,
// so their text is safe to show.
func goRedisErr(err error) error {
	return fmt.Errorf("redis URL: %s", strings.TrimPrefix(err.Error(), "redis: "))
}
