// jvm-native replayer: replays a memcompare binary trace (format v1, docs/trace-format.md)
// in the real JVM and prints one JSON result per replay (contract: /tmp/native-contract.md,
// DESIGN.md section 3).
//
// Usage: java [HotSpot flags] -XX:MaxDirectMemorySize=... -cp DIR Replay TRACE_FILE REPLAYS
//
// Object layout: one trace object = one instance of `Obj { Obj[] slots; byte[] payload; }`,
// i.e. up to three real allocations: the Obj itself (12-byte header + two references), an
// Obj[nslots] when nslots > 0, and a zeroed byte[size] when size > 0 (null fields otherwise).
// Java has no variable-length inline arrays in objects, so this is the fewest allocations that
// keep a typed slot array and a real payload.
//
// Roots: `Obj[] regs` (length = the header's "registers") is the program's whole root set.
// FREE clears the register, like CLEAR (the collector finds the death by reachability).
// WORK busy-spins on System.nanoTime() for its nanoseconds.
//
// The trace is decoded before the clock into one direct ByteBuffer (off the Java heap, capped
// by -XX:MaxDirectMemorySize) of 16-byte records: int op, int a, int b, int c.
//
// Metrics: gc_count / gc_counts = GarbageCollectorMXBean.getCollectionCount differences across
// the loop (bean kinds mapped to "minor"/"full"); pauses_s = GcInfo.getDuration() of
// GarbageCollectionNotificationInfo notifications whose GcInfo id falls inside the loop's
// count window (millisecond resolution); allocated_bytes = com.sun.management.ThreadMXBean
// getCurrentThreadAllocatedBytes difference (the replay thread only); cpu_time_s =
// this thread's CPU time (ThreadMXBean) + the other threads' /proc/self/task/*/schedstat run
// times (ns, all threads, GC included), falling back
// to com.sun.management.OperatingSystemMXBean.getProcessCpuTime (10 ms ticks on Linux); footprint_peak_bytes = VmHWM after writing "5" to /proc/self/clear_refs.

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
import java.util.concurrent.ConcurrentLinkedQueue;
import javax.management.Notification;
import javax.management.NotificationEmitter;
import javax.management.NotificationListener;
import javax.management.openmbean.CompositeData;
import com.sun.management.GarbageCollectionNotificationInfo;

public final class Replay {

    static final class Obj {
        Obj[] slots;
        byte[] payload;
    }

    static final int ALLOC = 0, LOAD = 1, STORE = 2, MOVE = 3, CLEAR = 4, FREE = 5, WORK = 6;
    static final int REC = 16;

    /** A GC notification: which bean, its GC id, its duration in ms. */
    static final class GcEvent {
        final int bean; final long id; final long durationMs;
        GcEvent(int bean, long id, long durationMs) { this.bean = bean; this.id = id; this.durationMs = durationMs; }
    }

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
                    ev.putInt(o, op.get(i) & 0xff);
                    ev.putInt(o + 4, toInt(a.getLong(i * 8), "operand a", i));
                    ev.putInt(o + 8, toInt(b.getLong(i * 8), "operand b", i));
                    ev.putInt(o + 12, toInt(c.getLong(i * 8), "operand c", i));
                }
            }
            nRegs[0] = n;
            nRegs[1] = regs;
            return ev;
        }
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
    static void run(ByteBuffer ev, int n, Obj[] r) {
        long objects = 0, loads = 0, bytes = 0;
        for (int i = 0; i < n; i++) {
            int o = i * REC;
            int op = ev.getInt(o);
            int a = ev.getInt(o + 4);
            switch (op) {
                case ALLOC: {
                    int size = ev.getInt(o + 8), nslots = ev.getInt(o + 12);
                    Obj x = new Obj();
                    if (nslots > 0) x.slots = new Obj[nslots];
                    if (size > 0) x.payload = new byte[size];
                    r[a] = x;
                    objects++;
                    bytes += size + 8L * nslots;
                    break;
                }
                case LOAD: {
                    Obj v = r[ev.getInt(o + 8)].slots[ev.getInt(o + 12)];
                    r[a] = v;
                    if (v != null) loads++;
                    break;
                }
                case STORE: {
                    int rv = ev.getInt(o + 12);
                    r[a].slots[ev.getInt(o + 8)] = rv < 0 ? null : r[rv];
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
        int[] nr = new int[2];
        ByteBuffer ev = load(args[0], nr);
        int n = nr[0];
        Obj[] regs = new Obj[Math.max(nr[1], 1)];

        List<GarbageCollectorMXBean> beans = ManagementFactory.getGarbageCollectorMXBeans();
        int nb = beans.size();
        String[] kinds = new String[nb];
        final ConcurrentLinkedQueue<GcEvent> events = new ConcurrentLinkedQueue<>();
        boolean listening = true;
        for (int k = 0; k < nb; k++) {
            kinds[k] = kind(beans.get(k).getName());
            final int idx = k;
            if (beans.get(k) instanceof NotificationEmitter) {
                NotificationListener l = (Notification note, Object hb) -> {
                    if (!GarbageCollectionNotificationInfo.GARBAGE_COLLECTION_NOTIFICATION.equals(note.getType())) return;
                    GarbageCollectionNotificationInfo info =
                            GarbageCollectionNotificationInfo.from((CompositeData) note.getUserData());
                    events.add(new GcEvent(idx, info.getGcInfo().getId(), info.getGcInfo().getDuration()));
                };
                ((NotificationEmitter) beans.get(k)).addNotificationListener(l, null, null);
            } else {
                listening = false;
            }
        }

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
        long[] c0 = new long[nb], c1 = new long[nb];
        for (int rep = 0; rep < replays; rep++) {
            java.util.Arrays.fill(regs, null);
            System.gc();
            resetPeak();
            long rssBefore = procStatus("VmRSS");
            for (int k = 0; k < nb; k++) c0[k] = beans.get(k).getCollectionCount();
            long cpu0 = cpuNs(os);
            long alloc0 = tmx != null ? tmx.getCurrentThreadAllocatedBytes() : 0;
            long w0 = System.nanoTime();

            run(ev, n, regs);

            long w1 = System.nanoTime();
            long alloc1 = tmx != null ? tmx.getCurrentThreadAllocatedBytes() : 0;
            long cpu1 = cpuNs(os);
            for (int k = 0; k < nb; k++) c1[k] = beans.get(k).getCollectionCount();
            long hwm = procStatus("VmHWM");

            // notifications arrive on the service thread: wait for every GC of the window
            long expected = 0;
            for (int k = 0; k < nb; k++) expected += c1[k] - c0[k];
            List<Long> pausesMs = new ArrayList<>();
            boolean complete = false;
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (listening) {
                pausesMs.clear();
                for (GcEvent e : events)
                    if (e.id > c0[e.bean] && e.id <= c1[e.bean]) pausesMs.add(e.durationMs);
                if (pausesMs.size() >= expected) { complete = true; break; }
                if (System.nanoTime() > deadline) break;
                Thread.sleep(2);
            }
            events.removeIf(e -> e.id <= c1[e.bean]);

            long gcCount = 0;
            java.util.LinkedHashMap<String, Long> counts = new java.util.LinkedHashMap<>();
            counts.put("minor", 0L);
            counts.put("full", 0L);
            for (int k = 0; k < nb; k++) {
                long d = c1[k] - c0[k];
                gcCount += d;
                counts.merge(kinds[k], d, Long::sum);
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
            if (complete) {
                out.append(", \"pauses_s\": [");
                for (int i = 0; i < pausesMs.size(); i++) {
                    if (i > 0) out.append(", ");
                    out.append(num(pausesMs.get(i) / 1e3));
                }
                out.append("], \"pause_source\": ").append(str(
                        "GarbageCollectionNotificationInfo GcInfo.getDuration() per collection "
                        + "(millisecond resolution; sub-ms pauses read 0), windowed by GC id to the loop"));
            } else {
                out.append(", \"pauses_s\": null, \"pause_source\": null");
                nulls.append(str("pauses_s")).append(": ").append(str(listening
                        ? "GC notifications for " + expected + " collections did not all arrive within 5 s"
                        : "a GC MXBean is not a NotificationEmitter"));
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
            out.append(", \"null_reasons\": {").append(nulls).append("}}");
            System.out.println(out);
            System.out.flush();
        }
        java.util.Arrays.fill(regs, null);
        System.err.println("replay: sink " + sink);
    }
}
