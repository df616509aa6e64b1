package directory

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzParseSeed: any input gets a verdict, never a panic, and an error never repeats a value given as a
// password (unless the same text also stands in a field that errors may quote, such as an email).
func FuzzParseSeed(f *testing.F) {
	f.Add([]byte(`{"tenants":[{"id":"acme","name":"Acme"}],"users":[{"email":"a@acme.example","tenant":"acme","role":"admin","password":"hunter2hunter2"}]}`))
	f.Add([]byte(`{"tenants":[],"users":[{"email":"x","password":"sekritpassword"}]}`))
	f.Add([]byte(`{"users":[{"email":"a@b","tenant":"t","role":"boss","password_hash":"$2y$99$x"}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := ParseSeed(data)
		if err == nil {
			return
		}
		var doc struct {
			Users []map[string]any `json:"users"`
		}
		if json.Unmarshal(data, &doc) != nil {
			return
		}
		for _, u := range doc.Users {
			p, _ := u["password"].(string)
			if len(p) < 6 {
				continue
			}
			quotable := false
			for k, v := range u {
				if s, ok := v.(string); ok && k != "password" && strings.Contains(s, p) {
					quotable = true
				}
			}
			if quotable || !strings.Contains(err.Error(), p) {
				continue
			}
			// The text may just occur in the message's own words ("ssword"): the password is echoed only if
			// the error changes when the password does.
			u["password"] = strings.Repeat("\u2603", len(p))
			again, _ := json.Marshal(doc)
			_, err2 := ParseSeed(again)
			u["password"] = p
			if err2 == nil || !strings.Contains(err2.Error(), p) {
				t.Fatalf("error repeats a password: %v", err)
			}
		}
	})
}
