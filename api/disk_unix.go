//go:build linux || darwin || freebsd || netbsd || openbsd

package api

import "golang.org/x/sys/unix"

// diskUsage reports the space of the file system holding path.
func diskUsage(path string) *DiskUsage {
	d := &DiskUsage{Path: path}
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		d.Error = err.Error()
		return d
	}
	bsize := uint64(st.Bsize)
	d.FreeBytes, d.TotalBytes = uint64(st.Bavail)*bsize, uint64(st.Blocks)*bsize
	return d
}
