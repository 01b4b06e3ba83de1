package storage

import (
	"fmt"
	"math"
	"syscall"
)

// diskSpace returns the total and usable bytes of the file system holding
// dir, as Java's FileStore getTotalSpace and getUsableSpace report them
// (usable: what an unprivileged user may still write).
func diskSpace(dir string) (total, usable int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1, -1, fmt.Errorf("storage: statfs %s: %w", dir, err)
	}
	return clampBytes(st.Blocks, uint64(st.Bsize)), clampBytes(st.Bavail, uint64(st.Bsize)), nil
}

func clampBytes(blocks, size uint64) int64 {
	if size != 0 && blocks > math.MaxInt64/size {
		return math.MaxInt64
	}
	return int64(blocks * size)
}
