package pgtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// binDirEnv names the environment variable that, when set, is the only
// directory searched for the server's binaries.
const binDirEnv = "PGTEST_BINDIR"

// debianBinDirs matches the binary directories of Debian's PostgreSQL
// packages, one per major version.
const debianBinDirs = "/usr/lib/postgresql/*/bin"

// serverBinaries are the programs a test server needs.
var serverBinaries = []string{"initdb", "postgres"}

var binDirOnce struct {
	sync.Once
	dir string
	err error
}

// binDir returns the directory holding initdb and postgres, installing
// Debian's postgresql package first when there is none (once per process).
func binDir() (string, error) {
	binDirOnce.Do(func() {
		binDirOnce.dir, binDirOnce.err = findOrInstall()
	})
	return binDirOnce.dir, binDirOnce.err
}

// findOrInstall looks for the server's binaries and, as root, installs
// Debian's postgresql package when there are none.
func findOrInstall() (string, error) {
	if dir := os.Getenv(binDirEnv); dir != "" {
		if !hasServerBinaries(dir) {
			return "", fmt.Errorf("%s=%s has no %s", binDirEnv, dir, strings.Join(serverBinaries, " and "))
		}
		return dir, nil
	}
	if dir := findBinDir(); dir != "" {
		return dir, nil
	}
	if os.Geteuid() != 0 {
		return "", errors.New("no PostgreSQL server binaries (initdb, postgres) found with pg_config, under " +
			debianBinDirs + " or on PATH, and installing them needs root: " +
			"run 'apt-get install --no-install-recommends postgresql' as root, " +
			"or set " + binDirEnv + " to the directory that holds them")
	}
	// DPkg::Lock::Timeout waits for other test processes installing
	// packages at the same time instead of failing on the lock.
	cmd := exec.Command("sh", "-c", "apt-get -o DPkg::Lock::Timeout=600 update && "+
		"apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends postgresql")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("no PostgreSQL server binaries found, and 'apt-get install postgresql' failed: %w\n%s", err, tail(out, 2000))
	}
	if dir := findBinDir(); dir != "" {
		return dir, nil
	}
	return "", errors.New("apt-get installed postgresql, but no initdb and postgres were found with pg_config, under " +
		debianBinDirs + " or on PATH")
}

// findBinDir returns the first directory holding the server's binaries:
// pg_config's bindir, else the highest version of Debian's layout, else
// that of postgres on PATH; "" when there is none.
func findBinDir() string {
	var candidates []string
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	if dirs, err := filepath.Glob(debianBinDirs); err == nil {
		candidates = append(candidates, byVersionDesc(dirs)...)
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		candidates = append(candidates, filepath.Dir(p))
	}
	for _, dir := range candidates {
		if hasServerBinaries(dir) {
			return dir
		}
	}
	return ""
}

// hasServerBinaries reports whether dir holds every server binary as an
// executable file.
func hasServerBinaries(dir string) bool {
	for _, name := range serverBinaries {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// byVersionDesc orders directories like /usr/lib/postgresql/<version>/bin
// by version, highest first; versions compare numerically part by part, so
// 16 comes before 9.6.
func byVersionDesc(dirs []string) []string {
	version := func(dir string) []int {
		var v []int
		for _, part := range strings.Split(filepath.Base(filepath.Dir(dir)), ".") {
			n, err := strconv.Atoi(part)
			if err != nil {
				return nil
			}
			v = append(v, n)
		}
		return v
	}
	out := slices.Clone(dirs)
	slices.SortStableFunc(out, func(a, b string) int {
		return slices.Compare(version(b), version(a))
	})
	return out
}

// tail returns the last n bytes of b.
func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
