//go:build linux || darwin || freebsd || netbsd || openbsd

package api

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// diskUsage reports the space of the file system holding path, or the
// file system it will be created on when it does not exist yet (with a
// PostgreSQL store the data directory only holds local state files).
func diskUsage(path string) *DiskUsage {
	d := &DiskUsage{Path: path}
	dir, err := filepath.Abs(path)
	if err != nil {
		d.Error = err.Error()
		return d
	}
	for {
		if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
			break
		}
		dir = filepath.Dir(dir)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		d.Error = err.Error()
		return d
	}
	bsize := uint64(st.Bsize)
	d.FreeBytes, d.TotalBytes = uint64(st.Bavail)*bsize, uint64(st.Blocks)*bsize
	return d
}
