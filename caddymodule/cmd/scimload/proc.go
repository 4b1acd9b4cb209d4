package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat on Linux.
const userHZ = 100

// statFields returns the pid, the parent pid and utime+stime (in ticks)
// from the text of /proc/<pid>/stat. The command name in parentheses may
// hold spaces or ')' itself, so the fields are counted after its last ')'.
func statFields(text string) (pid, ppid int, ticks uint64, err error) {
	lp, rp := strings.IndexByte(text, '('), strings.LastIndexByte(text, ')')
	if lp <= 0 || rp < lp {
		return 0, 0, 0, errors.New("malformed stat: no command name")
	}
	if pid, err = strconv.Atoi(strings.TrimSpace(text[:lp])); err != nil {
		return 0, 0, 0, err
	}
	// After the name: state(3) ppid(4) … utime(14) stime(15).
	f := strings.Fields(text[rp+1:])
	if len(f) < 13 {
		return 0, 0, 0, errors.New("malformed stat: too few fields")
	}
	if ppid, err = strconv.Atoi(f[1]); err != nil {
		return 0, 0, 0, err
	}
	for _, s := range f[11:13] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, 0, 0, err
		}
		ticks += v
	}
	return pid, ppid, ticks, nil
}

// treeTicks is the CPU time, in ticks, of root and every process below it
// that is running now (a child that exited during a phase takes its time
// with it, unless root waited for it: then it is in root's cutime, which
// this does not count; caddy's backend processes live as long as it does).
func treeTicks(root int) (uint64, int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0, err
	}
	parent := map[int]int{}
	ticks := map[int]uint64{}
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		pid, ppid, t, err := statFields(string(b))
		if err != nil {
			continue
		}
		parent[pid], ticks[pid] = ppid, t
	}
	if _, ok := ticks[root]; !ok {
		return 0, 0, errors.New("caddy is not running")
	}
	var sum uint64
	n := 0
	for pid, t := range ticks {
		for p := pid; p > 1; p = parent[p] {
			if p == root {
				sum += t
				n++
				break
			}
		}
	}
	return sum, n, nil
}

// memKiB reads pid's resident memory from /proc: VmRSS, its anonymous
// part (heap, stacks: the process's own) and its file-backed part (mapped
// files, such as the store's tables, which the kernel can drop), and
// VmHWM, the highest VmRSS so far.
func memKiB(pid int) (rss, anon, file, peak int64) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, 0, 0
	}
	s := string(b)
	return statusKiB(s, "VmRSS"), statusKiB(s, "RssAnon"), statusKiB(s, "RssFile"), statusKiB(s, "VmHWM")
}

// statusKiB finds "<key>: <n> kB" in a /proc/<pid>/status text; 0 if
// absent.
func statusKiB(status, key string) int64 {
	_, rest, ok := strings.Cut(status, "\n"+key+":")
	if !ok {
		return 0
	}
	line, _, _ := strings.Cut(rest, "\n")
	n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(line), " kB"), 10, 64)
	return n
}

// diskUse is the apparent size of the files below dir and the space they
// take on disk (allocated blocks, as du counts them), in bytes.
func diskUse(dir string) (apparent, allocated int64) {
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		apparent += fi.Size()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			allocated += st.Blocks * 512
		}
		return nil
	})
	return apparent, allocated
}

// selfCPU is the CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// busyTicks is the time all CPUs of the machine spent busy, from the
// first line of /proc/stat.
func busyTicks() uint64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy uint64
	for i, s := range f {
		// user nice system idle iowait irq softirq steal
		if i == 0 || i == 4 || i == 5 || i > 8 {
			continue
		}
		v, _ := strconv.ParseUint(s, 10, 64)
		busy += v
	}
	return busy
}

// Machine describes where a run took place.
type Machine struct {
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model"`
	MemGiB   string `json:"mem_gib"`
	Go       string `json:"go"`
	Kernel   string `json:"kernel"`
	LoadAvg  string `json:"loadavg_at_start"`
}

func describeMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), LoadAvg: firstFields("/proc/loadavg", 3)}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if _, rest, ok := strings.Cut(string(b), "MemTotal:"); ok {
			kb, _ := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			m.MemGiB = strconv.FormatFloat(kb/(1<<20), 'f', 1, 64)
		}
	}
	m.Kernel = firstFields("/proc/sys/kernel/osrelease", 1)
	return m
}

func firstFields(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(n, len(f))], " ")
}
