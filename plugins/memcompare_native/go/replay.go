// Command replay-go replays a memcompare binary trace (format v1, docs/trace-format.md) in the
// real Go runtime and prints one JSON object per replay on stdout (the native replayer
// contract, docs/native.md). Usage:
//
//	GOGC=100 GOMEMLIMIT=64MiB GOMAXPROCS=2 replay-go TRACE_FILE REPLAYS
//
// The register array is the program's whole root set (docs/design.md §3): writing a register drops
// what it held, FREE is a CLEAR (the collector finds death by reachability), WORK spins on the
// monotonic clock for its nanoseconds.
//
// Object layout: an ALLOC of (size, nslots) is ONE heap object, laid out as the `go` model lays
// it out (plugins/memcompare_go/sizeclasses.py object_layout): pointers first, then the payload,
//
//	struct { P [nslots]unsafe.Pointer; B [size]byte }    // a field is left out when empty
//
// a struct type built once per shape with reflect.StructOf before the clock starts, and
// allocated as reflect.New allocates (runtime/malloc.go reflect_unsafe_New: mallocgc(typ.size,
// typ, true), the same call as new(T)): mallocgc picks the size class from the type's size, a
// noscan span class when the type has no pointers (typ.ptrdata == 0: nslots = 0, which also
// takes the tiny allocator under 16 bytes), and writes the type's pointer bitmap. The slots are
// read and written through unsafe pointer arithmetic (a pointer store through an
// *unsafe.Pointer gets the write barrier, as a field store does).
//
// Shapes are keyed by the size the object takes, not the trace's exact size: the B array is
// widened to fill the object's size class (small) or page run (large), so one type serves
// every (size, nslots) of the same class — the object's size class, pointer bitmap (pointers
// end at 8 × nslots either way) and mallocgc path are those of the exact shape. Exact shapes
// would be thousands of types (17,059 on fragmentation), each a live heap object that would
// count into the marked heap and the heap goal (the types stay in reflect's caches for the
// process's life). Tiny objects (pointer-free, under 16 bytes) keep their exact size: the
// tiny allocator packs by size and alignment. The heap the types take is reported
// (types_heap_bytes).
//
// The payload is written once per 4 KiB page (one byte of a small one), so that its memory is
// resident as in a program that fills it: Go does not zero fresh pages from the OS. The `local`
// flag is ignored: an interpreter has no frame to give the object, so it is a plain heap ALLOC
// (escape analysis cannot apply to interpreted code).
//
// The trace is decoded before the clock starts into an anonymous mmap (pointer-free records
// outside the Go heap), so it is neither scanned nor counted in the heap goal.
//
// Pauses: each stop-the-world pause of the collector during the loop from runtime/metrics
// /gc/pauses:seconds (a histogram read before and after the loop, each pause the midpoint of its
// bucket), and each completed cycle's exact total from debug.ReadGCStats. Each replay line gives
// the cycle numbers around its loop (numgc_before, numgc_after), the numbers GODEBUG=gctrace=1
// prints, so a harness can pick the loop's cycles out of a gctrace (go_model.py parse_output).
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"reflect"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

// ev is one decoded event, pointer-free, living in mmap'd memory. shape indexes shapes for an
// ALLOC.
type ev struct {
	a, b, c int64
	op      uint8
	_       [3]byte
	shape   uint32
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

const (
	ptrSize      = 8
	pageSize     = 8192  // runtime/sizeclasses.go _PageSize
	maxSmallSize = 32768 // runtime/sizeclasses.go _MaxSmallSize
	maxTinySize  = 16    // runtime/malloc.go maxTinySize
)

// regs is the whole root set.
var regs []unsafe.Pointer

// shapes holds the runtime type of each shape; types keeps them reachable (reflect's caches do
// too) and is indexed by ev.shape.
var types []reflect.Type
var rtypes []unsafe.Pointer // each type's *rtype, the argument of unsafe_New

//go:linkname nanotime runtime.nanotime
func nanotime() int64

// roundup is the size mallocgc gives an object of n bytes, pointerful when scan: runtime/msize.go
// roundupsize, reached through append (runtime/slice.go growslice sizes a new backing array
// with it): the size class's element size for a small object — less the 8-byte malloc header of
// a pointerful one over 512 bytes since Go 1.22 — and whole pages for a large one. A pointerful
// size is taken up to whole words (size classes are multiples of 8, so the class is the same).
// Not a linkname to runtime.roundupsize: its signature changed in Go 1.22 (a noscan argument),
// and Go 1.23's linker rejects references to runtime internals not marked for outside use.
func roundup(n int64, scan bool) int64 {
	if scan {
		k := (n + ptrSize - 1) / ptrSize
		return int64(cap(append([]unsafe.Pointer(nil), make([]unsafe.Pointer, k)...))) * ptrSize
	}
	return int64(cap(append([]byte(nil), make([]byte, n)...)))
}

// unsafe_New is reflect.New's allocation (runtime/malloc.go reflect_unsafe_New:
// mallocgc(typ.size, typ, true)), called without building a reflect.Value around it.
//
//go:linkname unsafe_New reflect.unsafe_New
func unsafe_New(typ unsafe.Pointer) unsafe.Pointer

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

var (
	unsafePointerType = reflect.TypeOf(unsafe.Pointer(nil))
	byteType          = reflect.TypeOf(byte(0))
)

// shapeKey is the (payload bytes, slots) of the type that allocates an object of the trace's
// (size, nslots): the payload widened to the size mallocgc gives the object, except for tiny
// objects and empty ones (mallocgc(0) returns &zerobase).
func shapeKey(size, nslots int64) [2]int64 {
	n := size + ptrSize*nslots
	if n == 0 || (nslots == 0 && n < maxTinySize) {
		return [2]int64{size, nslots}
	}
	return [2]int64{roundup(n, nslots > 0) - ptrSize*nslots, nslots}
}

// shapeType builds struct { P [nslots]unsafe.Pointer; B [size]byte } without its empty fields
// (an empty last field would add padding, Go gives a zero-size final field a byte).
func shapeType(size, nslots int64) reflect.Type {
	fields := make([]reflect.StructField, 0, 2)
	if nslots > 0 {
		fields = append(fields, reflect.StructField{Name: "P",
			Type: reflect.ArrayOf(int(nslots), unsafePointerType)})
	}
	if size > 0 {
		fields = append(fields, reflect.StructField{Name: "B",
			Type: reflect.ArrayOf(int(size), byteType)})
	}
	t := reflect.StructOf(fields)
	if t.Size() != uintptr(size+ptrSize*nslots) {
		die("shape (%d, %d): the struct type takes %d bytes", size, nslots, t.Size())
	}
	checkPointers(t, nslots)
	reflect.PtrTo(t) // reflect.New builds the pointer type on first use: not in the loop
	return t
}

// rtypeHead is the start of the runtime's type descriptor, runtime/type.go _type (Go 1.19; the
// same as reflect.rtype): what mallocgc reads to choose a noscan span (ptrdata == 0) and to
// write the object's heap bitmap (gcdata: one bit per pointer-sized word up to ptrdata, or a
// GC program when kind has kindGCProg).
type rtypeHead struct {
	size       uintptr
	ptrdata    uintptr
	hash       uint32
	tflag      uint8
	align      uint8
	fieldAlign uint8
	kind       uint8
	equal      unsafe.Pointer
	gcdata     *byte
}

const kindGCProg = 1 << 6 // runtime/typekind.go (Go 1.19..1.23)

// tflagGCMaskOnDemand (internal/abi/type.go TFlagGCMaskOnDemand, Go 1.24 and later, which
// dropped GC programs): a large type's bitmap is built by the runtime when first needed
// (runtime/type.go getGCMask), and gcdata points to where it will be. Go 1.19 never sets the
// bit (its tflags end at tflagRegularMemory, 1 << 3).
const tflagGCMaskOnDemand = 1 << 4

// checkPointers verifies what mallocgc will see for a shape: the pointer words are exactly the
// first nslots (ptrdata = 8 × nslots, so a pointer-free shape is noscan), and, where the type
// has a plain bitmap, each of their bits is set. Large pointer arrays get a GC program,
// which reflect.ArrayOf writes as "repeat one pointer word nslots times" (Go 1.19), or a bitmap
// the runtime builds on demand (Go 1.24+).
func checkPointers(t reflect.Type, nslots int64) {
	h := (*rtypeHead)((*[2]unsafe.Pointer)(unsafe.Pointer(&t))[1])
	if h.ptrdata != uintptr(ptrSize*nslots) {
		die("shape with %d slots: its type has %d bytes of pointers", nslots, h.ptrdata)
	}
	if nslots == 0 || h.kind&kindGCProg != 0 || h.tflag&tflagGCMaskOnDemand != 0 {
		return
	}
	mask := unsafe.Slice(h.gcdata, (nslots+7)/8)
	for i := int64(0); i < nslots; i++ {
		if mask[i/8]&(1<<(i%8)) == 0 {
			die("shape with %d slots: word %d is not a pointer in its type's bitmap", nslots, i)
		}
	}
}

// load maps the trace file and decodes it into an anonymous mapping; builds the type of every
// shape; returns the events and the number of registers.
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
		index := map[[2]int64]uint32{}
		for i := int64(0); i < n; i++ {
			e := &evs[i]
			e.op = op[i]
			if e.op > opWork {
				die("%s: event %d: op code %d out of range 0..6", path, i, e.op)
			}
			e.a = int64(le.Uint64(a[8*i:]))
			e.b = int64(le.Uint64(b[8*i:]))
			e.c = int64(le.Uint64(c[8*i:]))
			if e.op == opAlloc {
				if e.b < 0 || e.c < 0 || e.b+ptrSize*e.c > math.MaxInt32 {
					die("%s: event %d: ALLOC of %d bytes and %d slots", path, i, e.b, e.c)
				}
				k := shapeKey(e.b, e.c)
				s, ok := index[k]
				if !ok {
					t := shapeType(k[0], k[1])
					s = uint32(len(types))
					index[k] = s
					types = append(types, t)
					// the interface's data word is the *rtype (reflect.New: typ.(*rtype))
					rtypes = append(rtypes, (*[2]unsafe.Pointer)(unsafe.Pointer(&t))[1])
				}
				e.shape = s
			}
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
	rt := rtypes
	for i := range evs {
		e := &evs[i]
		switch e.op {
		case opAlloc:
			o := unsafe_New(rt[e.shape])
			// write the payload once per 4 KiB page, as a program filling it would: Go does
			// not zero fresh pages from the OS, so untouched payloads would never become
			// resident (the other runtimes zero, hence touch, eagerly)
			if e.b > 0 { // (no pointer one past the end of a payload-less object)
				p := unsafe.Add(o, ptrSize*e.c)
				for j := int64(0); j < e.b; j += 4096 {
					*(*byte)(unsafe.Add(p, j)) = 1
				}
			}
			r[e.a] = o
			d.Objects++
			d.Bytes += e.b + ptrSize*e.c
		case opLoad:
			v := *(*unsafe.Pointer)(unsafe.Add(r[e.b], ptrSize*e.c))
			if v != nil {
				d.LoadsNonnull++
			}
			r[e.a] = v
		case opStore:
			slot := (*unsafe.Pointer)(unsafe.Add(r[e.a], ptrSize*e.b))
			if e.c < 0 {
				*slot = nil
			} else {
				*slot = r[e.c]
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

// procfs files kept open, read and written without allocating: nothing between the collection
// before the loop and the first metrics read may allocate (see allocated_bytes below)
var statusFile, clearRefs *os.File
var statusBuf = make([]byte, 1<<14)

// procStatus reads a "Key:   N kB" line of /proc/self/status, in bytes (-1 when absent).
func procStatus(key []byte) int64 {
	if statusFile == nil {
		return -1
	}
	n, _ := statusFile.ReadAt(statusBuf, 0)
	buf := statusBuf[:n]
	for len(buf) > 0 {
		line := buf
		if j := bytes.IndexByte(buf, '\n'); j >= 0 {
			line, buf = buf[:j], buf[j+1:]
		} else {
			buf = nil
		}
		if bytes.HasPrefix(line, key) && len(line) > len(key) && line[len(key)] == ':' {
			v := int64(0)
			digits := false
			for _, ch := range line[len(key)+1:] {
				if ch >= '0' && ch <= '9' {
					v = 10*v + int64(ch-'0')
					digits = true
				} else if digits {
					break
				}
			}
			if digits {
				return v * 1024
			}
		}
	}
	return -1
}

// machineBusy reads the first line of /proc/stat ("cpu  user nice system idle iowait irq
// softirq steal ...", all CPUs, in USER_HZ = 100 ticks per second on Linux) and returns the
// seconds the machine's CPUs were not idle, steal included (a hypervisor's other guests);
// -1 without procfs.
func machineBusy() float64 {
	if statFile == nil {
		return -1
	}
	n, _ := statFile.ReadAt(statBuf, 0)
	line := statBuf[:n]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	if !bytes.HasPrefix(line, []byte("cpu ")) {
		return -1
	}
	var busy, v int64
	field, digits := 0, false
	for _, ch := range line[3:] {
		if ch >= '0' && ch <= '9' {
			v = 10*v + int64(ch-'0')
			digits = true
			continue
		}
		if digits {
			field++
			// 1 user, 2 nice, 3 system, 4 idle, 5 iowait, 6 irq, 7 softirq, 8 steal
			if field != 4 && field != 5 && field <= 8 {
				busy += v
			}
			v, digits = 0, false
		}
	}
	return float64(busy) / 100
}

var statFile *os.File
var statBuf = make([]byte, 512)

var (
	vmRSS = []byte("VmRSS")
	vmHWM = []byte("VmHWM")
	five  = []byte("5")
)

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
	"/gc/pauses:seconds",
}

const pauseSource = "runtime/metrics /gc/pauses:seconds: each stop-the-world pause of the " +
	"collector (sweep termination, mark termination) during the loop, as the midpoint of its " +
	"histogram bucket (16 per power of two in Go 1.19: within 3.2 %; 4 since Go 1.20: " +
	"within 12.5 %)"

// pauses lists the pauses recorded between two readings of /gc/pauses:seconds (runtime/
// histogram.go timeHistogram: buckets [2^k + j·2^(k-4), 2^k + (j+1)·2^(k-4)) ns in Go 1.19,
// [2^k + j·2^(k-2), ...) since Go 1.20), each as the midpoint of its bucket (the bounds as the
// runtime reports them), shortest first. Go 1.19's gcStart, gcMarkDone and gcMarkTermination
// record each stop-the-world phase in it (runtime/mgc.go gcPauseDist); since Go 1.22 the
// metric is an alias of /sched/pauses/total/gc:seconds, each GC stop-the-world from the
// moment stopping began to the world's restart (runtime/proc.go startTheWorldWithSema).
func pauses(before, after *metrics.Float64Histogram) []float64 {
	out := []float64{} // [] in the JSON line when no pause happened, not null
	for i, n := range after.Counts {
		d := n - before.Counts[i]
		lo, hi := after.Buckets[i], after.Buckets[i+1]
		if math.IsInf(lo, -1) {
			lo = 0
		}
		if math.IsInf(hi, 1) {
			hi = lo
		}
		for ; d > 0; d-- {
			out = append(out, (lo+hi)/2)
		}
	}
	return out
}

type result struct {
	Replay        int               `json:"replay"`
	WallTimeS     float64           `json:"wall_time_s"`
	CPUTimeS      float64           `json:"cpu_time_s"`
	GCCount       uint64            `json:"gc_count"`
	GCCounts      map[string]uint64 `json:"gc_counts"`
	NumGCBefore   uint64            `json:"numgc_before"`
	NumGCAfter    uint64            `json:"numgc_after"`
	PausesS       []float64         `json:"pauses_s"`
	PauseSource   *string           `json:"pause_source"`
	CyclePausesS  []float64         `json:"cycle_pauses_s"`
	OtherCPUS     *float64          `json:"other_cpu_s"`
	FootprintPk   int64             `json:"footprint_peak_bytes"`
	RSSBefore     int64             `json:"rss_before_bytes"`
	Allocated     uint64            `json:"allocated_bytes"`
	Digest        digest            `json:"digest"`
	NullReasons   map[string]string `json:"null_reasons"`
	Runtime       string            `json:"runtime"`
	Settings      *settings         `json:"settings"`
	Oversub       bool              `json:"oversubscribed"`
	Types         int               `json:"types"`
	TypesHeapByte int64             `json:"types_heap_bytes"`
}

// settings is what the runtime runs with, read back from it: GOGC from debug.SetGCPercent,
// GOMEMLIMIT from debug.SetMemoryLimit(-1) (null = no limit), GOMAXPROCS from
// runtime.GOMAXPROCS(0), the CPUs it may run on from runtime.NumCPU (the affinity mask).
type settings struct {
	GOGC       any    `json:"gogc"`
	GOMEMLIMIT *int64 `json:"gomemlimit_bytes"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	NumCPU     int    `json:"ncpu"`
	Version    string `json:"version"`
}

func heapAlloc() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

func main() {
	// heap profiling samples an allocation every 512 KiB and unwinds its stack (malloc.go
	// MemProfileRate): mutator work the model does not have
	runtime.MemProfileRate = 0
	if len(os.Args) != 3 {
		die("usage: replay-go TRACE_FILE REPLAYS")
	}
	nrep, err := strconv.Atoi(os.Args[2])
	if err != nil || nrep < 1 {
		die("REPLAYS must be an integer >= 1, got %q", os.Args[2])
	}

	// what the runtime runs with (read back from it, not from the environment)
	var gogc any = "off"
	if g := debug.SetGCPercent(100); g >= 0 {
		gogc = g
		debug.SetGCPercent(g)
	} else {
		debug.SetGCPercent(g)
	}
	var memlimit *int64
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		memlimit = &l
	}
	set := &settings{GOGC: gogc, GOMEMLIMIT: memlimit, GOMAXPROCS: runtime.GOMAXPROCS(0),
		NumCPU: runtime.NumCPU(), Version: runtime.Version()}

	h0 := heapAlloc()
	evs, nregs := load(os.Args[1])
	typesHeap := heapAlloc() - h0
	regs = make([]unsafe.Pointer, nregs)

	statusFile, _ = os.Open("/proc/self/status")
	statFile, _ = os.Open("/proc/stat")
	clearRefs, err = os.OpenFile("/proc/self/clear_refs", os.O_WRONLY, 0)
	if err != nil {
		fmt.Fprintf(os.Stderr, "replay-go: cannot reset the peak RSS (%v); "+
			"footprint_peak_bytes includes the load\n", err)
	}
	before := make([]metrics.Sample, len(sampleNames))
	after := make([]metrics.Sample, len(sampleNames))
	flushed := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	for i, name := range sampleNames {
		before[i].Name = name
		after[i].Name = name
	}
	// the first Read builds the runtime's metrics table and each sample's histogram, which
	// later Reads fill in place (runtime/metrics.go float64HistOrInit): no allocation below
	metrics.Read(before)
	metrics.Read(after)
	var gs debug.GCStats
	gs.Pause = make([]time.Duration, 2*256+3) // ReadGCStats allocates below that capacity
	gs.PauseEnd = make([]time.Time, 0, 256)
	debug.ReadGCStats(&gs)
	out := json.NewEncoder(os.Stdout)
	src := pauseSource
	for k := 0; k < nrep; k++ {
		for i := range regs {
			regs[i] = nil
		}
		// the collection flushes every mcache, so /gc/heap/allocs:bytes is exact here
		// (mcache.refill/releaseAll count a span's allocations when it leaves the cache) and
		// nothing below allocates until the loop has run. FreeOSMemory collects and then
		// returns every free page to the OS (mheap.scavengeAll): decoding the trace freed
		// tens of MB that the heap would otherwise keep resident and hand to the replay's
		// objects, so the replay's growth would read low against a fresh program's (as
		// glibc's free pages did for the CPython replayer before its malloc_trim)
		debug.FreeOSMemory()
		if clearRefs != nil {
			syscall.Pwrite(int(clearRefs.Fd()), five, 0)
		}
		rssBefore := procStatus(vmRSS)
		metrics.Read(before)
		busy0 := machineBusy()
		cpu0 := cpuSeconds()
		t0 := time.Now()

		d := replay(evs)

		wall := time.Since(t0).Seconds()
		cpu := cpuSeconds() - cpu0
		busy1 := machineBusy()
		metrics.Read(after)
		hwm := procStatus(vmHWM)
		debug.ReadGCStats(&gs)
		// the allocations of the loop still in the mcaches are counted when a collection
		// releases them: allocs:bytes is read again after one (taken after the clock and
		// after the GC figures above were read)
		runtime.GC()
		metrics.Read(flushed)

		n0 := before[0].Value.Uint64()
		n1 := after[0].Value.Uint64()
		auto := after[1].Value.Uint64() - before[1].Value.Uint64()
		forced := after[2].Value.Uint64() - before[2].Value.Uint64()
		allocd := flushed[0].Value.Uint64() - before[3].Value.Uint64()
		stw := pauses(before[4].Value.Float64Histogram(), after[4].Value.Float64Histogram())

		// each cycle's stop-the-world time (sweep termination + mark termination, mgc.go
		// work.pauseNS), exact in ns: Pause[i] is cycle NumGC-i (mgc.go stores pause_ns at
		// the index of numgc before incrementing it, mstats.go readGCStats_m reads newest
		// first); the runtime keeps the last 256
		cyc := make([]float64, 0, n1-n0)
		for num := n0 + 1; num <= n1; num++ {
			i := uint64(gs.NumGC) - num
			if i < uint64(len(gs.Pause)) {
				cyc = append(cyc, gs.Pause[i].Seconds())
			}
		}
		nulls := map[string]string{}
		// the CPU other processes took during the loop: what a replay competed with (its
		// background mark workers need free cores), to 10 ms ticks
		var other *float64
		if busy0 >= 0 && busy1 >= 0 {
			o := busy1 - busy0 - cpu
			other = &o
		} else {
			nulls["other_cpu_s"] = "no /proc/stat"
		}
		if uint64(len(cyc)) < n1-n0 {
			nulls["cycle_pauses_s"] = fmt.Sprintf("the loop ran %d cycles, the runtime keeps the "+
				"pauses of the last 256 (debug.ReadGCStats)", n1-n0)
			cyc = nil
		}
		res := result{
			Replay:        k,
			WallTimeS:     wall,
			CPUTimeS:      cpu,
			GCCount:       n1 - n0,
			GCCounts:      map[string]uint64{"automatic": auto, "forced": forced},
			NumGCBefore:   n0,
			NumGCAfter:    n1,
			PausesS:       stw,
			PauseSource:   &src,
			CyclePausesS:  cyc,
			OtherCPUS:     other,
			FootprintPk:   hwm,
			RSSBefore:     rssBefore,
			Allocated:     allocd,
			Digest:        d,
			NullReasons:   nulls,
			Runtime:       runtime.Version(),
			Settings:      set,
			Oversub:       set.GOMAXPROCS > set.NumCPU,
			Types:         len(types),
			TypesHeapByte: typesHeap,
		}
		if err := out.Encode(&res); err != nil {
			die("cannot write the result: %v", err)
		}
	}
}
