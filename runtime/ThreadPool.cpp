// The kernels' thread pool: every parallel loop of the Halide kernels
// (halide_do_par_for) runs here, on workers that spin between loops.
//
// Halide's own pool puts a worker to sleep on a condition variable as soon as
// it finds no work, and a thread that finishes its share of a loop sleeps
// until the others finish theirs: a ResNet-18 training step runs ~280
// parallel loops, LeNet-5's a few dozen of tens of microseconds each. On a
// virtual machine every such sleep halts the vCPU, and when the host is busy
// the wake-up waits for the host's scheduler. So a worker here spins (with
// pause) for CNNRT_SPIN_US microseconds after its last loop (default 2000)
// before it sleeps, as OpenMP's workers do, and a loop's caller spins until
// its loop is done. Measured with two copies of one library in one process,
// one per pool, calls alternating, on a busy 2-core VM:
// LeNet-5 training steps at batch 64 0.73-0.87 of Halide's pool's (three
// runs), GoogLeNet inference at batch 1 0.81-0.99, ResNet-18 training
// 0.83-1.03 and inference 0.80-1.02; on an idle machine the two are within noise.
//
//  - One loop at a time: a loop that starts while another runs (a concurrent
//    call on another thread, or a loop nested in a loop's body) runs serially
//    on its own thread.
//  - Iterations are claimed one at a time, the caller taking part.
//  - Worker k stays on a core of its own and flushes denormals to zero
//    (start_pool_worker).
//  - Threads: HL_NUM_THREADS, else the cores this process may use;
//    cnnrt_set_num_threads changes it. CNNRT_THREAD_POOL=halide leaves the
//    loops to Halide's pool instead.
//  - In a child process after fork() the workers are gone: its loops run
//    serially, and it leaves the pool alone at exit.
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <HalideRuntime.h>

#include "runtime/Internal.h"

// Halide's standalone runtime (linked into every model .so); weak as in Runtime.cpp.
extern "C" {
#pragma weak halide_set_custom_do_par_for
#pragma weak halide_do_par_for
}

namespace cnnrt {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

int env_int(const char *name, int fallback) {
    const char *v = std::getenv(name);
    if (!v || !*v) return fallback;
    char *end = nullptr;
    long n = std::strtol(v, &end, 10);
    return (*end == '\0' && n >= 0 && n <= 1000000000) ? int(n) : fallback;
}

int default_threads() {
    int n = env_int("HL_NUM_THREADS", 0);
    if (n > 0) return n;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    unsigned hw = std::thread::hardware_concurrency();
    return hw ? int(hw) : 1;
}

// Set in a child process after fork(): the pool's workers are not in it.
std::atomic<bool> g_forked{false};

class SpinningPool {
public:
    // Stops and joins the workers (at exit, or when the library is unloaded).
    void shut_down() {
        {
            std::lock_guard<std::mutex> lock(sleep_mutex_);
            shutdown_ = true;
        }
        wake_.notify_all();
        for (std::thread &t : workers_) t.join();
        workers_.clear();
    }

    int run(void *user_context, halide_task_t task, int min, int extent, uint8_t *closure) {
        if (extent <= 0) return 0;
        bool idle = false;
        if (extent == 1 || shutdown_.load() || g_forked.load() || !busy_.compare_exchange_strong(idle, true))
            return run_serially(user_context, task, min, extent, closure);
        if (!start_workers()) {
            busy_.store(false);
            return run_serially(user_context, task, min, extent, closure);
        }
        task_ = task;
        user_context_ = user_context;
        closure_ = closure;
        min_ = min;
        extent_ = extent;
        next_.store(0);
        done_.store(0);
        error_.store(0);
        participants_ = threads_.load() - 1;
        open_.store(true);
        generation_.fetch_add(1);
        if (sleepers_.load() > 0) {
            { std::lock_guard<std::mutex> lock(sleep_mutex_); }
            wake_.notify_all();
        }
        work();
        for (unsigned spins = 0; done_.load(std::memory_order_acquire) < extent; ++spins) relax(spins);
        open_.store(false);
        for (unsigned spins = 0; active_.load() > 0; ++spins) relax(spins);
        const int error = error_.load();
        busy_.store(false);
        return error;
    }

    // The previous thread count; n = 0 restores the default.
    int set_threads(int n) { return threads_.exchange(n > 0 ? n : default_threads()); }

private:
    static int run_serially(void *user_context, halide_task_t task, int min, int extent, uint8_t *closure) {
        int error = 0;
        for (int i = 0; i < extent && error == 0; ++i) error = task(user_context, min + i, closure);
        return error;
    }

    // Waiting on other threads: spin, yielding the core now and then in case
    // the thread we wait for shares it.
    static void relax(unsigned spins) {
        if (spins % 4096 == 4095) sched_yield();
        else cpu_relax();
    }

    // Claims and runs iterations of the open loop until none are left.
    void work() {
        for (;;) {
            int i = next_.fetch_add(1);
            if (i >= extent_) return;
            if (error_.load(std::memory_order_relaxed) == 0) {
                int rc = task_(user_context_, min_ + i, closure_);
                if (rc != 0) {
                    int expected = 0;
                    error_.compare_exchange_strong(expected, rc);
                }
            }
            done_.fetch_add(1, std::memory_order_release);
        }
    }

    // With busy_ taken. False where no worker could be started (the loop then runs serially).
    bool start_workers() {
        const int wanted = threads_.load() - 1;
        // The loop about to open is the next generation: a new worker waits for it.
        const uint64_t current = generation_.load();
        while (int(workers_.size()) < wanted) {
            try {
                const int k = int(workers_.size());
                workers_.emplace_back([this, k, current] { worker_main(k, current); });
            } catch (...) {
                break;
            }
        }
        return wanted >= 1 && !workers_.empty();
    }

    void worker_main(int k, uint64_t seen) {
        start_pool_worker(k);
        const auto spin_time = std::chrono::microseconds(env_int("CNNRT_SPIN_US", 2000));
        for (;;) {
            // Spin for the next loop, then sleep.
            auto idle_since = std::chrono::steady_clock::now();
            for (unsigned spins = 0; generation_.load() == seen && !shutdown_.load(); ++spins) {
                cpu_relax();
                if (spins % 256 == 255 && std::chrono::steady_clock::now() - idle_since > spin_time) {
                    std::unique_lock<std::mutex> lock(sleep_mutex_);
                    sleepers_.fetch_add(1);
                    wake_.wait(lock, [&] { return generation_.load() != seen || shutdown_.load(); });
                    sleepers_.fetch_sub(1);
                }
            }
            if (shutdown_.load()) return;
            seen = generation_.load();
            // The caller waits for active_ to drop to zero before it returns,
            // and clears open_ before that: a worker that counts itself in and
            // then sees the loop open reads its fields while they stay valid.
            active_.fetch_add(1);
            if (open_.load() && k < participants_) work();
            active_.fetch_sub(1);
        }
    }

    std::atomic<bool> busy_{false};  // a loop is open (taken by its caller; never waited for)
    std::vector<std::thread> workers_;
    std::atomic<int> threads_{default_threads()};

    // The open loop: written by its caller before open_ is set, and read only
    // by threads counted in active_ while it is set.
    halide_task_t task_ = nullptr;
    void *user_context_ = nullptr;
    uint8_t *closure_ = nullptr;
    int min_ = 0, extent_ = 0, participants_ = 0;
    std::atomic<int> next_{0}, done_{0}, error_{0}, active_{0};
    std::atomic<bool> open_{false};
    std::atomic<uint64_t> generation_{0};

    std::mutex sleep_mutex_;
    std::condition_variable wake_;
    std::atomic<int> sleepers_{0};
    std::atomic<bool> shutdown_{false};
};

// Never destroyed: in a child after fork() a worker may have been waiting on
// the condition variable, and destroying it there waits forever. The workers
// are shut down by `stopper` instead, in the process that started them.
SpinningPool &pool() {
    static SpinningPool *p = [] {
        pthread_atfork(nullptr, nullptr, [] { g_forked.store(true); });
        return new SpinningPool;
    }();
    static struct Stopper {
        ~Stopper() {
            if (!g_forked.load()) p->shut_down();
        }
    } stopper;
    return *p;
}

int pool_do_par_for(void *user_context, halide_task_t task, int min, int extent, uint8_t *closure) {
    return pool().run(user_context, task, min, extent, closure);
}

bool pool_wanted() {
    const char *env = std::getenv("CNNRT_THREAD_POOL");
    return !(env && std::string(env) == "halide");
}

}  // namespace

bool install_thread_pool() {
    static const bool installed = [] {
        if (!pool_wanted() || &halide_set_custom_do_par_for == nullptr) return false;
        pool();  // made (and its workers' stop at exit registered) before the first loop
        halide_set_custom_do_par_for(pool_do_par_for);
        return true;
    }();
    return installed;
}

int pool_set_num_threads(int n) { return pool().set_threads(n); }

int pool_run(void *user_context, halide_task_t task, int min, int extent, uint8_t *closure) {
    return pool().run(user_context, task, min, extent, closure);
}

void run_parallel(int count, int (*task)(void *, int, uint8_t *), uint8_t *closure) {
    install_thread_pool();  // else Halide's pool would start threads of its own for this
    if (halide_do_par_for) {
        halide_do_par_for(nullptr, task, 0, count, closure);
    } else {
        for (int i = 0; i < count; ++i) task(nullptr, i, closure);
    }
}

}  // namespace cnnrt
