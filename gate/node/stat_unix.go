//go:build unix

package node

import (
	"fmt"
	"os"
	"syscall"
)

// OSStat reads a file's mode and owner from the file system (without following a final
// symlink: its own owner and mode are what protect it).
func OSStat(p string) (Info, error) {
	st, err := os.Lstat(p)
	if err != nil {
		return Info{}, err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return Info{}, fmt.Errorf("%s: no owner information on this system", p)
	}
	return Info{Mode: st.Mode(), UID: int(sys.Uid), GID: int(sys.Gid)}, nil
}
