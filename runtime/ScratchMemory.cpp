// The kernels' scratch memory: Halide's halide_malloc and halide_free, which
// every kernel calls for the buffers it allocates per call (Winograd's
// transformed tiles, a blocked conv's accumulators, a staged padded input).
//
// glibc serves a block above its mmap threshold with fresh pages from the
// kernel and gives them back on free, so such a buffer page-faults once per
// 4 KiB on every call: always where the host process fixed the threshold
// (mallopt, MALLOC_MMAP_THRESHOLD_), and in the benchmark's Python process
// too. On a virtual machine each fault is an exit to the host (~8 us here).
// GoogLeNet's conv3 with F(4x4) Winograd and a fused pool allocates ~7 MB a
// call: 16 ms per call that way at batch 1 on a 2-core AMD EPYC Zen 5 VM
// against 2.9 ms with the pages kept (CNNRT_PROFILE=1), and the kernels after
// it slowed 2-10x as well.
//
// So blocks of kLargeBlock or more are kept when freed and handed out again:
// a request takes the smallest kept block that holds it; when none does, the
// kept blocks smaller than the request are given back first (the calls ahead
// need larger ones), then a new block is made. A model's calls repeat the same
// requests, so after the first call no request makes a block, and what is kept
// stays near the largest set of buffers any one kernel holds at once. Smaller
// blocks go to malloc, whose heap already reuses them.
#include <HalideRuntime.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "runtime/Internal.h"

// Halide's standalone runtime (linked into every model .so); weak as in Errors.cpp.
extern "C" {
#pragma weak halide_set_custom_malloc
#pragma weak halide_set_custom_free
}

namespace cnnrt {
namespace {

constexpr size_t kLargeBlock = size_t(64) << 10;
// Halide reads up to 8 bytes before a buffer and past its end, and wants
// vector alignment; a block's header keeps its capacity 64 bytes before the
// payload, and 64 bytes of slack follow it.
constexpr size_t kHeader = 64, kSlack = 64, kAlign = 64;

struct Header {
    size_t capacity;  // payload bytes; 0: a small block, freed to malloc
};

class BlockCache {
public:
    void *allocate(size_t bytes) {
        if (bytes < kLargeBlock) return make(bytes, 0);
        {
            std::lock_guard<std::mutex> g(mutex_);
            auto fit = kept_.lower_bound(bytes);
            if (fit != kept_.end()) {
                void *p = fit->second;
                kept_.erase(fit);
                return p;
            }
            for (auto it = kept_.begin(); it != kept_.end();) {
                release(it->second);
                it = kept_.erase(it);
            }
        }
        // Whole pages, a little over the request, so that slightly larger
        // requests of the next calls (another batch) still fit.
        size_t capacity = (bytes + bytes / 8 + 4095) & ~size_t(4095);
        return make(capacity, capacity);
    }

    void free(void *payload) {
        if (!payload) return;
        Header *h = header(payload);
        if (h->capacity == 0) return release(payload);
        std::lock_guard<std::mutex> g(mutex_);
        if (closed_) return release(payload);
        kept_.emplace(h->capacity, payload);
    }

    ~BlockCache() {
        std::lock_guard<std::mutex> g(mutex_);
        for (auto &kv : kept_) release(kv.second);
        kept_.clear();
        closed_ = true;
    }

private:
    static Header *header(void *payload) { return reinterpret_cast<Header *>(static_cast<char *>(payload) - kHeader); }

    static void *make(size_t bytes, size_t capacity) {
        size_t total = (kHeader + bytes + kSlack + kAlign - 1) & ~(kAlign - 1);
        void *base = std::aligned_alloc(kAlign, total);
        if (!base) return nullptr;
        void *payload = static_cast<char *>(base) + kHeader;
        header(payload)->capacity = capacity;
        return payload;
    }

    static void release(void *payload) { std::free(header(payload)); }

    std::mutex mutex_;
    std::multimap<size_t, void *> kept_;  // capacity -> payload
    bool closed_ = false;                 // after exit's destructors: free to malloc
};

BlockCache &cache() {
    static BlockCache c;
    return c;
}

void *scratch_malloc(void *, size_t bytes) { return cache().allocate(bytes); }
void scratch_free(void *, void *payload) { cache().free(payload); }

}  // namespace

void install_scratch_memory() {
    static const bool installed = [] {
        if (&halide_set_custom_malloc == nullptr || &halide_set_custom_free == nullptr) return false;
        const char *env = std::getenv("CNNRT_SCRATCH");
        if (env && std::strcmp(env, "malloc") == 0) return false;
        cache();  // constructed before the first block, so destroyed after the last free at exit
        halide_set_custom_malloc(scratch_malloc);
        halide_set_custom_free(scratch_free);
        return true;
    }();
    (void)installed;
}

}  // namespace cnnrt
