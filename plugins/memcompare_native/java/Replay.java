// jvm-native replayer: replays a memcompare binary trace (format v1, docs/trace-format.md)
// in the real JVM and prints one JSON result per replay (contract: docs/native.md,
// docs/design.md section 3).
//
// Usage: java [HotSpot flags] -XX:MaxDirectMemorySize=... -cp DIR Replay TRACE_FILE REPLAYS
//
// Object layout: ONE Java object per trace object, sized as the simulated `jvm` model lays
// it out (plugins/memcompare_jvm/layout.py: align8(header + payload + ref_size * nslots)):
// - nslots > 0: an Object[] whose first nslots elements are the reference slots and whose
//   extra elements stand for the payload. Its length is the smallest that is >= nslots and
//   makes align8(array base + ref_size * length) >= the model's size, so the sizes are equal
//   (the array base offset, 16 bytes with compressed class pointers, is the model's 12-byte
//   header plus the 4-byte length; each element is one reference);
// - nslots = 0: a byte[] of (model size - byte[] base offset) elements, the same bytes.
// Java has no variable-length inline fields, so a reference array is the only single object
// that holds both a typed slot array and a payload; the payload's elements stay null. The
// array lengths are computed before the clock from Unsafe.arrayBaseOffset/arrayIndexScale and
// HotSpot's UseCompressedClassPointers (HotSpotDiagnosticMXBean).
//
// Roots: `Object[] regs` (length = the header's "registers") is the program's whole root set.
// FREE clears the register, like CLEAR (the collector finds the death by reachability).
// WORK busy-spins on System.nanoTime() for its nanoseconds.
//
// The trace is decoded before the clock into one direct ByteBuffer (off the Java heap, capped
// by -XX:MaxDirectMemorySize) of 20-byte records: int op, a, b, c, and for ALLOC the array
// length.
//
// Metrics: gc_count / gc_counts = GarbageCollectorMXBean.getCollectionCount differences across
// the loop (bean kinds mapped to "minor"/"full"); pauses_s = the "Pause ..." lines of an
// -Xlog:gc file in a temporary directory, one per replay (added before the replay and removed
// after it with the VM.log diagnostic command, which closes and so flushes the file),
// decorated with `tn` (os::javaTimeNanos, the clock of System.nanoTime) and kept when the
// line's time lies inside the loop's [start, end] — HotSpot logs a pause at its end, inside
// the safepoint, with its duration at microsecond resolution ("%.3fms", GCTraceTime);
// allocated_bytes = com.sun.management.ThreadMXBean getCurrentThreadAllocatedBytes difference
// (the replay thread only; the loop allocates nothing but the trace's objects); cpu_time_s =
// this thread's CPU time (ThreadMXBean) + the other threads' /proc/self/task/*/schedstat run
// times (ns, all threads, GC included), falling back to
// com.sun.management.OperatingSystemMXBean.getProcessCpuTime (10 ms ticks on Linux);
// footprint_peak_bytes = VmHWM after writing "5" to /proc/self/clear_refs; settings = the
// HotSpot flags in force (HotSpotDiagnosticMXBean) and each memory pool's maximum size.

import java.io.FileOutputStream;
import java.io.IOException;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

public final class Replay {

    static final int ALLOC = 0, LOAD = 1, STORE = 2, MOVE = 3, CLEAR = 4, FREE = 5, WORK = 6;
    static final int REC = 20;

    /** Sizes of the model's layout and of HotSpot's arrays, for the array lengths. */
    static int header, refSize, objBase, objScale, byteBase;

    static long digestObjects, digestLoads, digestBytes;
    static volatile long sink;

    static int headerInt(String json, String key) {
        int i = json.indexOf("\"" + key + "\"");
        if (i < 0) throw new IllegalArgumentException("trace header has no \"" + key + "\"");
        i = json.indexOf(':', i) + 1;
        while (Character.isWhitespace(json.charAt(i))) i++;
        int j = i;
        while (j < json.length() && (Character.isDigit(json.charAt(j)) || json.charAt(j) == '-')) j++;
        return Integer.parseInt(json.substring(i, j));
    }

    static int toInt(long v, String what, long i) {
        if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE)
            throw new IllegalArgumentException("event " + i + ": " + what + " " + v + " does not fit the replayer's int");
        return (int) v;
    }

    /** Decode the trace into direct memory; returns {buffer}, sets n and registers via arrays. */
    static ByteBuffer load(String path, int[] nRegs) throws IOException {
        try (FileChannel ch = FileChannel.open(Paths.get(path), StandardOpenOption.READ)) {
            ByteBuffer pre = ByteBuffer.allocate(20).order(ByteOrder.LITTLE_ENDIAN);
            while (pre.hasRemaining() && ch.read(pre) >= 0) { }
            pre.flip();
            byte[] magic = new byte[8];
            pre.get(magic);
            if (!new String(magic, StandardCharsets.ISO_8859_1).equals("MCTRACE\0"))
                throw new IOException(path + ": not a memcompare binary trace (bad magic)");
            int version = pre.getInt();
            if (version != 1) throw new IOException(path + ": unsupported trace format version " + version);
            long h = Integer.toUnsignedLong(pre.getInt());
            ByteBuffer hb = ByteBuffer.allocate((int) h);
            ch.position(20);
            while (hb.hasRemaining() && ch.read(hb) >= 0) { }
            String json = new String(hb.array(), StandardCharsets.UTF_8);
            int n = headerInt(json, "events");
            int regs = headerInt(json, "registers");
            long body = 20 + h;
            if (ch.size() != body + 50L * n)
                throw new IOException(path + ": file size " + ch.size() + " != " + (body + 50L * n));
            if ((long) n * REC > Integer.MAX_VALUE)
                throw new IOException(path + ": " + n + " events exceed the replayer's 2 GiB decode buffer");
            ByteBuffer ev = ByteBuffer.allocateDirect(n * REC).order(ByteOrder.nativeOrder());
            if (n > 0) {
                MappedByteBuffer op = ch.map(FileChannel.MapMode.READ_ONLY, body, n);
                MappedByteBuffer a = ch.map(FileChannel.MapMode.READ_ONLY, body + 2L * n, 8L * n);
                MappedByteBuffer b = ch.map(FileChannel.MapMode.READ_ONLY, body + 10L * n, 8L * n);
                MappedByteBuffer c = ch.map(FileChannel.MapMode.READ_ONLY, body + 18L * n, 8L * n);
                a.order(ByteOrder.LITTLE_ENDIAN); b.order(ByteOrder.LITTLE_ENDIAN); c.order(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < n; i++) {
                    int o = i * REC;
                    int code = op.get(i) & 0xff;
                    int bb = toInt(b.getLong(i * 8), "operand b", i);
                    int cc = toInt(c.getLong(i * 8), "operand c", i);
                    ev.putInt(o, code);
                    ev.putInt(o + 4, toInt(a.getLong(i * 8), "operand a", i));
                    ev.putInt(o + 8, bb);
                    ev.putInt(o + 12, cc);
                    ev.putInt(o + 16, code == ALLOC ? arrayLength(bb, cc, i) : 0);
                }
            }
            nRegs[0] = n;
            nRegs[1] = regs;
            return ev;
        }
    }

    static long align8(long x) { return (x + 7) & ~7L; }

    /** The length of the one array that stands for a trace object of ``size`` payload bytes
     *  and ``nslots`` slots: an Object[] (nslots > 0) or a byte[] whose aligned size equals
     *  the model's align8(header + size + refSize * nslots), or exceeds it by the least. */
    static int arrayLength(int size, int nslots, long i) {
        long target = align8(header + (long) size + (long) refSize * nslots);
        long len;
        if (nslots > 0) len = Math.max(nslots, (target - objBase + objScale - 1) / objScale);
        else len = Math.max(0, target - byteBase);
        if (len > Integer.MAX_VALUE - 8)
            throw new IllegalArgumentException("event " + i + ": an object of " + size
                    + " bytes and " + nslots + " slots exceeds a Java array");
        return (int) len;
    }

    /** sun.misc.Unsafe's array geometry (jdk.unsupported), by reflection so javac does not
     *  warn about the internal API. */
    static void arrayGeometry() throws ReflectiveOperationException {
        Class<?> u = Class.forName("sun.misc.Unsafe");
        java.lang.reflect.Field f = u.getDeclaredField("theUnsafe");
        f.setAccessible(true);
        Object unsafe = f.get(null);
        java.lang.reflect.Method base = u.getMethod("arrayBaseOffset", Class.class);
        java.lang.reflect.Method scale = u.getMethod("arrayIndexScale", Class.class);
        objBase = (Integer) base.invoke(unsafe, Object[].class);
        objScale = (Integer) scale.invoke(unsafe, Object[].class);
        byteBase = (Integer) base.invoke(unsafe, byte[].class);
        refSize = objScale;
        // the model's instance header: mark word + narrow or wide class pointer (layout.py)
        header = 8 + ("true".equals(vmOption("UseCompressedClassPointers")) ? 4 : 8);
    }

    static com.sun.management.HotSpotDiagnosticMXBean diag;

    static String vmOption(String name) {
        try {
            if (diag == null) diag = ManagementFactory.getPlatformMXBean(
                    com.sun.management.HotSpotDiagnosticMXBean.class);
            return diag.getVMOption(name).getValue();
        } catch (RuntimeException e) {
            return null;
        }
    }

    /** HotSpot's flags in force, and each heap pool's maximum: what the replay ran with. */
    static String settingsJson() {
        String[] names = {"UseSerialGC", "UseParallelGC", "UseG1GC", "UseZGC", "ZGenerational", "UseEpsilonGC",
                "MaxHeapSize", "G1HeapRegionSize", "MaxGCPauseMillis", "InitiatingHeapOccupancyPercent",
                "G1UseAdaptiveIHOP",
                "InitialHeapSize", "NewSize", "MaxNewSize", "NewRatio", "SurvivorRatio",
                "MaxTenuringThreshold", "TargetSurvivorRatio", "ParallelGCThreads",
                "UseAdaptiveSizePolicy", "UseCompressedOops", "UseCompressedClassPointers",
                "AlwaysPreTouch", "EliminateAllocations", "UseTLAB"};
        StringBuilder b = new StringBuilder("{\"java_version\": ")
                .append(str(System.getProperty("java.specification.version"))).append(", \"flags\": {");
        boolean first = true;
        for (String k : names) {
            String v = vmOption(k);
            if (v == null) continue;
            if (!first) b.append(", ");
            first = false;
            b.append(str(k)).append(": ").append(v.matches("-?[0-9]+|true|false") ? v : str(v));
        }
        b.append("}, \"pools\": {");
        first = true;
        for (java.lang.management.MemoryPoolMXBean mp : ManagementFactory.getMemoryPoolMXBeans()) {
            if (mp.getType() != java.lang.management.MemoryType.HEAP) continue;
            if (!first) b.append(", ");
            first = false;
            b.append(str(mp.getName())).append(": ").append(mp.getUsage().getMax());
        }
        return b.append("}}").toString();
    }

    /** The VM.log diagnostic command (jcmd PID VM.log ...) on this JVM: null when it worked,
     *  else the reason. It adds or removes a unified-logging output at run time. */
    static String vmLog(String... options) {
        try {
            ManagementFactory.getPlatformMBeanServer().invoke(
                    new javax.management.ObjectName("com.sun.management:type=DiagnosticCommand"),
                    "vmLog", new Object[]{options}, new String[]{String[].class.getName()});
            return null;
        } catch (Exception e) {
            return e.toString();
        }
    }

    /** One line of the -Xlog:gc file: a stop-the-world pause (seconds >= 0) or the end of a
     *  concurrent ZGC collection (seconds < 0), when it was logged (os::javaTimeNanos) and
     *  its kind: "minor", "mixed" or "full" for a collecting pause, "remark" / "cleanup" for
     *  G1's marking pauses and "pause" for ZGC's, which collect nothing themselves; "cycle",
     *  "minor" or "major" for a ZGC collection. */
    static final class LogPause {
        final long atNs; final double seconds; final String kind;
        LogPause(long atNs, double seconds, String kind) {
            this.atNs = atNs; this.seconds = seconds; this.kind = kind;
        }
        boolean collection() {
            return seconds < 0 || kind.equals("minor") || kind.equals("mixed") || kind.equals("full");
        }
    }

    // "[123456789ns][info][gc] GC(3) Pause Young (Allocation Failure) 3M->1M(8M) 3.215ms"
    // G1 (g1YoungGCEvacFailureInjector/G1YoungGCTraceTime): "Pause Young (Normal) (G1
    // Evacuation Pause) ...", "(Concurrent Start)", "(Prepare Mixed)", "(Mixed)"; "Pause Remark",
    // "Pause Cleanup", "Pause Full (G1 Compaction Pause)". ZGC's pauses are gc+phases lines,
    // prefixed "Y: " / "O: " by generational ZGC (JDK 21+): "GC(0) Y: Pause Mark Start 0.012ms"
    static final java.util.regex.Pattern PAUSE = java.util.regex.Pattern.compile(
            "^\\[(\\d+)ns\\].*\\bGC\\(\\d+\\) (?:[A-Za-z]: )?Pause (\\w+)(?: \\(([^)]*)\\))?.* (\\d+(?:\\.\\d+)?)ms$");
    // ZGC's collections: "GC(0) Garbage Collection (Warmup) 10M(16%)->8M(12%)" (JDK 17),
    // "GC(0) Minor Collection (Allocation Rate) ..." / "Major Collection (...)" (JDK 21+)
    static final java.util.regex.Pattern ZCYCLE = java.util.regex.Pattern.compile(
            "^\\[(\\d+)ns\\].*\\[gc *\\] ?GC\\(\\d+\\) (Garbage|Minor|Major) Collection \\(");

    static String pauseKind(String what, String why) {
        if (what.equals("Young")) return "Mixed".equals(why) ? "mixed" : "minor";
        if (what.equals("Full")) return "full";
        if (what.equals("Remark")) return "remark";
        if (what.equals("Cleanup")) return "cleanup";
        return "pause";
    }

    /** Every pause and ZGC collection line of the log, or null when it cannot be read. */
    static List<LogPause> readPauses(String path) {
        List<LogPause> out = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(Paths.get(path), StandardCharsets.UTF_8)) {
                java.util.regex.Matcher m = PAUSE.matcher(line);
                if (m.find()) {
                    out.add(new LogPause(Long.parseLong(m.group(1)), Double.parseDouble(m.group(4)) / 1e3,
                            pauseKind(m.group(2), m.group(3))));
                    continue;
                }
                m = ZCYCLE.matcher(line);
                if (m.find())
                    out.add(new LogPause(Long.parseLong(m.group(1)), -1,
                            m.group(2).equals("Garbage") ? "cycle" : m.group(2).toLowerCase(Locale.ROOT)));
            }
        } catch (IOException | RuntimeException e) {
            return null;
        }
        return out;
    }

    static boolean useSchedstat;

    /** Process CPU ns: schedstat when available, else OperatingSystemMXBean.getProcessCpuTime
     *  (which Linux HotSpot computes from times(), i.e. clock-tick = 10 ms resolution). */
    static long cpuNs(com.sun.management.OperatingSystemMXBean os) {
        if (useSchedstat) {
            long v = schedstatCpuNs();
            if (v >= 0) return v;
        }
        return os != null ? os.getProcessCpuTime() : -1;
    }

    static void spin(long ns) {
        long end = System.nanoTime() + ns;
        long k = 0;
        while (System.nanoTime() < end) k++;
        sink += k;
    }

    /** The timed loop. Digest counters are local and published at the end. */
    static void run(ByteBuffer ev, int n, Object[] r) {
        long objects = 0, loads = 0, bytes = 0;
        for (int i = 0; i < n; i++) {
            int o = i * REC;
            int op = ev.getInt(o);
            int a = ev.getInt(o + 4);
            switch (op) {
                case ALLOC: {
                    int size = ev.getInt(o + 8), nslots = ev.getInt(o + 12), len = ev.getInt(o + 16);
                    r[a] = nslots > 0 ? new Object[len] : new byte[len];
                    objects++;
                    bytes += size + 8L * nslots;
                    break;
                }
                case LOAD: {
                    Object v = ((Object[]) r[ev.getInt(o + 8)])[ev.getInt(o + 12)];
                    r[a] = v;
                    if (v != null) loads++;
                    break;
                }
                case STORE: {
                    int rv = ev.getInt(o + 12);
                    ((Object[]) r[a])[ev.getInt(o + 8)] = rv < 0 ? null : r[rv];
                    break;
                }
                case MOVE: r[a] = r[ev.getInt(o + 8)]; break;
                case CLEAR:
                case FREE: r[a] = null; break;
                case WORK: spin(a); break;
                default: throw new IllegalStateException("event " + i + ": bad op " + op);
            }
        }
        digestObjects = objects; digestLoads = loads; digestBytes = bytes;
    }

    static long procStatus(String key) {
        try {
            for (String line : Files.readAllLines(Paths.get("/proc/self/status"))) {
                if (line.startsWith(key + ":")) {
                    String[] f = line.substring(key.length() + 1).trim().split("\\s+");
                    return Long.parseLong(f[0]) * 1024L;   // kB
                }
            }
        } catch (IOException | RuntimeException e) { /* fall through */ }
        return -1;
    }

    static String selfTid;

    /** Process CPU time in ns: this thread's CPU time (ThreadMXBean, CLOCK_THREAD_CPUTIME_ID,
     *  exact) plus sum_exec_runtime of every other thread from /proc/self/task/<tid>/schedstat
     *  (ns, up to date for threads that are not running; the kernel updates a running thread's
     *  value only at ticks, hence not used for this one); -1 when procfs does not give it. */
    static long schedstatCpuNs() {
        long total = ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime();
        if (total < 0) return -1;
        try (java.nio.file.DirectoryStream<Path> ds = Files.newDirectoryStream(Paths.get("/proc/self/task"))) {
            for (Path t : ds) {
                if (t.getFileName().toString().equals(selfTid)) continue;
                try {
                    String s = new String(Files.readAllBytes(t.resolve("schedstat")), StandardCharsets.US_ASCII);
                    total += Long.parseLong(s.substring(0, s.indexOf(' ')));
                } catch (IOException e) { /* thread exited meanwhile */ }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return total;
    }

    static void resetPeak() {
        try (FileOutputStream f = new FileOutputStream("/proc/self/clear_refs")) {
            f.write('5');
        } catch (IOException e) {
            System.err.println("replay: cannot reset the peak RSS: " + e.getMessage());
        }
    }

    static String kind(String beanName) {
        switch (beanName) {
            case "Copy": case "PS Scavenge": case "ParNew": case "G1 Young Generation":
            case "ZGC Minor Cycles": case "Shenandoah Cycles":
                return "minor";
            case "MarkSweepCompact": case "PS MarkSweep": case "G1 Old Generation":
            case "ConcurrentMarkSweep": case "ZGC Major Cycles":
                return "full";
            case "ZGC Cycles":
                return "cycle";
            case "Epsilon Heap":     // Epsilon never collects (its bean counts nothing)
            case "ZGC Pauses": case "ZGC Minor Pauses": case "ZGC Major Pauses":
            case "G1 Concurrent GC": // pauses within collections counted by the beans above
                return null;
            default:
                return beanName;
        }
    }

    static String str(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            if (ch == '"' || ch == '\\') b.append('\\').append(ch);
            else if (ch < 0x20) b.append(String.format("\\u%04x", (int) ch));
            else b.append(ch);
        }
        return b.append('"').toString();
    }

    static String num(double d) {
        return String.format(Locale.ROOT, "%.9f", d);
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: java Replay TRACE_FILE REPLAYS");
            System.exit(2);
        }
        int replays = Integer.parseInt(args[1]);
        arrayGeometry();
        int[] nr = new int[2];
        ByteBuffer ev = load(args[0], nr);
        int n = nr[0];
        Object[] regs = new Object[Math.max(nr[1], 1)];
        Path logDir = Files.createTempDirectory("memcompare-gclog-");

        List<GarbageCollectorMXBean> beans = ManagementFactory.getGarbageCollectorMXBeans();
        int nb = beans.size();
        String[] kinds = new String[nb];
        for (int k = 0; k < nb; k++) kinds[k] = kind(beans.get(k).getName());

        com.sun.management.ThreadMXBean tmx = null;
        java.lang.management.ThreadMXBean t0 = ManagementFactory.getThreadMXBean();
        if (t0 instanceof com.sun.management.ThreadMXBean) {
            tmx = (com.sun.management.ThreadMXBean) t0;
            try {
                if (!tmx.isThreadAllocatedMemorySupported()) tmx = null;
                else tmx.setThreadAllocatedMemoryEnabled(true);
            } catch (UnsupportedOperationException e) { tmx = null; }
        }
        com.sun.management.OperatingSystemMXBean os = null;
        java.lang.management.OperatingSystemMXBean o0 = ManagementFactory.getOperatingSystemMXBean();
        if (o0 instanceof com.sun.management.OperatingSystemMXBean) os = (com.sun.management.OperatingSystemMXBean) o0;
        try {
            selfTid = Files.readSymbolicLink(Paths.get("/proc/thread-self")).getFileName().toString();
            useSchedstat = schedstatCpuNs() >= 0;
        } catch (IOException | RuntimeException e) {
            useSchedstat = false;
        }

        StringBuilder gcNames = new StringBuilder();
        for (GarbageCollectorMXBean bn : beans) gcNames.append(gcNames.length() > 0 ? "+" : "").append(bn.getName());
        String runtime = System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version")
                + " (" + gcNames + ")";
        String settings = settingsJson();
        boolean g1 = "true".equals(vmOption("UseG1GC")), zgc = "true".equals(vmOption("UseZGC"));
        // the calls around the loop, once before the first replay: their first call loads
        // classes and allocates far more than later ones, and what they allocate after the
        // System.gc() below sits in eden when the loop starts
        procStatus("VmRSS");
        cpuNs(os);
        if (tmx != null) tmx.getCurrentThreadAllocatedBytes();
        for (GarbageCollectorMXBean bn : beans) bn.getCollectionCount();
        long[] c0 = new long[nb], c1 = new long[nb];
        for (int rep = 0; rep < replays; rep++) {
            java.util.Arrays.fill(regs, null);
            String gcLog = logDir.resolve("gc-" + rep + ".log").toString();
            String logError = vmLog("output=file=" + gcLog, zgc ? "what=gc,gc+phases" : "what=gc",
                    "decorators=tn");
            System.gc();
            resetPeak();
            long rssBefore = procStatus("VmRSS");
            // reading procfs allocates and may start a collection: the counters closest to the
            // loop are the collection counts and the clock
            long cpu0 = cpuNs(os);
            long alloc0 = tmx != null ? tmx.getCurrentThreadAllocatedBytes() : 0;
            for (int k = 0; k < nb; k++) c0[k] = beans.get(k).getCollectionCount();
            long w0 = System.nanoTime();

            run(ev, n, regs);

            long w1 = System.nanoTime();
            for (int k = 0; k < nb; k++) c1[k] = beans.get(k).getCollectionCount();
            long alloc1 = tmx != null ? tmx.getCurrentThreadAllocatedBytes() : 0;
            long cpu1 = cpuNs(os);
            long hwm = procStatus("VmHWM");
            // removing the output closes (and so flushes) the log file: JDK 17's unified
            // logging does not flush a file after each line
            if (logError == null) logError = vmLog("output=file=" + gcLog, "what=all=off");

            long gcCount = 0;
            java.util.LinkedHashMap<String, Long> counts = new java.util.LinkedHashMap<>();
            counts.put("minor", 0L);
            counts.put("full", 0L);
            for (int k = 0; k < nb; k++) {
                long d = c1[k] - c0[k];
                if (kinds[k] == null) continue;
                gcCount += d;
                counts.merge(kinds[k], d, Long::sum);
            }

            // pauses: the log's pause lines logged inside the loop (a pause is logged at its
            // end, inside the safepoint, so a pause of the loop is logged before w1; the
            // System.gc() before the loop is logged before w0)
            List<Double> pauses = null;
            String pauseWhy = null;
            if (logError != null) {
                pauseWhy = "cannot configure the -Xlog:gc file with the VM.log diagnostic command: "
                        + logError;
            } else {
                List<LogPause> all = readPauses(gcLog);
                Files.deleteIfExists(Paths.get(gcLog));
                if (all == null) pauseWhy = "cannot read the -Xlog:gc file " + gcLog;
                else {
                    pauses = new ArrayList<>();
                    counts.clear();
                    counts.put("minor", 0L);
                    if (!zgc) counts.put("full", 0L);
                    if (g1) counts.put("mixed", 0L);
                    gcCount = 0;
                    for (LogPause lp : all)
                        if (lp.atNs >= w0 && lp.atNs <= w1) {
                            if (lp.seconds >= 0) pauses.add(lp.seconds);
                            // a ZGC pause is part of a concurrent collection, counted once
                            // at the collection's own line
                            if (lp.collection() && (zgc == (lp.seconds < 0))) {
                                counts.merge(lp.kind, 1L, Long::sum);
                                gcCount++;
                            }
                        }
                    // the log's pauses are the loop's own; the MXBean counts agree unless a
                    // collection fell between reading them and the clock
                }
            }

            StringBuilder nulls = new StringBuilder();
            StringBuilder out = new StringBuilder(512);
            out.append("{\"replay\": ").append(rep);
            out.append(", \"runtime\": ").append(str(runtime));
            out.append(", \"wall_time_s\": ").append(num((w1 - w0) / 1e9));
            out.append(", \"cpu_time_s\": ").append(num((cpu1 - cpu0) / 1e9));
            out.append(", \"gc_count\": ").append(gcCount);
            out.append(", \"gc_counts\": {");
            boolean first = true;
            for (java.util.Map.Entry<String, Long> e : counts.entrySet()) {
                if (!first) out.append(", ");
                first = false;
                out.append(str(e.getKey())).append(": ").append(e.getValue());
            }
            out.append("}");
            if (pauses != null) {
                out.append(", \"pauses_s\": [");
                for (int i = 0; i < pauses.size(); i++) {
                    if (i > 0) out.append(", ");
                    out.append(num(pauses.get(i)));
                }
                out.append("], \"pause_source\": ").append(str("-Xlog:gc"));
            } else {
                out.append(", \"pauses_s\": null, \"pause_source\": null");
                nulls.append(str("pauses_s")).append(": ").append(str(pauseWhy));
            }
            out.append(", \"footprint_peak_bytes\": ").append(hwm);
            out.append(", \"rss_before_bytes\": ").append(rssBefore);
            if (tmx != null) out.append(", \"allocated_bytes\": ").append(alloc1 - alloc0);
            else {
                out.append(", \"allocated_bytes\": null");
                if (nulls.length() > 0) nulls.append(", ");
                nulls.append(str("allocated_bytes")).append(": ")
                     .append(str("this JVM does not support ThreadMXBean.getThreadAllocatedBytes"));
            }
            out.append(", \"digest\": {\"objects\": ").append(digestObjects)
               .append(", \"loads_nonnull\": ").append(digestLoads)
               .append(", \"bytes\": ").append(digestBytes).append("}");
            out.append(", \"settings\": ").append(settings);
            out.append(", \"null_reasons\": {").append(nulls).append("}}");
            System.out.println(out);
            System.out.flush();
        }
        java.util.Arrays.fill(regs, null);
        Files.deleteIfExists(logDir);
        System.err.println("replay: sink " + sink);
    }
}
