// Thread placement: one core per thread of a call.
//
// A call's kernels run on Halide's thread pool: the calling thread and the
// pool's workers split each parallel loop. When a call follows a pause (a
// request after idle time), the workers wake from sleep, and on virtual
// machines Linux often wakes one onto the caller's core: a halted vCPU looks
// preempted, so the scheduler avoids it. Both threads then share one core
// for several scheduler ticks while the other idles, and every parallel loop
// waits for the slower half. On this 2-core VM, ResNet-18 at batch 1 took
// 38-44 ms per call after 0.25 s pauses against 22-25 ms back to back; with
// the caller and the worker on cores of their own, 24-26 ms either way
// (sched_switch traces showed the two threads alternating on one core).
//
// So each worker pins itself to a core of its own the first time it runs a
// task (the second allowed core, then the next...), and a call pins its
// calling thread to the first allowed core for its duration, restoring the
// thread's own mask when it returns. A call that overlaps another leaves its
// thread where it is (pinning every concurrent caller to one core would
// serialise them). CNNRT_PIN_THREADS=0 turns all of this off.
#include <sched.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include <HalideRuntime.h>

#include "runtime/Internal.h"

// Halide's standalone runtime (linked into every model .so); weak as in Runtime.cpp.
extern "C" {
#pragma weak halide_set_custom_do_task
#pragma weak halide_set_custom_do_loop_task
#pragma weak halide_default_do_task
#pragma weak halide_default_do_loop_task
}

namespace cnnrt {
namespace {

// The cores this process may use when placement was first needed, in order;
// empty when placement is off or pointless (one core).
const std::vector<int> &placement_cores() {
    static const std::vector<int> cores = [] {
        std::vector<int> out;
        const char *env = std::getenv("CNNRT_PIN_THREADS");
        if (env && std::string(env) == "0") return out;
        cpu_set_t set;
        CPU_ZERO(&set);
        if (sched_getaffinity(0, sizeof set, &set) != 0) return out;
        for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
            if (CPU_ISSET(cpu, &set)) out.push_back(cpu);
        if (out.size() < 2) out.clear();
        return out;
    }();
    return cores;
}

bool pin_this_thread(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0;
}

// What this thread is to the pool: not yet seen, a thread inside a call, or a pinned worker.
enum Role { kUnseen = 0, kCaller = 1, kWorker = 2 };
thread_local int t_role = kUnseen;

// Halide's pool's workers (CNNRT_THREAD_POOL=halide), placed as they first run a task.
void place_worker() {
    static std::atomic<int> next_worker{0};
    start_pool_worker(next_worker.fetch_add(1));
}

int placing_do_task(void *user_context, halide_task_t f, int idx, uint8_t *closure) {
    if (t_role == kUnseen) place_worker();
    return halide_default_do_task(user_context, f, idx, closure);
}

int placing_do_loop_task(void *user_context, halide_loop_task_t f, int min, int extent, uint8_t *closure,
                         void *task_parent) {
    if (t_role == kUnseen) place_worker();
    return halide_default_do_loop_task(user_context, f, min, extent, closure, task_parent);
}

std::atomic<int> g_calls_in_flight{0};

}  // namespace

void start_pool_worker(int k) {
    flush_denormals_in_this_thread();
    const std::vector<int> &cores = placement_cores();
    t_role = kWorker;
    if (cores.empty()) return;
    // Core 0 of the list is the callers'; workers take the others in turn.
    pin_this_thread(cores[1 + size_t(k) % (cores.size() - 1)]);
}

CallPlacement::CallPlacement() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (install_thread_pool() || placement_cores().empty() || &halide_set_custom_do_task == nullptr ||
            &halide_set_custom_do_loop_task == nullptr || &halide_default_do_task == nullptr ||
            &halide_default_do_loop_task == nullptr)
            return;
        halide_set_custom_do_task(placing_do_task);
        halide_set_custom_do_loop_task(placing_do_loop_task);
    });
    previous_role_ = t_role;
    t_role = kCaller;
    const bool alone = g_calls_in_flight.fetch_add(1) == 0;
    const std::vector<int> &cores = placement_cores();
    if (!alone || cores.empty() || previous_role_ == kWorker) return;
    cpu_set_t *saved = new (std::nothrow) cpu_set_t;
    if (!saved) return;
    CPU_ZERO(saved);
    if (sched_getaffinity(0, sizeof *saved, saved) == 0 && CPU_ISSET(cores[0], saved) && pin_this_thread(cores[0])) {
        saved_mask_ = saved;
        return;
    }
    delete saved;
}

CallPlacement::~CallPlacement() {
    if (saved_mask_) {
        auto *saved = static_cast<cpu_set_t *>(saved_mask_);
        sched_setaffinity(0, sizeof *saved, saved);
        delete saved;
    }
    t_role = previous_role_;
    g_calls_in_flight.fetch_sub(1);
}

}  // namespace cnnrt
