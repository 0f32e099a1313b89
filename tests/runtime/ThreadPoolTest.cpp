// The kernels' thread pool (runtime/ThreadPool.cpp), driven directly through
// pool_run, as Halide's kernels drive it through halide_do_par_for.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

#include <atomic>
#include <cstdlib>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "runtime/Internal.h"

namespace {

int cores() {
    cpu_set_t set;
    CPU_ZERO(&set);
    return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
}

// One loop's view: how often each index ran, and on which threads.
struct Loop {
    std::vector<std::atomic<int>> runs;
    std::mutex mutex;
    std::set<std::thread::id> threads;
    int min = 0;
    int sleepMicros = 0;
    int failAt = -1;
    explicit Loop(int extent, int first = 0) : runs(size_t(extent)), min(first) {}

    static int task(void *, int i, uint8_t *closure) {
        auto *loop = reinterpret_cast<Loop *>(closure);
        loop->runs.at(size_t(i - loop->min)).fetch_add(1);
        {
            std::lock_guard<std::mutex> lock(loop->mutex);
            loop->threads.insert(std::this_thread::get_id());
        }
        if (loop->sleepMicros) std::this_thread::sleep_for(std::chrono::microseconds(loop->sleepMicros));
        return i == loop->failAt ? 7 : 0;
    }
    int run() { return cnnrt::pool_run(nullptr, task, min, int(runs.size()), reinterpret_cast<uint8_t *>(this)); }
    bool eachOnce() const {
        for (const auto &r : runs)
            if (r.load() != 1) return false;
        return true;
    }
};

TEST(ThreadPool, RunsEveryIterationOnceFromMin) {
    for (int extent : {1, 2, 3, 17, 1000}) {
        Loop loop(extent, 5);
        EXPECT_EQ(loop.run(), 0) << "extent " << extent;
        EXPECT_TRUE(loop.eachOnce()) << "extent " << extent;
    }
    Loop empty(0);
    EXPECT_EQ(empty.run(), 0);
}

TEST(ThreadPool, SpreadsALoopOverTheCores) {
    if (cores() < 2) GTEST_SKIP() << "one core";
    Loop loop(64);
    loop.sleepMicros = 500;  // 32 ms of work: every worker wakes and takes some
    ASSERT_EQ(loop.run(), 0);
    EXPECT_TRUE(loop.eachOnce());
    EXPECT_GE(loop.threads.size(), 2u);
}

#if defined(__x86_64__) || defined(__i386__)
TEST(ThreadPool, WorkersFlushDenormals) {
    // FloatMode.cpp: the pool's workers run with FTZ and DAZ for good (the
    // calling thread gets them from the API call, not from the pool).
    if (cores() < 2) GTEST_SKIP() << "one core";
    struct Modes {
        std::atomic<int> workerTasks{0}, workerTasksFlushing{0};
        std::thread::id caller = std::this_thread::get_id();
        static int task(void *, int, uint8_t *closure) {
            auto *m = reinterpret_cast<Modes *>(closure);
            std::this_thread::sleep_for(std::chrono::microseconds(500));
            if (std::this_thread::get_id() == m->caller) return 0;
            m->workerTasks.fetch_add(1);
            if ((_mm_getcsr() & 0x8040u) == 0x8040u) m->workerTasksFlushing.fetch_add(1);
            return 0;
        }
    } modes;
    ASSERT_EQ(cnnrt::pool_run(nullptr, Modes::task, 0, 64, reinterpret_cast<uint8_t *>(&modes)), 0);
    EXPECT_GT(modes.workerTasks.load(), 0);
    EXPECT_EQ(modes.workerTasksFlushing.load(), modes.workerTasks.load());
}
#endif

TEST(ThreadPool, ReturnsAFailingTasksResult) {
    Loop loop(100);
    loop.failAt = 13;
    EXPECT_EQ(loop.run(), 7);
    EXPECT_EQ(loop.runs[13].load(), 1);
    // The pool is usable afterwards.
    Loop next(50);
    EXPECT_EQ(next.run(), 0);
    EXPECT_TRUE(next.eachOnce());
}

TEST(ThreadPool, NestedLoopsRunOnTheirCallersThread) {
    struct Outer {
        std::vector<std::unique_ptr<Loop>> inner;
        std::atomic<int> failures{0};
        static int task(void *, int i, uint8_t *closure) {
            auto *o = reinterpret_cast<Outer *>(closure);
            Loop &in = *o->inner[size_t(i)];
            if (in.run() != 0 || !in.eachOnce()) o->failures.fetch_add(1);
            if (in.threads.size() != 1 || *in.threads.begin() != std::this_thread::get_id()) o->failures.fetch_add(1);
            return 0;
        }
    } outer;
    for (int i = 0; i < 8; ++i) outer.inner.push_back(std::make_unique<Loop>(20));
    ASSERT_EQ(cnnrt::pool_run(nullptr, Outer::task, 0, 8, reinterpret_cast<uint8_t *>(&outer)), 0);
    EXPECT_EQ(outer.failures.load(), 0);
}

TEST(ThreadPool, ConcurrentCallersEachGetTheirLoopDone) {
    std::atomic<int> failures{0};
    std::vector<std::thread> callers;
    for (int t = 0; t < 4; ++t)
        callers.emplace_back([&] {
            for (int round = 0; round < 200; ++round) {
                Loop loop(1 + round % 37);
                if (loop.run() != 0 || !loop.eachOnce()) failures.fetch_add(1);
            }
        });
    for (auto &c : callers) c.join();
    EXPECT_EQ(failures.load(), 0);
}

TEST(ThreadPool, OneThreadRunsLoopsOnTheCaller) {
    int previous = cnnrt::pool_set_num_threads(1);
    Loop loop(40);
    loop.sleepMicros = 100;
    EXPECT_EQ(loop.run(), 0);
    EXPECT_TRUE(loop.eachOnce());
    ASSERT_EQ(loop.threads.size(), 1u);
    EXPECT_EQ(*loop.threads.begin(), std::this_thread::get_id());
    EXPECT_EQ(cnnrt::pool_set_num_threads(previous), 1);
}

TEST(ThreadPool, AChildProcessRunsLoopsSerially) {
    Loop warm(16);  // the parent's workers exist before the fork
    ASSERT_EQ(warm.run(), 0);
    // Long enough for them to stop spinning and wait on the condition variable.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        alarm(30);  // a hang (the pool waiting for the parent's workers) fails the test
        Loop loop(64);
        bool ok = loop.run() == 0 && loop.eachOnce() && loop.threads.size() == 1;
        std::exit(ok ? 0 : 1);  // static destructors run: the pool must not join the parent's threads
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

}  // namespace
