// Internal helpers shared by the runtime's translation units. Not part of the contract.
#ifndef CNNRT_INTERNAL_H
#define CNNRT_INTERNAL_H

#include <cstdint>
#include <exception>
#include <new>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/ModelDesc.h"

// The model behind the opaque cnnrt_model handle.
struct cnnrt_model {
    using Weights = std::vector<std::vector<float>>;  // one vector per parameter, desc order

    const cnnrt_model_desc *desc = nullptr;
    // Resolved per-sample W, H, C for every non-parameter tensor (desc fallback applied).
    std::vector<int64_t> tensor_dims;  // 3 per tensor

    // Weights are immutable once published: infer/save take a snapshot, load publishes a
    // new set. Calls in flight keep the set they started with; nobody waits on inference.
    std::shared_ptr<const Weights> snapshot() const {
        std::lock_guard<std::mutex> g(weights_mutex);
        return weights;
    }
    void publish(std::shared_ptr<const Weights> w) {
        std::lock_guard<std::mutex> g(weights_mutex);
        weights.swap(w);
    }  // the old set is freed when `w` dies, after the lock is released

private:
    mutable std::mutex weights_mutex;
    std::shared_ptr<const Weights> weights;
};

namespace cnnrt {

// Sets this thread's last error message (what cnnrt_last_error returns).
void set_error(std::string msg);
void clear_error();

// An error to report to the caller; thrown inside the runtime, caught at the API edge.
struct Error : std::exception {
    std::string msg;
    explicit Error(std::string m) : msg(std::move(m)) {}
    const char *what() const noexcept override { return msg.c_str(); }
};

int64_t param_numel(const cnnrt_param_desc &p);

// Recomputes every derived parameter (CNNRT_DERIVE_*) of w from its sources.
void compute_derived(const cnnrt_model_desc *d, cnnrt_model::Weights &w);

// Runs body() and turns every exception into an error code + message (kept until the
// thread's next failure, like errno).
template <typename F>
int guarded(F &&body) noexcept {
    try {
        body();
        return 0;
    } catch (const Error &e) {
        set_error(e.msg);
    } catch (const std::bad_alloc &) {
        set_error("out of memory");
    } catch (const std::exception &e) {
        set_error(std::string("internal error: ") + e.what());
    } catch (...) {
        set_error("internal error: unknown exception");
    }
    return 1;
}

}  // namespace cnnrt

#endif
