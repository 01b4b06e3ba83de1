package storage

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// partitionMetadataFile holds the topic id, in Kafka's format.
const partitionMetadataFile = "partition.metadata"

// writePartitionMetadata writes "version: 0\ntopic_id: <id>\n", the id in
// unpadded base64url as Kafka's Uuid.toString prints it.
func writePartitionMetadata(dir string, id [16]byte) error {
	data := fmt.Appendf(nil, "version: 0\ntopic_id: %s\n", base64.RawURLEncoding.EncodeToString(id[:]))
	return writeFileAtomic(filepath.Join(dir, partitionMetadataFile), data)
}

// readPartitionMetadata returns ok=false when the file does not exist.
func readPartitionMetadata(dir string) ([16]byte, bool, error) {
	data, err := os.ReadFile(filepath.Join(dir, partitionMetadataFile))
	if errors.Is(err, os.ErrNotExist) {
		return [16]byte{}, false, nil
	}
	if err != nil {
		return [16]byte{}, false, fmt.Errorf("storage: read partition metadata: %w", err)
	}
	id, err := parsePartitionMetadata(data)
	return id, err == nil, err
}

func parsePartitionMetadata(data []byte) ([16]byte, error) {
	var id [16]byte
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) != 2 || strings.TrimSpace(lines[0]) != "version: 0" {
		return id, fmt.Errorf("storage: malformed %s", partitionMetadataFile)
	}
	enc, ok := strings.CutPrefix(strings.TrimSpace(lines[1]), "topic_id: ")
	if !ok {
		return id, fmt.Errorf("storage: malformed %s: no topic_id", partitionMetadataFile)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil || len(raw) != len(id) {
		return id, fmt.Errorf("storage: malformed %s topic_id %q", partitionMetadataFile, enc)
	}
	copy(id[:], raw)
	return id, nil
}
