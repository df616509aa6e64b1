package keys

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// LoadOrCreateKeyFile reads a base64 master key from path, or, when path does not exist, creates it with
// MasterSize bytes from r (crypto/rand.Reader in production): file mode 0600, parent directories 0700.
// An existing file is refused if it does not hold exactly MasterSize bytes or if group or others may read
// or write it — a key anyone on the machine can read protects nothing.
func LoadOrCreateKeyFile(path string, r io.Reader) (key []byte, created bool, err error) {
	key, err = loadKeyFile(path)
	if err == nil {
		return key, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}

	key = make([]byte, MasterSize)
	if _, err := io.ReadFull(r, key); err != nil {
		return nil, false, fmt.Errorf("generating key for %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("creating key directory: %w", err)
	}
	// Write a temporary file and hard-link it into place: the key file appears complete or not at all, and
	// if another process created one meanwhile, Link fails and that key wins for both of us.
	tmp, err := os.CreateTemp(dir, ".key-*") // CreateTemp uses mode 0600
	if err != nil {
		return nil, false, fmt.Errorf("creating key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, false, fmt.Errorf("writing key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			key, err = loadKeyFile(path)
			return key, false, err
		}
		return nil, false, fmt.Errorf("creating key file: %w", err)
	}
	return key, true, nil
}

func loadKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s is not a regular file", path)
	}
	// Windows has no Unix permission bits; its ACLs are out of scope here.
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("key file %s has mode %#o, so other users can read or change it; run: chmod 600 %s", path, perm, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading key file: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("key file %s is not base64 (it should hold one line: 32 random bytes, base64-encoded)", path)
	}
	if len(key) != MasterSize {
		return nil, fmt.Errorf("key file %s holds %d bytes; it must hold exactly %d (base64-encoded)", path, len(key), MasterSize)
	}
	return key, nil
}
