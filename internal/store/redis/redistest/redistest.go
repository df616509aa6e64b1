// Package redistest runs a real, throwaway redis-server on a free loopback port for tests, and can stop
// and restart it on the same port to play an outage.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Binary is the redis-server used; REDIS_SERVER in the environment overrides it.
var Binary = "/usr/bin/redis-server"

// Server is one redis-server process owned by a test.
type Server struct {
	t    testing.TB
	port int
	dir  string
	// argv gives redis-server's arguments for one start (the port is known by then).
	argv func(s *Server) ([]string, error)

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	log  *os.File
}

// Start launches redis-server without persistence on a free loopback port and waits until it answers
// PING. The server is killed when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, func(s *Server) ([]string, error) { return s.plainArgs(), nil })
}

// StartAOF is Start with append-only persistence, fsync'd on every write (the documented production
// setting): data survives Stop and Restart, which the outage tests use to show that lockout counters
// and used TOTP steps outlive a Redis crash.
func StartAOF(t testing.TB) *Server {
	t.Helper()
	return start(t, func(s *Server) ([]string, error) {
		args := s.plainArgs()
		for i, a := range args {
			if a == "--appendonly" {
				args[i+1] = "yes"
			}
		}
		return append(args, "--appendfsync", "always"), nil
	})
}

func (s *Server) plainArgs() []string {
	return []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
	}
}

func binary() string {
	if env := os.Getenv("REDIS_SERVER"); env != "" {
		return env
	}
	return Binary
}

func start(t testing.TB, argv func(s *Server) ([]string, error)) *Server {
	t.Helper()
	bin := binary()
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("redistest: redis-server not found at %s (set REDIS_SERVER): %v", bin, err)
	}
	s := &Server{t: t, dir: t.TempDir(), argv: argv}
	// A port picked by the kernel can be taken by someone else before redis-server binds it; try again.
	var err error
	for range 5 {
		s.port, err = freePort()
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		if err = s.start(bin); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Addr is host:port of the server.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL is a redis:// URL for database 0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Stop kills the server (an outage: no clean shutdown). Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
	if s.log != nil {
		_ = s.log.Close()
		s.log = nil
	}
}

// Restart stops the server if it runs and starts it again on the same port: empty after Start,
// with its data after StartAOF.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	bin := binary()
	// The old socket may linger briefly; redis-server sets SO_REUSEADDR, but retry a few times anyway.
	var err error
	for range 20 {
		if err = s.start(bin); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("redistest: restart on port %d: %v", s.port, err)
}

func (s *Server) start(bin string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	logf, err := os.OpenFile(filepath.Join(s.dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	args, err := s.argv(s)
	if err != nil {
		logf.Close()
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The PID check makes sure the answer comes from our process, not another test's server that
		// grabbed the port after ours failed to bind it.
		if pid, ok := ping(s.Addr()); ok && pid == cmd.Process.Pid {
			s.cmd, s.done, s.log = cmd, done, logf
			return nil
		}
		select {
		case <-done:
			logf.Close()
			return fmt.Errorf("redis-server on port %d exited at start; log: %s", s.port, tail(filepath.Join(s.dir, "redis.log")))
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			logf.Close()
			return fmt.Errorf("redis-server on port %d did not answer PING within 10s", s.port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ping speaks just enough RESP to send PING, expect +PONG, and read the server's process id from INFO.
func ping(addr string) (pid int, ok bool) {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return 0, false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\nINFO server\r\n")); err != nil {
		return 0, false
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "+PONG" {
		return 0, false
	}
	head, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(head, "$") {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(head[1:]))
	if err != nil || n < 0 {
		return 0, false
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(body), "\n") {
		if v, found := strings.CutPrefix(strings.TrimSpace(l), "process_id:"); found {
			pid, err := strconv.Atoi(v)
			return pid, err == nil
		}
	}
	return 0, false
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("listener has no TCP address")
	}
	return addr.Port, nil
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
