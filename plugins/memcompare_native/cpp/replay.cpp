// replay.cpp: the cpp-native replayer. Replays a memcompare binary trace (format v1,
// docs/trace-format.md) with real C++ new/delete over the system's glibc malloc.
//
//   g++ -O2 -std=c++17 replay.cpp -o replay-cpp
//   ./replay-cpp TRACE_FILE REPLAYS [--alloc glibc|bump|preloaded] [--samples N]
//
// Prints one JSON object per replay on stdout (the native replayer contract); everything else
// goes to stderr. Exit status 2 on a bad command line or an unreadable / malformed trace.
//
// Object layout: ONE allocation per object, `::operator new(8 * nslots + size)`, value-
// initialised (zeroed, for parity with the collected runtimes' zeroed allocation):
//
//     offset 0            Obj* slots[nslots]  reference slots, null
//     offset 8*nslots     uint8 payload[size] payload bytes, zero
//
// and released with `::operator delete` at FREE: exactly the request the `cpp` model gives
// malloc (payload + 8 x slots; plugins/memcompare_cpp/model.py). libstdc++'s operator
// new/delete are malloc and free (operator new(0) asks malloc for 1 byte: libstdc++
// new_op.cc), so every object is one glibc chunk of request2size(8 * nslots + size) bytes.
// The slot count needs no header: the trace was validated when it was built, so every slot
// index is in range.
//
// `--alloc preloaded`: new/delete over whatever malloc the dynamic linker bound, which is another
// allocator when the harness sets LD_PRELOAD (jemalloc, tcmalloc, mimalloc: cpp_model.py). Its
// chunks have no glibc header to read, so allocated_bytes is null (and the startup check that
// reads glibc's header is skipped: under another allocator the word before a block may not be
// mapped).
//
// `--samples N`: read the resident set size (/proc/self/statm, through one descriptor opened
// before the clock starts: a pread of a few microseconds) every floor(events / N) events, N
// times, and at the loop's start and end, and
// print the samples as "footprint": [[seconds since the loop began, bytes], ...] — the
// footprint over time of the replay. Without it the loop has no sampling branch at all.
//
// `--alloc bump` is the collector-off baseline of the memory-management time (issue 9): the
// same loop over a never-freeing bump allocator (16-byte aligned, in one region the size of
// the replay's allocations, mapped with MAP_POPULATE before the clock starts and reset
// between replays; FREE does nothing). wall(glibc) - wall(bump) is what glibc's malloc and
// free cost beyond handing out resident memory.
//
// Semantics (docs/design.md §3): the register array (a std::vector<Obj*>) is the program's whole
// root set; writing a register drops what it held (a plain overwrite: C++ has no collector, a
// dropped object stays allocated until its FREE); CLEAR only nulls the register; FREE is
// `delete` then null. An object the trace never frees leaks, as it would in C++. ALLOC's
// `local` flag is ignored: an interpreter cannot give a trace object an automatic (stack)
// lifetime, so a local object is a heap object like any other (documented, not hidden).
// WORK busy-waits on std::chrono::steady_clock for its nanoseconds.
//
// Per replay: no collection to force; peak-RSS reset by writing "5" to /proc/self/clear_refs
// (failure ignored); VmRSS read before the loop; only the loop is timed (steady_clock wall,
// getrusage(RUSAGE_SELF) CPU); VmHWM read after it. Between replays the registers are cleared
// (objects still held by them and never freed leak, like a C++ program that forgets them).
//
// allocated_bytes is measured, not computed from the trace: glibc keeps no cumulative count
// (mallinfo2 is a snapshot), so after each `new` the replayer asks glibc for the chunk it
// actually handed out (malloc_usable_size, turned into the chunk size: see chunk_size()) and
// sums them: headers and rounding included, as docs/design.md §4 defines allocated_bytes. The size
// is read from the chunk's header (one load of a line malloc just wrote; see chunk_size()), so
// the accounting adds about a cycle per ALLOC to malloc's measured time. If the startup check
// finds a malloc that does not follow glibc's chunk rule, allocated_bytes is null with the
// reason.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include <climits>
#include <cstdint>
#include <string_view>

#include <fcntl.h>
#include <gnu/libc-version.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/time.h>

namespace {

enum Op : uint8_t { ALLOC = 0, LOAD = 1, STORE = 2, MOVE = 3, CLEAR = 4, FREE = 5, WORK = 6 };

struct Ev {          // one decoded event: the op and its three operands (x, y, z are ignored)
    int64_t a, b, c;
    uint8_t op;
};

struct Obj;          // Obj* slots[nslots], then the payload; see the layout above

inline Obj** slots(Obj* o) {
    return reinterpret_cast<Obj**>(o);
}

// glibc: ::operator new / ::operator delete (malloc / free), the chunk measured per ALLOC
struct Glibc {
    static void* alloc(size_t n) { return ::operator new(n); }
    static void release(void* p) { ::operator delete(p); }
};

// the collector-off baseline: bump allocation, never freed, in a region mapped and faulted in
// before the clock starts (reserve()) and reset between replays, so that the baseline pays
// neither malloc's work nor the kernel's page faults; 64 MiB chunks mapped as it goes only if
// the reservation falls short
struct Bump {
    static constexpr size_t CHUNK = size_t(64) << 20;
    static unsigned char* base;
    static unsigned char* top;
    static unsigned char* end;
    static long long handed_out;
    static size_t round(size_t n) { return (std::max<size_t>(n, 1) + 15) & ~size_t(15); }
    static void reserve(size_t len) {
        len = std::max(len, size_t(4096));
        void* m = mmap(nullptr, len, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (m == MAP_FAILED) throw std::bad_alloc();
        base = static_cast<unsigned char*>(m);
        end = base + len;
    }
    static void reset() { if (base) top = base; }
    static void* alloc(size_t n) {
        n = round(n);
        if (size_t(end - top) < n) {
            size_t len = std::max(CHUNK, n);
            void* m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                           -1, 0);
            if (m == MAP_FAILED) throw std::bad_alloc();
            top = static_cast<unsigned char*>(m);
            end = top + len;
        }
        void* p = top;
        top += n;
        handed_out += (long long)n;
        return p;
    }
    static void release(void*) {}
};
unsigned char* Bump::base = nullptr;
unsigned char* Bump::top = nullptr;
unsigned char* Bump::end = nullptr;
long long Bump::handed_out = 0;

[[noreturn]] void die(const std::string& msg) {
    std::fprintf(stderr, "replay-cpp: %s\n", msg.c_str());
    std::exit(2);
}

uint32_t u32le(const unsigned char* p) {
    return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

int64_t i64le(const unsigned char* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
    return int64_t(v);
}

// the integer after "key": in the JSON header (a minimal parse, as the contract allows)
int64_t header_int(std::string_view h, const char* key) {
    std::string k = std::string("\"") + key + "\"";
    size_t at = h.find(k);
    if (at == std::string_view::npos) die("trace header has no " + k);
    at += k.size();
    auto blank = [&] { return h[at] == ' ' || h[at] == '\t' || h[at] == '\n' || h[at] == '\r'; };
    while (at < h.size() && blank()) ++at;
    if (at >= h.size() || h[at] != ':') die("trace header: no ':' after " + k);
    ++at;
    while (at < h.size() && blank()) ++at;
    int64_t v = 0;
    size_t start = at;
    for (; at < h.size() && h[at] >= '0' && h[at] <= '9'; ++at) {
        if (v > (INT64_MAX - 9) / 10) die("trace header: " + k + " is too large");
        v = v * 10 + (h[at] - '0');
    }
    if (at == start) die("trace header: " + k + " is not a non-negative integer");
    return v;
}

struct Trace {
    std::vector<Ev> ev;
    int64_t registers = 0;
};

// The file is mapped straight from the kernel and unmapped after decoding, so loading never
// frees a large malloc block: glibc raises its mmap threshold to the size of any mmapped chunk
// that is freed, which would change where the replay's own large objects come from.
Trace load(const char* path) {
    int fd = ::open(path, O_RDONLY);
    if (fd < 0) die(std::string("cannot open ") + path + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) die(std::string("cannot stat ") + path + ": " + std::strerror(errno));
    size_t size = size_t(st.st_size);
    if (size < 20) die(std::string(path) + ": not a memcompare binary trace (" + std::to_string(size) + " bytes)");
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) die(std::string("cannot map ") + path + ": " + std::strerror(errno));
    ::close(fd);
    const unsigned char* buf = static_cast<const unsigned char*>(map);
    if (std::memcmp(buf, "MCTRACE\0", 8) != 0)
        die(std::string(path) + ": not a memcompare binary trace (magic MCTRACE\\0)");
    uint32_t version = u32le(buf + 8);
    if (version != 1) die(std::string(path) + ": unsupported format version " + std::to_string(version));
    uint64_t hlen = u32le(buf + 12);
    if (20 + hlen > size) die(std::string(path) + ": truncated header");
    std::string_view header(reinterpret_cast<const char*>(buf + 20), hlen);
    int64_t n = header_int(header, "events");
    Trace t;
    t.registers = header_int(header, "registers");
    uint64_t body = 20 + hlen;
    if (n > int64_t(size) || size != body + 50 * uint64_t(n))
        die(std::string(path) + ": body is " + std::to_string(size - body) + " bytes, " +
            std::to_string(n) + " events need " + std::to_string(50 * uint64_t(n)));
    const unsigned char* op = buf + body;
    const unsigned char* a = op + 2 * n;   // after the op and flags columns
    const unsigned char* b = a + 8 * n;
    const unsigned char* c = b + 8 * n;
    t.ev.resize(size_t(n));                // one allocation, kept for the whole run
    for (int64_t i = 0; i < n; ++i) {
        Ev& e = t.ev[size_t(i)];
        e.op = op[i];
        e.a = i64le(a + 8 * i);
        e.b = i64le(b + 8 * i);
        e.c = i64le(c + 8 * i);
        if (e.op > WORK) die("event " + std::to_string(i) + ": unknown op " + std::to_string(e.op));
    }
    ::munmap(map, size);
    return t;
}

// a field of /proc/self/status in bytes ("VmRSS:   1234 kB"), -1 when unreadable
long long status_bytes(const char* field) {
    FILE* f = std::fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    size_t len = std::strlen(field);
    long long kb = -1;
    while (std::fgets(line, sizeof line, f)) {
        if (std::strncmp(line, field, len) == 0 && line[len] == ':') {
            kb = std::strtoll(line + len + 1, nullptr, 10);
            break;
        }
    }
    std::fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

void reset_peak_rss() {
    FILE* f = std::fopen("/proc/self/clear_refs", "w");
    if (!f) return;
    std::fputs("5", f);
    std::fclose(f);
}

double cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

// The size of the chunk glibc handed out for `p`: the size field of its chunk header, the word
// before `p`, without its three flag bits (glibc 2.36 malloc.c: mchunk_size, chunksize();
// SIZE_BITS = PREV_INUSE | IS_MMAPPED | NON_MAIN_ARENA). Read directly because it costs one load
// of a cache line malloc has just written, where malloc_usable_size() is a call with checks;
// chunk_rule_holds() checks it against malloc_usable_size() at startup (usable + 8 for a heap
// chunk, + 16 for an mmapped one).
inline uint64_t chunk_size(void* p) {
    uint64_t field;   // through an integer address: the header lies before the object new gave
    std::memcpy(&field, reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(p) - 8), 8);
    return field & ~uint64_t(7);
}

bool chunk_rule_holds() {
    for (size_t req : {size_t(24), size_t(1000), size_t(1) << 20}) {
        void* p = ::operator new(req);
        uint64_t usable = malloc_usable_size(p);
        bool mmapped = req >= (size_t(1) << 20);   // above the default threshold (128 KiB)
        bool ok = usable >= req && (usable & 15) == (mmapped ? 0 : 8) &&
                  chunk_size(p) == usable + (mmapped ? 16 : 8);
        // The mmapped probe is never freed: freeing an mmapped chunk raises glibc's dynamic
        // mmap threshold to its size, which would move the replay's large objects onto the
        // heap. Kept, it costs one resident page.
        if (!mmapped) ::operator delete(p);
        if (!ok) return false;
    }
    return true;
}

struct Result {
    long long objects = 0, loads_nonnull = 0, bytes = 0, allocated = 0;
};

// resident set size in bytes from /proc/self/statm (its second field, in pages), -1 if unread
int statm_fd = -1;
long long page_bytes = 4096;
long long resident_bytes() {
    if (statm_fd < 0) return -1;
    char buf[128];
    ssize_t n = ::pread(statm_fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return -1;
    buf[n] = 0;
    char* p = buf;
    std::strtoll(p, &p, 10);                 // size
    return std::strtoll(p, nullptr, 10) * page_bytes;
}

struct Sampler {
    size_t step = 0, since = 0, left = 0;
    std::chrono::steady_clock::time_point t0;
    std::vector<std::pair<double, long long>> points;
    void take() {
        auto now = std::chrono::steady_clock::now();
        points.emplace_back(std::chrono::duration<double>(now - t0).count(), resident_bytes());
    }
};

// the timed loop; registers start empty
template <class A, bool MEASURE, bool SAMPLE = false>
Result replay(const std::vector<Ev>& ev, std::vector<Obj*>& reg, Sampler* sampler = nullptr) {
    Result r;
    using clock = std::chrono::steady_clock;
    if (SAMPLE) { sampler->t0 = clock::now(); sampler->take(); }
    for (const Ev& e : ev) {
        if (SAMPLE && ++sampler->since == sampler->step && sampler->left) {
            sampler->since = 0;
            --sampler->left;
            sampler->take();
        }
        switch (e.op) {
        case ALLOC: {
            size_t total = size_t(8 * e.c + e.b);
            void* p = A::alloc(total);
            std::memset(p, 0, total);
            reg[size_t(e.a)] = static_cast<Obj*>(p);
            ++r.objects;
            r.bytes += e.b + 8 * e.c;
            if (MEASURE) r.allocated += (long long)chunk_size(p);
            break;
        }
        case LOAD: {
            Obj* v = slots(reg[size_t(e.b)])[e.c];
            r.loads_nonnull += v != nullptr;
            reg[size_t(e.a)] = v;
            break;
        }
        case STORE:
            slots(reg[size_t(e.a)])[e.b] = e.c < 0 ? nullptr : reg[size_t(e.c)];
            break;
        case MOVE:
            reg[size_t(e.a)] = reg[size_t(e.b)];
            break;
        case CLEAR:
            reg[size_t(e.a)] = nullptr;
            break;
        case FREE:
            A::release(static_cast<void*>(reg[size_t(e.a)]));
            reg[size_t(e.a)] = nullptr;
            break;
        case WORK: {
            auto until = clock::now() + std::chrono::nanoseconds(e.a);
            while (clock::now() < until) {
            }
            break;
        }
        }
    }
    if (SAMPLE) sampler->take();
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    bool bump = false, preloaded = false;
    long samples = 0;
    const char* usage = "usage: replay-cpp TRACE_FILE REPLAYS [--alloc glibc|bump|preloaded] [--samples N]";
    if (argc < 3) die(usage);
    for (int i = 3; i < argc; i += 2) {
        std::string opt = argv[i];
        if (i + 1 >= argc) die(usage);
        std::string val = argv[i + 1];
        if (opt == "--alloc" && (val == "bump" || val == "glibc" || val == "preloaded")) {
            bump = val == "bump";
            preloaded = val == "preloaded";
        } else if (opt == "--samples") {
            char* e = nullptr;
            samples = std::strtol(val.c_str(), &e, 10);
            if (val.empty() || *e || samples < 1) die("--samples must be a positive integer, got " + val);
        } else {
            die(usage);
        }
    }
    char* end = nullptr;
    long replays = std::strtol(argv[2], &end, 10);
    if (!*argv[2] || *end || replays < 1) die(std::string("REPLAYS must be a positive integer, got ") + argv[2]);
    // checked first, while glibc's mmap threshold is still its default (128 KiB)
    const bool measure_alloc = !preloaded && chunk_rule_holds();
    Trace t = load(argv[1]);   // decoded before any clock starts
    if (t.registers > (1 << 20)) die("registers out of range (at most 2^20)");
    std::vector<Obj*> reg(size_t(t.registers), nullptr);
    if (!measure_alloc && !preloaded) std::fprintf(stderr, "replay-cpp: malloc does not follow glibc's chunk rule; allocated_bytes is null\n");

    std::string preload = std::getenv("LD_PRELOAD") ? std::getenv("LD_PRELOAD") : "";
    if (preload.rfind('/') != std::string::npos) preload = preload.substr(preload.rfind('/') + 1);
    const std::string runtime = std::string("g++ ") + __VERSION__ + " -O2, " +
        (bump ? std::string("bump allocator (no free)")
              : preloaded ? "malloc from LD_PRELOAD=" + preload
                          : std::string("glibc ") + gnu_get_libc_version());
    if (samples) {
        statm_fd = ::open("/proc/self/statm", O_RDONLY);
        page_bytes = ::sysconf(_SC_PAGESIZE);
    }
    if (bump) {
        size_t total = 0;
        for (const Ev& e : t.ev)
            if (e.op == ALLOC) total += Bump::round(size_t(8 * e.c + e.b));
        Bump::reserve(total);
    }
    struct Line { Result r; double wall, cpu; long long hwm, rss_before; Sampler s; };
    std::vector<Line> lines;
    for (long k = 0; k < replays; ++k) {
        std::fill(reg.begin(), reg.end(), nullptr);   // no collection to force
        Bump::reset();
        reset_peak_rss();
        Line l{};
        l.rss_before = status_bytes("VmRSS");
        double cpu0 = cpu_seconds();
        long long bumped = Bump::handed_out;
        auto t0 = std::chrono::steady_clock::now();
        if (samples) {
            // N samples evenly through the loop (fewer if the trace has fewer events)
            l.s.step = std::max<size_t>(1, t.ev.size() / size_t(samples));
            l.s.left = size_t(samples);
            l.r = bump ? replay<Bump, false, true>(t.ev, reg, &l.s)
                       : measure_alloc ? replay<Glibc, true, true>(t.ev, reg, &l.s)
                                       : replay<Glibc, false, true>(t.ev, reg, &l.s);
        } else {
            l.r = bump ? replay<Bump, false>(t.ev, reg)
                       : measure_alloc ? replay<Glibc, true>(t.ev, reg) : replay<Glibc, false>(t.ev, reg);
        }
        auto t1 = std::chrono::steady_clock::now();
        l.cpu = cpu_seconds() - cpu0;
        l.hwm = status_bytes("VmHWM");
        l.wall = std::chrono::duration<double>(t1 - t0).count();
        if (bump) l.r.allocated = Bump::handed_out - bumped;
        else if (!measure_alloc) l.r.allocated = -1;
        lines.push_back(l);
    }
    for (long k = 0; k < replays; ++k) {
        const Line& l = lines[size_t(k)];
        const Result& r = l.r;
        long long alloc = r.allocated;
        std::string out = "{\"replay\": " + std::to_string(k) + ", \"runtime\": \"" + runtime + "\"";
        char num[64];
        std::snprintf(num, sizeof num, "%.9f", l.wall);
        out += std::string(", \"wall_time_s\": ") + num;
        std::snprintf(num, sizeof num, "%.6f", l.cpu);
        out += std::string(", \"cpu_time_s\": ") + num;
        out += ", \"gc_count\": 0, \"gc_counts\": {}, \"pauses_s\": []";
        out += ", \"pause_source\": \"none: manual memory management\"";
        out += ", \"footprint_peak_bytes\": " + (l.hwm < 0 ? std::string("null") : std::to_string(l.hwm));
        out += ", \"rss_before_bytes\": " + (l.rss_before < 0 ? std::string("null") : std::to_string(l.rss_before));
        out += ", \"allocated_bytes\": " + (alloc >= 0 ? std::to_string(alloc) : std::string("null"));
        out += ", \"digest\": {\"objects\": " + std::to_string(r.objects) +
               ", \"loads_nonnull\": " + std::to_string(r.loads_nonnull) +
               ", \"bytes\": " + std::to_string(r.bytes) + "}";
        if (samples) {
            out += ", \"footprint\": [";
            for (size_t i = 0; i < l.s.points.size(); ++i) {
                std::snprintf(num, sizeof num, "%s[%.9f, %lld]", i ? ", " : "", l.s.points[i].first, l.s.points[i].second);
                out += num;
            }
            out += "]";
        }
        out += ", \"null_reasons\": {";
        bool first = true;
        auto reason = [&](const char* metric, const char* why) {
            out += std::string(first ? "" : ", ") + "\"" + metric + "\": \"" + why + "\"";
            first = false;
        };
        if (l.hwm < 0) reason("footprint_peak_bytes", "/proc/self/status has no VmHWM");
        if (l.rss_before < 0) reason("rss_before_bytes", "/proc/self/status has no VmRSS");
        if (alloc < 0 && preloaded)
            reason("allocated_bytes", "measured for glibc only, from its chunk headers; the preloaded allocator's size classes are not read");
        else if (alloc < 0)
            reason("allocated_bytes", "glibc does not count cumulative allocation, and this malloc's usable sizes do not follow glibc's chunk rule, so the chunks it handed out cannot be measured");
        out += "}}\n";
        std::fputs(out.c_str(), stdout);
    }
    std::fflush(stdout);
    return 0;
}
