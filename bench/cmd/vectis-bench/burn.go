package main

import (
	"flag"
	"fmt"
	"time"

	"golang.org/x/crypto/argon2"
)

// burnMain is the "floor" of the login-under-attack measurement: one process, apart from the gateway, doing
// nothing but argon2id with the gateway's parameters (m=19 MiB, t=2, p=1) back to back, one hash at a time,
// started under `nice -n 19` (so every thread of it, argon2's own goroutines' included, runs lowered) — what
// the gateway's hashing does under the attack, without the gateway. The pass-through probe
// beside it shows what one core of password hashing costs the pass-through on this machine by itself: no
// gateway design that hashes at that rate can do better.
func burnMain(args []string) int {
	fs := flag.NewFlagSet("burn", flag.ContinueOnError)
	d := fs.Duration("duration", 10*time.Second, "how long to hash")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	n := 0
	for end := time.Now().Add(*d); time.Now().Before(end); n++ {
		_ = argon2.IDKey([]byte("wrong password"), []byte("0123456789abcdef"), 2, 19*1024, 1, 32)
	}
	fmt.Printf("{\"hashes\":%d}\n", n)
	return 0
}
