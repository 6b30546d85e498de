// Does copying scale with threads on this machine? (docs/native-jvm.md, "The third round")
//
//     g++ -O2 -pthread benchmarks/parallel_copy.cpp -o /tmp/parallel_copy && /tmp/parallel_copy
//
// Copies 256 MiB of 1 KiB objects (a compute loop for contrast), three rounds, and prints
// ns per byte of the whole copy:
//   - into pre-touched memory with 1 and 2 threads, each thread its own buffers;
//   - into a fresh mapping (first-write page faults) with 1 thread, 2 threads each filling
//     its own half, and 2 threads interleaving their objects 1 KiB apart (as G1's workers
//     do when they all allocate directly in one old region).
#include <chrono>
#include <cstdio>
#include <cstring>
#include <sys/mman.h>
#include <thread>
#include <vector>

static const size_t N = 256ul << 20, OBJ = 1024;

static char* map(bool touch) {
    char* p = static_cast<char*>(mmap(nullptr, N, PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (touch) memset(p, 1, N);
    return p;
}

// `threads` threads copy src to dst: thread t takes chunks t, t + threads, ... of `chunk` bytes
static double copy(const char* src, char* dst, int threads, size_t chunk) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; t++)
        pool.emplace_back([=] {
            for (size_t c = t * chunk; c < N; c += threads * chunk)
                for (size_t off = c; off < c + chunk && off < N; off += OBJ)
                    memcpy(dst + off, src + off, OBJ);
        });
    for (auto& th : pool) th.join();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() * 1e9 / N;
}

static double compute(int threads) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    std::vector<unsigned long> sink(threads);
    for (int t = 0; t < threads; t++)
        pool.emplace_back([&, t] {
            unsigned long x = t;
            for (size_t i = 0; i < N / 2 / threads; i++) x = x * 6364136223846793005ul + 1;
            sink[t] = x;
        });
    for (auto& th : pool) th.join();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() * 1e9 / N;
}

int main() {
    char* src = map(true);
    for (int round = 0; round < 3; round++) {
        printf("round %d (ns per byte of the whole job)\n", round + 1);
        printf("  compute loop, 1 thread            %.3f\n", compute(1));
        printf("  compute loop, 2 threads           %.3f\n", compute(2));
        char* dst = map(true);
        printf("  pre-touched, 1 thread             %.3f\n", copy(src, dst, 1, N));
        printf("  pre-touched, 2 threads, halves    %.3f\n", copy(src, dst, 2, N / 2));
        munmap(dst, N);
        struct { const char* what; int threads; size_t chunk; } fresh[] = {
            {"fresh pages, 1 thread            ", 1, N},
            {"fresh pages, 2 threads, halves   ", 2, N / 2},
            {"fresh pages, 2 threads, 1 KiB    ", 2, OBJ}};
        for (auto& f : fresh) {
            dst = map(false);
            printf("  %s %.3f\n", f.what, copy(src, dst, f.threads, f.chunk));
            munmap(dst, N);
        }
    }
}
