// Command replay-go replays a memcompare binary trace (format v1, docs/trace-format.md) in the
// real Go runtime and prints one JSON object per replay on stdout (the native replayer
// contract, docs/native.md). Usage:
//
//	GOGC=100 GOMEMLIMIT=64MiB GOMAXPROCS=4 replay-go TRACE_FILE REPLAYS
//
// The register array is the program's whole root set (DESIGN.md §3): writing a register drops
// what it held, FREE is a CLEAR (the collector finds death by reachability), WORK spins on the
// monotonic clock for its nanoseconds.
//
// Object layout: an ALLOC of (size, nslots) is
//
//	type Obj struct { slots []*Obj; payload []byte }   // 48-byte header, size class 48
//
// plus a []*Obj backing array of nslots pointers when nslots > 0 (scanned) and a zeroed []byte
// of size bytes when size > 0 (noscan, so the collector never scans the payload). That is
// 1 + (nslots > 0) + (size > 0) heap allocations per object: Go has no dynamically sized type
// that puts pointers and a pointer-free tail in one allocation without reflect.StructOf (a
// new type per shape). The payload is written once per 4 KiB page (one byte of a small one), so
// that its memory is resident as in a program that fills it. The `local` flag is ignored: an interpreter has no frame to give the
// object, so it is a plain heap ALLOC (escape analysis cannot apply to interpreted code).
//
// The trace is decoded before the clock starts into an anonymous mmap (pointer-free records
// outside the Go heap), so it is neither scanned nor counted in the heap goal.
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// Obj is one trace object (see the layout above).
type Obj struct {
	slots   []*Obj
	payload []byte
}

// ev is one decoded event, pointer-free, living in mmap'd memory.
type ev struct {
	a, b, c int64
	op      uint8
	_       [7]byte
}

const (
	opAlloc = 0
	opLoad  = 1
	opStore = 2
	opMove  = 3
	opClear = 4
	opFree  = 5
	opWork  = 6
)

// regs is the whole root set.
var regs []*Obj

func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "replay-go: "+format+"\n", args...)
	os.Exit(2)
}

// headerInt finds the integer after "key": in the header JSON (a minimal parse).
func headerInt(h []byte, key string) int64 {
	k := []byte(`"` + key + `"`)
	i := bytes.Index(h, k)
	if i < 0 {
		die("header has no %q", key)
	}
	rest := bytes.TrimLeft(h[i+len(k):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		die("header: no ':' after %q", key)
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	j := 0
	for j < len(rest) && (rest[j] == '-' || (rest[j] >= '0' && rest[j] <= '9')) {
		j++
	}
	v, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	if err != nil {
		die("header: %q is not an integer", key)
	}
	return v
}

// load maps the trace file and decodes it into an anonymous mapping; returns the events and
// the number of registers.
func load(path string) ([]ev, int) {
	f, err := os.Open(path)
	if err != nil {
		die("cannot open the trace: %v", err)
	}
	st, err := f.Stat()
	if err != nil {
		die("cannot stat the trace: %v", err)
	}
	size := st.Size()
	if size < 20 {
		die("%s: not a memcompare binary trace (too short)", path)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_PRIVATE)
	if err != nil {
		die("cannot map the trace: %v", err)
	}
	f.Close()
	if string(data[:8]) != "MCTRACE\x00" {
		die("%s: not a memcompare binary trace (bad magic)", path)
	}
	le := binary.LittleEndian
	if v := le.Uint32(data[8:]); v != 1 {
		die("%s: unsupported format version %d (this replayer reads 1)", path, v)
	}
	h := int64(le.Uint32(data[12:]))
	if 20+h > size {
		die("%s: truncated header", path)
	}
	header := data[20 : 20+h]
	n := headerInt(header, "events")
	nregs := headerInt(header, "registers")
	body := 20 + h
	if n < 0 || nregs < 0 || body+50*n != size {
		die("%s: %d events need %d body bytes, the file has %d", path, n, 50*n, size-body)
	}
	var evs []ev
	if n > 0 {
		mem, err := syscall.Mmap(-1, 0, int(n)*int(unsafe.Sizeof(ev{})),
			syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
		if err != nil {
			die("cannot map %d events: %v", n, err)
		}
		evs = unsafe.Slice((*ev)(unsafe.Pointer(&mem[0])), n)
		op := data[body : body+n]
		a := data[body+2*n : body+10*n]
		b := data[body+10*n : body+18*n]
		c := data[body+18*n : body+26*n]
		for i := int64(0); i < n; i++ {
			e := &evs[i]
			e.op = op[i]
			if e.op > opWork {
				die("%s: event %d: op code %d out of range 0..6", path, i, e.op)
			}
			e.a = int64(le.Uint64(a[8*i:]))
			e.b = int64(le.Uint64(b[8*i:]))
			e.c = int64(le.Uint64(c[8*i:]))
		}
	}
	syscall.Munmap(data)
	return evs, int(nregs)
}

type digest struct {
	Objects      int64 `json:"objects"`
	LoadsNonnull int64 `json:"loads_nonnull"`
	Bytes        int64 `json:"bytes"`
}

// replay runs the events once against the global registers. It is the timed loop.
func replay(evs []ev) digest {
	var d digest
	r := regs
	for i := range evs {
		e := &evs[i]
		switch e.op {
		case opAlloc:
			o := &Obj{}
			if e.c > 0 {
				o.slots = make([]*Obj, e.c)
			}
			if e.b > 0 {
				p := make([]byte, e.b)
				// write the payload once per 4 KiB page, as a program filling it would:
				// Go does not zero fresh pages from the OS, so untouched payloads would
				// never become resident (the other runtimes zero, hence touch, eagerly)
				for j := 0; j < len(p); j += 4096 {
					p[j] = 1
				}
				o.payload = p
			}
			r[e.a] = o
			d.Objects++
			d.Bytes += e.b + 8*e.c
		case opLoad:
			v := r[e.b].slots[e.c]
			if v != nil {
				d.LoadsNonnull++
			}
			r[e.a] = v
		case opStore:
			if e.c < 0 {
				r[e.a].slots[e.b] = nil
			} else {
				r[e.a].slots[e.b] = r[e.c]
			}
		case opMove:
			r[e.a] = r[e.b]
		case opClear, opFree:
			r[e.a] = nil
		case opWork:
			if e.a > 0 {
				deadline := nanotime() + e.a
				for nanotime() < deadline {
				}
			}
		}
	}
	return d
}

//go:linkname nanotime runtime.nanotime
func nanotime() int64

// procStatus reads a "Key:   N kB" line of /proc/self/status, in bytes (-1 when absent).
func procStatus(key string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, key+":") {
			f := strings.Fields(line[len(key)+1:])
			if len(f) >= 1 {
				v, err := strconv.ParseInt(f[0], 10, 64)
				if err == nil {
					return v * 1024
				}
			}
		}
	}
	return -1
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

var sampleNames = []string{
	"/gc/cycles/total:gc-cycles",
	"/gc/cycles/automatic:gc-cycles",
	"/gc/cycles/forced:gc-cycles",
	"/gc/heap/allocs:bytes",
}

type result struct {
	Replay      int               `json:"replay"`
	WallTimeS   float64           `json:"wall_time_s"`
	CPUTimeS    float64           `json:"cpu_time_s"`
	GCCount     *uint64           `json:"gc_count"`
	GCCounts    map[string]uint64 `json:"gc_counts"`
	PausesS     []float64         `json:"pauses_s"`
	PauseSource *string           `json:"pause_source"`
	FootprintPk int64             `json:"footprint_peak_bytes"`
	RSSBefore   int64             `json:"rss_before_bytes"`
	Allocated   *uint64           `json:"allocated_bytes"`
	Digest      digest            `json:"digest"`
	NullReasons map[string]string `json:"null_reasons"`
	Runtime     string            `json:"runtime"`
}

func main() {
	if len(os.Args) != 3 {
		die("usage: replay-go TRACE_FILE REPLAYS")
	}
	nrep, err := strconv.Atoi(os.Args[2])
	if err != nil || nrep < 1 {
		die("REPLAYS must be an integer >= 1, got %q", os.Args[2])
	}
	evs, nregs := load(os.Args[1])
	regs = make([]*Obj, nregs)
	before := make([]metrics.Sample, len(sampleNames))
	after := make([]metrics.Sample, len(sampleNames))
	for i, name := range sampleNames {
		before[i].Name = name
		after[i].Name = name
	}
	var gs0, gs1 debug.GCStats
	gs1.Pause = make([]time.Duration, 0, 256)
	gs1.PauseEnd = make([]time.Time, 0, 256)
	out := json.NewEncoder(os.Stdout)
	for k := 0; k < nrep; k++ {
		for i := range regs {
			regs[i] = nil
		}
		runtime.GC()
		if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil && k == 0 {
			fmt.Fprintf(os.Stderr, "replay-go: cannot reset the peak RSS (%v); "+
				"footprint_peak_bytes includes the load\n", err)
		}
		rssBefore := procStatus("VmRSS")
		debug.ReadGCStats(&gs0)
		wBefore := time.Now().UnixNano()
		metrics.Read(before)
		cpu0 := cpuSeconds()
		t0 := time.Now()

		d := replay(evs)

		wall := time.Since(t0).Seconds()
		cpu := cpuSeconds() - cpu0
		metrics.Read(after)
		wAfter := time.Now().UnixNano()
		debug.ReadGCStats(&gs1)
		hwm := procStatus("VmHWM")
		// the mcaches count their allocations when a span is refilled or released (Go 1.19
		// mcache.refill/releaseAll): a collection releases them all, so allocs:bytes is exact
		// after it. Taken after the clock and after the GC figures above were read.
		runtime.GC()
		metrics.Read(after[3:])

		total := after[0].Value.Uint64() - before[0].Value.Uint64()
		auto := after[1].Value.Uint64() - before[1].Value.Uint64()
		forced := after[2].Value.Uint64() - before[2].Value.Uint64()
		allocd := after[3].Value.Uint64() - before[3].Value.Uint64()

		// pauses of the cycles that ended during the loop: the most recent NumGC-difference
		// entries of Pause (newest first, at most 256 kept), those whose PauseEnd lies inside
		// the window of the gc-cycles samples around the loop (cycles go on after it when
		// GOMEMLIMIT is tight)
		cycles := int(gs1.NumGC - gs0.NumGC)
		if cycles > len(gs1.Pause) {
			cycles = len(gs1.Pause)
		}
		pauses := make([]float64, 0, cycles)
		for i := cycles - 1; i >= 0; i-- {
			if end := gs1.PauseEnd[i].UnixNano(); end >= wBefore && end <= wAfter {
				pauses = append(pauses, gs1.Pause[i].Seconds())
			}
		}
		src := "runtime/debug.ReadGCStats: the stop-the-world time (sweep termination + " +
			"mark termination) of each cycle whose last pause ended during the loop"
		if uint64(len(pauses)) < total {
			src += fmt.Sprintf("; only %d of the loop's %d cycles are still in the runtime's "+
				"last-256 pause record, the others' pauses are missing", len(pauses), total)
		}
		res := result{
			Replay:      k,
			WallTimeS:   wall,
			CPUTimeS:    cpu,
			GCCount:     &total,
			GCCounts:    map[string]uint64{"automatic": auto, "forced": forced},
			PausesS:     pauses,
			PauseSource: &src,
			FootprintPk: hwm,
			RSSBefore:   rssBefore,
			Allocated:   &allocd,
			Digest:      d,
			NullReasons: map[string]string{},
			Runtime:     runtime.Version(),
		}
		if err := out.Encode(&res); err != nil {
			die("cannot write the result: %v", err)
		}
	}
}
