package keys

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreateKeyFileCreates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "vectis")
	path := filepath.Join(dir, "gateway.key")
	key, created, err := LoadOrCreateKeyFile(path, bytes.NewReader(master(9)))
	if err != nil || !created || !bytes.Equal(key, master(9)) {
		t.Fatalf("LoadOrCreateKeyFile = %x, %v, %v", key, created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode %#o, want 0600", perm)
	}
	di, _ := os.Stat(dir)
	if perm := di.Mode().Perm(); perm != 0o700 {
		t.Errorf("key directory mode %#o, want 0700", perm)
	}
	data, _ := os.ReadFile(path)
	if strings.TrimSpace(string(data)) != base64.StdEncoding.EncodeToString(master(9)) {
		t.Errorf("file holds %q", data)
	}
	// No temporary file is left behind.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want 1", len(entries))
	}

	// Second call loads the same key and does not read from r.
	key2, created, err := LoadOrCreateKeyFile(path, bytes.NewReader(nil))
	if err != nil || created || !bytes.Equal(key2, key) {
		t.Fatalf("reload = %x, %v, %v", key2, created, err)
	}
}

func TestLoadOrCreateKeyFileShortRandomSource(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.key")
	if _, _, err := LoadOrCreateKeyFile(path, bytes.NewReader(make([]byte, 10))); err == nil {
		t.Fatal("created a key from 10 random bytes")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a key file was left behind: %v", err)
	}
}

func TestLoadOrCreateKeyFileRefuses(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(master(5)) + "\n"
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		wantErr string
	}{
		{"group readable", good, 0o640, "chmod 600"},
		{"world readable", good, 0o644, "chmod 600"},
		{"group writable", good, 0o620, "chmod 600"},
		{"too short", base64.StdEncoding.EncodeToString(make([]byte, 16)), 0o600, "holds 16 bytes"},
		{"too long", base64.StdEncoding.EncodeToString(make([]byte, 64)), 0o600, "holds 64 bytes"},
		{"empty", "", 0o600, "holds 0 bytes"},
		{"not base64", "this is not a key!!", 0o600, "not base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gateway.key")
			if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(path, tt.mode) // WriteFile's mode is subject to the umask
			key, _, err := LoadOrCreateKeyFile(path, bytes.NewReader(master(1)))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || key != nil {
				t.Fatalf("LoadOrCreateKeyFile = %x, %v; want error containing %q", key, err, tt.wantErr)
			}
			if strings.Contains(err.Error(), strings.TrimSpace(good)) {
				t.Error("error message contains the key")
			}
			// A refused file is left alone, never overwritten with a new key.
			data, _ := os.ReadFile(path)
			if string(data) != tt.content {
				t.Error("refused key file was modified")
			}
		})
	}
}

func TestLoadOrCreateKeyFileAcceptsOwnerOnly(t *testing.T) {
	for _, mode := range []os.FileMode{0o600, 0o400} {
		path := filepath.Join(t.TempDir(), "gateway.key")
		os.WriteFile(path, []byte(" "+base64.StdEncoding.EncodeToString(master(4))+"\n\n"), mode)
		os.Chmod(path, mode)
		key, created, err := LoadOrCreateKeyFile(path, bytes.NewReader(nil))
		if err != nil || created || !bytes.Equal(key, master(4)) {
			t.Errorf("mode %#o: %x, %v, %v", mode, key, created, err)
		}
	}
}

func TestLoadOrCreateKeyFileRefusesDirectory(t *testing.T) {
	path := t.TempDir()
	if _, _, err := LoadOrCreateKeyFile(path, bytes.NewReader(master(1))); err == nil {
		t.Fatal("accepted a directory as the key file")
	}
}
