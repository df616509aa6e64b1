package directory

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
)

// A hash helper is a child process that computes password hashes for the gateway at the lowest CPU priority
// (started under `nice -n 19`), so that a flood of sign-in attempts takes only CPU the proxied traffic
// leaves, and the 19 MiB of garbage of each argon2id check lands in the helper's heap, not the gateway's.
// (bench: under 200 concurrent wrong-password sign-ins, the same hashing in a nice-19 process costs the
// pass-through p99 about 2 × at 100 req/s, against 4 × in-process; docs/performance.md.)
//
// The helper is the gateway's own binary started with HelperEnv set; the package that links the module
// answers it before anything else runs (see caddymodule). One request, one answer, one JSON line each, over
// the child's standard input and output. The helper is only ever a speed-up: if it cannot be started, or an
// answer is late or malformed, that helper is killed and the hash is computed in-process instead.

// HelperEnv marks a process started to serve as a hash helper.
const HelperEnv = "VECTIS_HASH_HELPER"

// helperReady is the helper's first line, so that anything else the binary prints at start is skipped.
const helperReady = "vectis-hash-helper ready"

// helperTimeout bounds one answer (a check takes tens of milliseconds; a starved nice-19 process longer).
var helperTimeout = 10 * time.Second

type helperRequest struct {
	Op       string `json:"op"` // "verify" or "hash"
	Encoded  string `json:"encoded,omitempty"`
	Password string `json:"password"`
	Salt     []byte `json:"salt,omitempty"`
}

type helperResponse struct {
	OK  bool   `json:"ok,omitempty"`
	Key []byte `json:"key,omitempty"`
	Err string `json:"err,omitempty"`
}

// ServeHashHelper answers hash requests read from r on w until r ends (the parent went away).
func ServeHashHelper(r io.Reader, w io.Writer) error {
	out := bufio.NewWriter(w)
	if _, err := fmt.Fprintln(out, helperReady); err != nil {
		return err
	}
	if err := out.Flush(); err != nil {
		return err
	}
	dec := json.NewDecoder(bufio.NewReader(r))
	enc := json.NewEncoder(out)
	for {
		var req helperRequest
		if err := dec.Decode(&req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		var res helperResponse
		switch req.Op {
		case "verify":
			h, err := parseHash(req.Encoded)
			if err != nil {
				res.Err = err.Error()
				break
			}
			res.OK = h.verify(req.Password)
		case "hash":
			if len(req.Salt) != argonSaltLen || len(req.Password) > maxPasswordLen {
				res.Err = "bad hash request"
				break
			}
			res.Key = argon2.IDKey([]byte(req.Password), req.Salt, argonTime, argonMemory, argonThreads, argonKeyLen)
		default:
			res.Err = "unknown operation"
		}
		if err := enc.Encode(res); err != nil {
			return err
		}
		if err := out.Flush(); err != nil {
			return err
		}
	}
}

// helperPool runs the process-wide hashers' work in helper processes, one per slot, started on first use.
type helperPool struct {
	argv []string
	env  []string
	idle chan *helperProc
	// failures counts helpers that could not start or answer (each time the hash was done in-process; tests).
	failures atomic.Int64
}

type helperProc struct {
	cmd *exec.Cmd
	in  *os.File
	out *os.File
	rd  *bufio.Reader
}

var helpers atomic.Pointer[helperPool]

var useHelperOnce sync.Once

// UseHashHelper makes every NewHasher(0) hasher of this process compute in helper processes started as
// argv with HelperEnv=1 (under `nice -n 19` where nice exists). Only the first call counts.
func UseHashHelper(argv []string) {
	useHelperOnce.Do(func() {
		if len(argv) == 0 {
			return
		}
		helpers.Store(newHelperPool(argv, nil, cap(sharedSlots())))
	})
}

func newHelperPool(argv, env []string, slots int) *helperPool {
	if nice, err := exec.LookPath("nice"); err == nil {
		argv = append([]string{nice, "-n", "19"}, argv...)
	}
	env = append(append(os.Environ(), env...), HelperEnv+"=1", "GOMAXPROCS=1")
	return &helperPool{argv: argv, env: env, idle: make(chan *helperProc, slots)}
}

// do sends req to an idle helper (starting one if none is idle) and returns its answer.
func (p *helperPool) do(req helperRequest) (helperResponse, error) {
	var hp *helperProc
	select {
	case hp = <-p.idle:
	default:
		var err error
		if hp, err = p.start(); err != nil {
			p.failures.Add(1)
			return helperResponse{}, err
		}
	}
	res, err := hp.ask(req)
	if err != nil {
		hp.kill()
		p.failures.Add(1)
		return helperResponse{}, err
	}
	select {
	case p.idle <- hp:
	default:
		hp.kill()
	}
	return res, nil
}

func (p *helperPool) start() (*helperProc, error) {
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Env = p.env
	cmd.Stderr = os.Stderr
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	cmd.Stdin, cmd.Stdout = inR, outW
	if err := cmd.Start(); err != nil {
		inR.Close()
		inW.Close()
		outR.Close()
		outW.Close()
		return nil, err
	}
	inR.Close()
	outW.Close()
	hp := &helperProc{cmd: cmd, in: inW, out: outR, rd: bufio.NewReader(outR)}
	go func() { _ = cmd.Wait() }()
	// Skip whatever the binary prints before it serves (nothing, normally), up to the ready line.
	_ = outR.SetReadDeadline(time.Now().Add(helperTimeout))
	for i := 0; ; i++ {
		line, err := hp.rd.ReadString('\n')
		if err != nil || i > 100 {
			hp.kill()
			return nil, fmt.Errorf("hash helper did not start: %v", err)
		}
		if line == helperReady+"\n" {
			return hp, nil
		}
	}
}

func (hp *helperProc) ask(req helperRequest) (helperResponse, error) {
	var res helperResponse
	b, err := json.Marshal(req)
	if err != nil {
		return res, err
	}
	deadline := time.Now().Add(helperTimeout)
	_ = hp.in.SetWriteDeadline(deadline)
	if _, err := hp.in.Write(append(b, '\n')); err != nil {
		return res, err
	}
	_ = hp.out.SetReadDeadline(deadline)
	line, err := hp.rd.ReadBytes('\n')
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal(line, &res); err != nil {
		return res, errors.New("hash helper: malformed answer")
	}
	return res, nil
}

func (hp *helperProc) kill() {
	_ = hp.cmd.Process.Kill()
	hp.in.Close()
	hp.out.Close()
}
