package storetest

import (
	"errors"
	"testing"

	"github.com/vectis/mfa-gateway/internal/directory"
	"github.com/vectis/mfa-gateway/internal/store"
)

var metaTests = []test{
	{"GetPut", func(t *testing.T, s store.Store) {
		if v, err := s.GetMeta(ctx(t), "signing_key"); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("GetMeta missing = %q, %v; want directory.ErrNotFound", v, err)
		}
		v, err := s.PutMetaIfAbsent(ctx(t), "signing_key", []byte("first"))
		if err != nil || string(v) != "first" {
			t.Fatalf("PutMetaIfAbsent on a missing name = %q, %v; want first", v, err)
		}
		v, err = s.PutMetaIfAbsent(ctx(t), "signing_key", []byte("second"))
		if err != nil || string(v) != "first" {
			t.Fatalf("PutMetaIfAbsent on an existing name = %q, %v; want the stored first", v, err)
		}
		v, err = s.GetMeta(ctx(t), "signing_key")
		if err != nil || string(v) != "first" {
			t.Fatalf("GetMeta = %q, %v; want first", v, err)
		}
		// Binary values round-trip exactly.
		bin := hash("binary")
		if v, err := s.PutMetaIfAbsent(ctx(t), "seeded", bin); err != nil || !sameBytes(v, bin) {
			t.Fatalf("PutMetaIfAbsent binary = %x, %v", v, err)
		}
		if v, err := s.GetMeta(ctx(t), "seeded"); err != nil || !sameBytes(v, bin) {
			t.Fatalf("GetMeta binary = %x, %v", v, err)
		}
		if v, err := s.GetMeta(ctx(t), "signing_key"); err != nil || string(v) != "first" {
			t.Fatalf("GetMeta after another name = %q, %v", v, err)
		}
	}},
	{"Ping", func(t *testing.T, s store.Store) {
		if err := s.Ping(ctx(t)); err != nil {
			t.Fatalf("Ping on an open store: %v", err)
		}
	}},
}
