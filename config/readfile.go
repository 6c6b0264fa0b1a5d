package config

import (
	"fmt"
	"io"
	"os"
)

// Bounds of the files a configuration reads: a PEM file holds a few
// certificates, a configuration a few hundred lines. A path naming a
// device or a pipe (`cert: /dev/zero`) or a huge file would otherwise hang
// or exhaust `triad check-config` and the node's start.
const (
	maxPEMFile    = 1 << 20 // 1 MiB
	maxConfigFile = 4 << 20 // 4 MiB
)

// readFileBounded reads file, which must be a regular file of at most max
// bytes.
func readFileBounded(file string, max int64) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close() // read only: a close error loses nothing
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s)", file, st.Mode().Type())
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", file, max)
	}
	return data, nil
}
