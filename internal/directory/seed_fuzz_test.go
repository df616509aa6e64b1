package directory

import (
	"strings"
	"testing"
)

// FuzzParseSeed: any input gets a verdict, never a panic, and an error never repeats a password.
func FuzzParseSeed(f *testing.F) {
	f.Add([]byte(`{"tenants":[{"id":"acme","name":"Acme"}],"users":[{"email":"a@acme.example","tenant":"acme","role":"admin","password":"hunter2hunter2"}]}`))
	f.Add([]byte(`{"tenants":[],"users":[{"email":"x","password":"sekritpassword"}]}`))
	f.Add([]byte(`{"users":[{"email":"a@b","tenant":"t","role":"boss","password_hash":"$2y$99$x"}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := ParseSeed(data)
		if err != nil && strings.Contains(err.Error(), "hunter2hunter2") {
			t.Fatalf("error repeats a password: %v", err)
		}
	})
}
