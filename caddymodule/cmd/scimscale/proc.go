package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// Linux fixes it at 100 for user space on every architecture it reports
// to through /proc.
const clockTicks = 100

// procStat is the part of /proc/<pid>/stat the tool reads.
type procStat struct {
	PID   int
	Comm  string
	State string
	PPID  int
	PGRP  int
	// UTime and STime are the CPU time the process has used in user and
	// kernel mode, in clock ticks.
	UTime uint64
	STime uint64
}

// CPUTicks is the process's user plus system time in clock ticks.
func (s procStat) CPUTicks() uint64 { return s.UTime + s.STime }

// parseStat reads one /proc/<pid>/stat line. The command name sits in
// parentheses and may itself contain spaces and parentheses, so the fields
// after it are counted from the last ')'.
func parseStat(line string) (procStat, error) {
	open := strings.IndexByte(line, '(')
	end := strings.LastIndexByte(line, ')')
	if open < 1 || end < open {
		return procStat{}, fmt.Errorf("stat line %q: no (comm)", clipString(line))
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line[:open]))
	if err != nil {
		return procStat{}, fmt.Errorf("stat line %q: pid: %v", clipString(line), err)
	}
	// Field k of stat(5), counted from 1, is rest[k-3].
	rest := strings.Fields(line[end+1:])
	if len(rest) < 13 {
		return procStat{}, fmt.Errorf("stat line %q: %d fields after the command name, want at least 13", clipString(line), len(rest))
	}
	s := procStat{PID: pid, Comm: line[open+1 : end], State: rest[0]}
	ints := []struct {
		field int
		dst   *int
	}{{4, &s.PPID}, {5, &s.PGRP}}
	for _, f := range ints {
		if *f.dst, err = strconv.Atoi(rest[f.field-3]); err != nil {
			return procStat{}, fmt.Errorf("stat line %q: field %d: %v", clipString(line), f.field, err)
		}
	}
	uints := []struct {
		field int
		dst   *uint64
	}{{14, &s.UTime}, {15, &s.STime}}
	for _, f := range uints {
		if *f.dst, err = strconv.ParseUint(rest[f.field-3], 10, 64); err != nil {
			return procStat{}, fmt.Errorf("stat line %q: field %d: %v", clipString(line), f.field, err)
		}
	}
	return s, nil
}

// errNoRSS is what parseVmRSS returns for a process without memory of its
// own: a kernel thread or a zombie.
var errNoRSS = errors.New("no VmRSS line")

// parseVmRSS returns the VmRSS of a /proc/<pid>/status text, in KiB.
func parseVmRSS(status string) (int64, error) {
	for line := range strings.Lines(status) {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("VmRSS line %q: want <n> kB", strings.TrimSpace(line))
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, errNoRSS
}

// parseCmdline splits a /proc/<pid>/cmdline into its arguments.
func parseCmdline(b []byte) []string {
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil
	}
	return strings.Split(string(b), "\x00")
}

// backendName returns NAME for the command line of a built-in backend
// process, "<binary> scim-backend NAME", and false for any other.
func backendName(args []string) (string, bool) {
	for i, a := range args {
		if a == "scim-backend" {
			if i+1 < len(args) {
				return args[i+1], true
			}
			return "", true
		}
	}
	return "", false
}

// proc is one process as the tool saw it at one moment.
type proc struct {
	procStat
	Args  []string
	RSSKB int64
}

// procTable reads every process under root, a /proc directory.
func procTable(root string) (map[int]procStat, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	out := map[int]procStat{}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, e.Name(), "stat"))
		if err != nil {
			continue // gone since the listing
		}
		s, err := parseStat(string(b))
		if err != nil {
			return nil, err
		}
		out[s.PID] = s
	}
	return out, nil
}

// descendants returns the processes below pid in table, nearest first and
// in pid order within a generation.
func descendants(table map[int]procStat, pid int) []int {
	children := map[int][]int{}
	for p, s := range table {
		children[s.PPID] = append(children[s.PPID], p)
	}
	var out []int
	level := []int{pid}
	for len(level) > 0 {
		var next []int
		for _, p := range level {
			c := children[p]
			sort.Ints(c)
			next = append(next, c...)
		}
		out = append(out, next...)
		level = next
	}
	return out
}

// snapshot reads pid and its descendants: their CPU time, RSS and command
// lines. A process that exits while it is read is left out.
func snapshot(pid int) ([]proc, error) {
	table, err := procTable("/proc")
	if err != nil {
		return nil, err
	}
	if _, ok := table[pid]; !ok {
		return nil, fmt.Errorf("process %d is not running", pid)
	}
	var out []proc
	for _, p := range append([]int{pid}, descendants(table, pid)...) {
		dir := filepath.Join("/proc", strconv.Itoa(p))
		st, err1 := os.ReadFile(filepath.Join(dir, "stat"))
		status, err2 := os.ReadFile(filepath.Join(dir, "status"))
		cmdline, err3 := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err := errors.Join(err1, err2, err3); err != nil {
			if p == pid {
				return nil, err
			}
			continue
		}
		s, err := parseStat(string(st))
		if err != nil {
			return nil, err
		}
		rss, err := parseVmRSS(string(status))
		if err != nil && !errors.Is(err, errNoRSS) {
			return nil, fmt.Errorf("/proc/%d/status: %w", p, err)
		}
		out = append(out, proc{procStat: s, Args: parseCmdline(cmdline), RSSKB: rss})
	}
	return out, nil
}

// processAlive reports whether pid is a running process (not a zombie).
func processAlive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	s, err := parseStat(string(b))
	return err == nil && s.State != "Z" && s.State != "X"
}

func clipString(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

// parseCPUTotals reads the aggregate "cpu" line of /proc/stat and returns
// the ticks all CPUs spent busy (user, nice, system, irq, softirq, steal)
// and idle (idle, iowait).
func parseCPUTotals(procStat string) (busy, idle uint64, err error) {
	for line := range strings.Lines(procStat) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "cpu" {
			continue
		}
		if len(f) < 9 {
			return 0, 0, fmt.Errorf("/proc/stat cpu line %q: too few fields", strings.TrimSpace(line))
		}
		var v [8]uint64
		for i := range v {
			if v[i], err = strconv.ParseUint(f[i+1], 10, 64); err != nil {
				return 0, 0, fmt.Errorf("/proc/stat cpu line: %w", err)
			}
		}
		return v[0] + v[1] + v[2] + v[5] + v[6] + v[7], v[3] + v[4], nil
	}
	return 0, 0, errors.New("/proc/stat has no cpu line")
}

// machineBusy returns the busy ticks of all CPUs so far.
func machineBusy() uint64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	busy, _, _ := parseCPUTotals(string(b))
	return busy
}

// loadAvg returns the first three fields of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}
