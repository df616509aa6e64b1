package storetest

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vectis/mfa-gateway/internal/directory"
	"github.com/vectis/mfa-gateway/internal/store"
)

func tenant(id string) directory.Tenant {
	return directory.Tenant{
		ID:           id,
		Name:         "Tenant " + strings.ToUpper(id),
		BillingEmail: "billing@" + id + ".example",
		BreakGlass:   []string{"root@" + id + ".example"},
		SSO: &directory.SSO{
			Enabled:            true,
			Provider:           "okta",
			Issuer:             "https://" + id + ".okta.example",
			ClientID:           "client-" + id,
			ClientSecretSealed: hash("sealed:" + id),
			Extra:              map[string]string{"domain": id + ".example"},
		},
		CreatedAt: base,
	}
}

func operator(tenantID, id, email string, role directory.Role) directory.Operator {
	return directory.Operator{
		ID:           id,
		TenantID:     tenantID,
		Email:        email,
		Role:         role,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$" + id,
		CreatedAt:    base,
	}
}

// normTenant and normOperator make values from different backends comparable with reflect.DeepEqual
// (time zone and monotonic reading are not part of the value).
func normTenant(t directory.Tenant) directory.Tenant {
	t.CreatedAt = t.CreatedAt.UTC()
	return t
}

func normOperator(o directory.Operator) directory.Operator {
	o.CreatedAt = o.CreatedAt.UTC()
	return o
}

func wantTenant(t *testing.T, got, want directory.Tenant) {
	t.Helper()
	if !reflect.DeepEqual(normTenant(got), normTenant(want)) {
		t.Fatalf("tenant mismatch\n got %+v\nwant %+v", got, want)
	}
}

func wantOperator(t *testing.T, got, want directory.Operator) {
	t.Helper()
	if !reflect.DeepEqual(normOperator(got), normOperator(want)) {
		t.Fatalf("operator mismatch\n got %+v\nwant %+v", got, want)
	}
}

func mustCreate(t *testing.T, s store.Store, o directory.Operator) {
	t.Helper()
	if err := s.CreateOperator(ctx(t), o); err != nil {
		t.Fatalf("CreateOperator(%s/%s): %v", o.TenantID, o.ID, err)
	}
}

var directoryTests = []test{
	{"EmptyStore", func(t *testing.T, s store.Store) {
		empty, err := s.Empty(ctx(t))
		if err != nil || !empty {
			t.Fatalf("Empty on a fresh store = %v, %v; want true", empty, err)
		}
		if _, err := s.GetTenant(ctx(t), "acme"); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("GetTenant unknown: %v, want ErrNotFound", err)
		}
		if _, err := s.GetOperator(ctx(t), "acme", "u1"); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("GetOperator unknown: %v, want ErrNotFound", err)
		}
		if _, err := s.OperatorByEmail(ctx(t), "nobody@acme.example"); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("OperatorByEmail unknown: %v, want ErrNotFound", err)
		}
		ts, err := s.ListTenants(ctx(t))
		if err != nil || len(ts) != 0 {
			t.Fatalf("ListTenants = %v, %v; want none", ts, err)
		}
		ops, err := s.ListOperators(ctx(t), "acme")
		if err != nil || len(ops) != 0 {
			t.Fatalf("ListOperators = %v, %v; want none", ops, err)
		}
	}},
	{"EmptyFalseWithTenantOnly", func(t *testing.T, s store.Store) {
		if err := s.PutTenant(ctx(t), tenant("acme")); err != nil {
			t.Fatal(err)
		}
		if empty, err := s.Empty(ctx(t)); err != nil || empty {
			t.Fatalf("Empty with one tenant = %v, %v; want false", empty, err)
		}
	}},
	{"EmptyFalseWithOperatorOnly", func(t *testing.T, s store.Store) {
		mustCreate(t, s, operator("acme", "u1", "a@acme.example", directory.RoleAdmin))
		if empty, err := s.Empty(ctx(t)); err != nil || empty {
			t.Fatalf("Empty with one operator = %v, %v; want false", empty, err)
		}
	}},
	{"PutGetListTenants", func(t *testing.T, s store.Store) {
		acme, globex := tenant("acme"), tenant("globex")
		globex.SSO = nil
		globex.BreakGlass = nil
		for _, tn := range []directory.Tenant{acme, globex} {
			if err := s.PutTenant(ctx(t), tn); err != nil {
				t.Fatalf("PutTenant(%s): %v", tn.ID, err)
			}
		}
		got, err := s.GetTenant(ctx(t), "acme")
		if err != nil {
			t.Fatal(err)
		}
		wantTenant(t, got, acme)
		got, err = s.GetTenant(ctx(t), "globex")
		if err != nil {
			t.Fatal(err)
		}
		wantTenant(t, got, globex)

		// PutTenant replaces: SSO switched off at runtime must read back off.
		acme.SSO.Enabled = false
		acme.Name = "Acme Renamed"
		if err := s.PutTenant(ctx(t), acme); err != nil {
			t.Fatal(err)
		}
		got, err = s.GetTenant(ctx(t), "acme")
		if err != nil {
			t.Fatal(err)
		}
		wantTenant(t, got, acme)

		list, err := s.ListTenants(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(list, func(a, b directory.Tenant) int { return strings.Compare(a.ID, b.ID) })
		if len(list) != 2 {
			t.Fatalf("ListTenants returned %d tenants, want 2 (replace must not duplicate)", len(list))
		}
		wantTenant(t, list[0], acme)
		wantTenant(t, list[1], globex)
	}},
	{"CreateGetOperator", func(t *testing.T, s store.Store) {
		o := operator("acme", "u1", "alice@acme.example", directory.RoleAdmin)
		o.SSOKey = "https://acme.okta.example|00u1"
		mustCreate(t, s, o)
		got, err := s.GetOperator(ctx(t), "acme", "u1")
		if err != nil {
			t.Fatal(err)
		}
		wantOperator(t, got, o)
		got, err = s.OperatorByEmail(ctx(t), "alice@acme.example")
		if err != nil {
			t.Fatal(err)
		}
		wantOperator(t, got, o)
		// The id is only meaningful inside its tenant.
		if _, err := s.GetOperator(ctx(t), "globex", "u1"); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("GetOperator with another tenant: %v, want ErrNotFound", err)
		}
	}},
	{"EmailUniqueAcrossTenants", func(t *testing.T, s store.Store) {
		mustCreate(t, s, operator("acme", "u1", "alice@acme.example", directory.RoleAdmin))
		err := s.CreateOperator(ctx(t), operator("globex", "u9", "alice@acme.example", directory.RoleMember))
		if !errors.Is(err, directory.ErrExists) {
			t.Fatalf("CreateOperator with an email taken in another tenant: %v, want ErrExists", err)
		}
		err = s.CreateOperator(ctx(t), operator("acme", "u2", "alice@acme.example", directory.RoleMember))
		if !errors.Is(err, directory.ErrExists) {
			t.Fatalf("CreateOperator with an email taken in the same tenant: %v, want ErrExists", err)
		}
		// The failed attempts changed nothing: the email still leads to the first operator.
		got, err := s.OperatorByEmail(ctx(t), "alice@acme.example")
		if err != nil || got.TenantID != "acme" || got.ID != "u1" {
			t.Fatalf("OperatorByEmail after refused duplicates = %+v, %v; want acme/u1", got, err)
		}
		if _, err := s.GetOperator(ctx(t), "globex", "u9"); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("refused operator was stored anyway: %v", err)
		}
		if ops, _ := s.ListOperators(ctx(t), "globex"); len(ops) != 0 {
			t.Fatalf("refused operator listed: %+v", ops)
		}
	}},
	{"DuplicateIDInTenant", func(t *testing.T, s store.Store) {
		mustCreate(t, s, operator("acme", "u1", "alice@acme.example", directory.RoleAdmin))
		err := s.CreateOperator(ctx(t), operator("acme", "u1", "bob@acme.example", directory.RoleMember))
		if !errors.Is(err, directory.ErrExists) {
			t.Fatalf("CreateOperator with an existing id: %v, want ErrExists", err)
		}
		if _, err := s.OperatorByEmail(ctx(t), "bob@acme.example"); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("refused operator's email was indexed: %v", err)
		}
		got, err := s.GetOperator(ctx(t), "acme", "u1")
		if err != nil || got.Email != "alice@acme.example" {
			t.Fatalf("existing operator changed: %+v, %v", got, err)
		}
		// The same id in another tenant is a different operator.
		mustCreate(t, s, operator("globex", "u1", "bob@globex.example", directory.RoleMember))
	}},
	{"UpdateOperator", func(t *testing.T, s store.Store) {
		o := operator("acme", "u1", "alice@acme.example", directory.RoleMember)
		mustCreate(t, s, o)
		o.Role = directory.RoleAdmin
		o.Disabled = true
		o.PasswordHash = "$2b$10$newhash"
		if err := s.UpdateOperator(ctx(t), o); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetOperator(ctx(t), "acme", "u1")
		if err != nil {
			t.Fatal(err)
		}
		wantOperator(t, got, o)
		got, err = s.OperatorByEmail(ctx(t), "alice@acme.example")
		if err != nil {
			t.Fatal(err)
		}
		wantOperator(t, got, o)

		if err := s.UpdateOperator(ctx(t), operator("acme", "u2", "x@acme.example", directory.RoleMember)); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("UpdateOperator unknown id: %v, want ErrNotFound", err)
		}
		// The same id under another tenant is not this operator.
		other := o
		other.TenantID = "globex"
		if err := s.UpdateOperator(ctx(t), other); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("UpdateOperator via another tenant: %v, want ErrNotFound", err)
		}
		// The email is part of the identity: changing it through Update is refused and changes nothing.
		moved := o
		moved.Email = "mallory@acme.example"
		if err := s.UpdateOperator(ctx(t), moved); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("UpdateOperator with another email: %v, want ErrNotFound", err)
		}
		if _, err := s.OperatorByEmail(ctx(t), "mallory@acme.example"); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("refused email change was indexed: %v", err)
		}
		got, err = s.GetOperator(ctx(t), "acme", "u1")
		if err != nil {
			t.Fatal(err)
		}
		wantOperator(t, got, o)
	}},
	{"ListOperatorsPerTenant", func(t *testing.T, s store.Store) {
		a1 := operator("acme", "u1", "alice@acme.example", directory.RoleAdmin)
		a2 := operator("acme", "u2", "bob@acme.example", directory.RoleMember)
		g1 := operator("globex", "u1", "carol@globex.example", directory.RoleAdmin)
		// A tenant id that extends another must not leak into its listing.
		x1 := operator("acme2", "u3", "dave@acme2.example", directory.RoleAdmin)
		for _, o := range []directory.Operator{a1, a2, g1, x1} {
			mustCreate(t, s, o)
		}
		list, err := s.ListOperators(ctx(t), "acme")
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(list, func(a, b directory.Operator) int { return strings.Compare(a.ID, b.ID) })
		if len(list) != 2 {
			t.Fatalf("ListOperators(acme) = %d operators %+v, want 2", len(list), list)
		}
		wantOperator(t, list[0], a1)
		wantOperator(t, list[1], a2)
		list, err = s.ListOperators(ctx(t), "globex")
		if err != nil || len(list) != 1 {
			t.Fatalf("ListOperators(globex) = %+v, %v; want 1", list, err)
		}
		wantOperator(t, list[0], g1)
		if list, err := s.ListOperators(ctx(t), "initech"); err != nil || len(list) != 0 {
			t.Fatalf("ListOperators(unknown) = %+v, %v; want none", list, err)
		}
	}},
}
