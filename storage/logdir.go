package storage

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Files at the top of every log dir, named as Kafka names them.
const (
	lockFile           = ".lock"
	metaPropertiesFile = "meta.properties"
)

// ErrLogDirLocked is returned when another process holds a log dir.
var ErrLogDirLocked = errors.New("storage: log dir is in use by another process")

// lockLogDir takes an exclusive advisory lock on dir for as long as the
// returned file stays open, so two brokers never share a log dir.
func lockLogDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("storage: open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLogDirLocked, dir)
		}
		return nil, fmt.Errorf("storage: lock %s: %w", dir, err)
	}
	return f, nil
}

// loadDirectoryID returns the directory.id of dir's meta.properties,
// creating the file with a fresh random id the first time.
func loadDirectoryID(dir string) (string, error) {
	path := filepath.Join(dir, metaPropertiesFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		var raw [16]byte
		_, _ = rand.Read(raw[:])
		id := base64.RawURLEncoding.EncodeToString(raw[:])
		content := fmt.Sprintf("#kafkad log directory\nversion=1\ndirectory.id=%s\n", id)
		return id, writeFileAtomic(path, []byte(content))
	}
	if err != nil {
		return "", fmt.Errorf("storage: read %s: %w", path, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "directory.id="); ok && v != "" {
			return v, nil
		}
	}
	return "", fmt.Errorf("storage: %s has no directory.id", path)
}
