//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package api

// diskUsage says the space cannot be read on this system.
func diskUsage(path string) *DiskUsage {
	return &DiskUsage{Path: path, Error: "disk space is not read on this operating system"}
}
