package config

import (
	"strings"
	"testing"
	"time"
)

func TestMatchHost(t *testing.T) {
	patterns := []string{"portal.example.com", "*.portal.example.com"}
	for _, tc := range []struct {
		host string
		want bool
	}{
		{"portal.example.com", true},
		{"PORTAL.Example.COM", true},
		{"portal.example.com:8443", true},
		{"portal.example.com.", true},
		{"acme.portal.example.com", true},
		{"a.b.portal.example.com", false}, // *. matches exactly one label
		{"portal.example.com.evil.test", false},
		{"xportal.example.com", false},
		{"evilportal.example.com", false},
		{".portal.example.com", false},
		{"app.example.com", false},
		{"", false},
		{"[::1]:443", false},
		{"[portal.example.com]", false},
		{"[portal.example.com]:8443", false},
		{"portal.example.com:abc", false},
		{"portal.example.com:", false},
		{"portal.example.com:123456", false},
		{"portal.example.com\x00", false},
	} {
		if got := MatchHost(patterns, tc.host); got != tc.want {
			t.Errorf("MatchHost(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
	if MatchHost(nil, "portal.example.com") {
		t.Error("no patterns matched a host")
	}
}

func TestDecodeKey(t *testing.T) {
	good := "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes
	if k, err := DecodeKey(" " + good + "\n"); err != nil || len(k) != 32 {
		t.Fatalf("good key: %v", err)
	}
	for _, bad := range []string{"", "not base64 !!", "c2hvcnQ="} {
		_, err := DecodeKey(bad)
		if err == nil {
			t.Errorf("DecodeKey(%q) accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), bad) && bad != "" {
			t.Errorf("error echoes the key: %v", err)
		}
	}
}

func TestNormalizeAndValidate(t *testing.T) {
	c := Config{SecretKey: make([]byte, 32), Storage: Storage{Path: "/tmp/x.db"}}
	c.Normalize()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Issuer != DefaultIssuer || c.LockoutAttempts != 5 || c.LockoutWindow != 15*time.Minute ||
		c.SessionIdle != time.Hour || c.SessionAbsolute != 12*time.Hour || c.Storage.Kind != "bolt" {
		t.Fatalf("defaults: %+v", c)
	}
	for name, mutate := range map[string]func(*Config){
		"short key":         func(c *Config) { c.SecretKey = c.SecretKey[:16] },
		"unknown storage":   func(c *Config) { c.Storage.Kind = "sqlite" },
		"redis without url": func(c *Config) { c.Storage = Storage{Kind: "redis"} },
		"zero attempts":     func(c *Config) { c.LockoutAttempts = -1 },
		"tiny window":       func(c *Config) { c.LockoutWindow = time.Second },
		"absolute < idle":   func(c *Config) { c.SessionAbsolute = 30 * time.Minute },
		"issuer colon":      func(c *Config) { c.Issuer = "Vectis:Evil" },
		"bad portal":        func(c *Config) { c.PortalHosts = []string{"https://portal.example.com/"} },
	} {
		cc := c
		cc.PortalHosts = append([]string(nil), c.PortalHosts...)
		mutate(&cc)
		if err := cc.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
