package sso

import (
	"errors"
	"fmt"
)

// Refused is a verdict, not a failure: the IdP's answer does not prove a sign-in for this tenant (a bad
// signature, another tenant's token, a replayed nonce, ...). Reason is for the log; people see one message.
type Refused struct {
	Reason string
}

func (r *Refused) Error() string { return "sso: sign-in refused: " + r.Reason }

func refuse(format string, args ...any) error { return &Refused{Reason: fmt.Sprintf(format, args...)} }

// IsRefused reports whether err is a verdict (a *Refused).
func IsRefused(err error) bool {
	var r *Refused
	return errors.As(err, &r)
}

// ErrUnavailable marks machinery failures: the IdP could not be reached or answered with a server error.
var ErrUnavailable = errors.New("sso: identity provider unavailable")
