// What one reference-count update costs on this machine, uncontended (one thread touches the
// count): the figures behind the cpp model's shared_ptr costs (plugins/memcompare_cpp/costs.py).
// Built and run by bench_refcount.py; prints one "name ns_per_op" line per measurement.
//
//   plain_inc        ++count                                (libstdc++'s single-threaded path)
//   atomic_inc       __atomic_fetch_add(&count, 1, ACQ_REL) (lock add: _M_add_ref_copy)
//   atomic_xadd      __atomic_fetch_add(&count, -1, ACQ_REL), its result used (lock xadd)
//   atomic_dec       acquire load of both counts + that lock xadd: libstdc++ 12's
//                    _Sp_counted_base<_S_atomic>::_M_release when the count is not unique (the
//                    8-byte load right after a 4-byte locked write to the same word cannot be
//                    forwarded from the store buffer: back to back, it waits for the write)
//   sp_copy_destroy  a std::shared_ptr copied and the copy destroyed, in a process that has
//                    started a thread (libstdc++ then counts atomically: ext/atomicity.h
//                    __is_single_threaded reads glibc's __libc_single_threaded)
//   sp_copy_destroy_1t  the same before any thread exists (plain increments)
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <sys/single_threaded.h>
#include <thread>

static const long N = 100000000;

template <class F>
static double ns_per_op(F f) {
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        auto t0 = std::chrono::steady_clock::now();
        f();
        auto t1 = std::chrono::steady_clock::now();
        double ns = std::chrono::duration<double, std::nano>(t1 - t0).count() / N;
        if (ns < best) best = ns;
    }
    return best;
}

int main() {
    alignas(64) static volatile int plain = 0;
    alignas(64) static int counts[2] = {1, 1};
    auto sp = std::make_shared<long>(7);
    std::shared_ptr<long> sink;
    // single-threaded first: __libc_single_threaded is still true
    std::printf("libc_single_threaded_before %d\n", (int)__libc_single_threaded);
    std::printf("sp_copy_destroy_1t %.3f\n", ns_per_op([&] {
        for (long i = 0; i < N; i++) { std::shared_ptr<long> c(sp); asm volatile("" ::"r"(c.get()) : "memory"); }
    }));
    std::printf("plain_inc %.3f\n", ns_per_op([&] {
        for (long i = 0; i < N; i++) plain = plain + 1;
    }));
    std::printf("atomic_inc %.3f\n", ns_per_op([&] {
        for (long i = 0; i < N; i++) __atomic_fetch_add(&counts[0], 1, __ATOMIC_ACQ_REL);
    }));
    std::printf("atomic_xadd %.3f\n", ns_per_op([&] {
        long acc = 0;
        for (long i = 0; i < N; i++) acc += __atomic_fetch_add(&counts[0], -1, __ATOMIC_ACQ_REL);
        asm volatile("" ::"r"(acc));
    }));
    std::printf("atomic_dec %.3f\n", ns_per_op([&] {
        for (long i = 0; i < N; i++) {
            long long both = __atomic_load_n(reinterpret_cast<long long*>(counts), __ATOMIC_ACQUIRE);
            asm volatile("" ::"r"(both));
            __atomic_fetch_add(&counts[0], -1, __ATOMIC_ACQ_REL);
        }
    }));
    std::thread([] {}).join();   // from now on the process is multi-threaded for libstdc++
    std::printf("libc_single_threaded_after %d\n", (int)__libc_single_threaded);
    std::printf("sp_copy_destroy %.3f\n", ns_per_op([&] {
        for (long i = 0; i < N; i++) { std::shared_ptr<long> c(sp); asm volatile("" ::"r"(c.get()) : "memory"); }
    }));
    return 0;
}
