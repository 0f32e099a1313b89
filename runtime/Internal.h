// Internal helpers shared by the runtime's translation units. Not part of the contract.
#ifndef CNNRT_INTERNAL_H
#define CNNRT_INTERNAL_H

#include <atomic>
#include <cstdint>
#include <exception>
#include <new>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/ModelDesc.h"

// Optimiser state (torch.optim semantics; see Train.cpp). Value type: train_step works on
// a copy and commits it only when the whole step succeeds.
struct cnnrt_optimizer {
    enum Kind { SGD = 0, ADAM = 1 };
    int kind = SGD;
    // Hyper-parameters; those the kind does not use keep their defaults.
    float lr = 0.01f, momentum = 0.0f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f,
          weight_decay = 0.0f;
    // Optimiser steps taken since the optimiser was set (Adam's bias-correction step; for
    // SGD with momentum, step > 0 means the momentum buffers exist).
    int64_t step = 0;
    // Per parameter (desc order); empty until the first step, and always empty for
    // parameters the optimiser does not update. SGD: buf1 = momentum_buffer.
    // Adam: buf1 = exp_avg, buf2 = exp_avg_sq.
    std::vector<std::vector<float>> buf1, buf2;
};

// Copies the kind and hyper-parameters and the step count, not the state buffers.
inline void copy_settings(const cnnrt_optimizer &from, cnnrt_optimizer &to) {
    to.kind = from.kind;
    to.lr = from.lr, to.momentum = from.momentum, to.beta1 = from.beta1, to.beta2 = from.beta2;
    to.eps = from.eps, to.weight_decay = from.weight_decay;
    to.step = from.step;
}

// The model behind the opaque cnnrt_model handle.
struct cnnrt_model {
    using Weights = std::vector<std::vector<float>>;  // one vector per parameter, desc order

    const cnnrt_model_desc *desc = nullptr;
    std::atomic<int64_t> memory_limit{0};  // bytes of activations per call; 0: none
    bool portable_kernels = false;  // run each kernel's portable_fn where it has one (Isa.cpp)
    // Resolved per-sample W, H, C for every non-parameter tensor (desc fallback applied).
    std::vector<int64_t> tensor_dims;  // W, H, C, inner offset, sample stride per tensor

    // Weights are immutable once published: infer/save take a snapshot, load publishes a
    // new set. Calls in flight keep the set they started with; nobody waits on inference.
    std::shared_ptr<const Weights> snapshot() const {
        std::lock_guard<std::mutex> g(weights_mutex);
        return weights;
    }
    void publish(std::shared_ptr<const Weights> w) {
        std::lock_guard<std::mutex> g(weights_mutex);
        weights.swap(w);
        forget_prepared();
    }  // the old set is freed when `w` dies, after the lock is released
    // Publishes `w` and returns the set it replaces.
    std::shared_ptr<const Weights> exchange(std::shared_ptr<const Weights> w) {
        std::lock_guard<std::mutex> g(weights_mutex);
        weights.swap(w);
        forget_prepared();
        return w;
    }

    // Inference kernels tuned per batch range (cnnrt_kernel_desc's min_batch and
    // max_batch) split the batches into classes: class c runs from
    // batch_bounds[c - 1] (1 for c = 0) up to the next bound. Each class reads
    // its own derived parameters, computed when a call first needs them, so a
    // library used at batch 1 never holds the filters only batch 8 reads.
    std::vector<int> batch_bounds;          // increasing, each >= 2
    std::vector<std::vector<bool>> needs;   // per class, and one for every batch last: derived
                                            // parameters to compute (see prepare_weights)
    // Per class (and the last, every batch): the weight set whose derived
    // parameters that class needs are up to date, if any: an infer
    // call computes them for its snapshot under prepare_mutex when this is not
    // its set. Published sets reset them, so an address reused by a later set
    // (recycled or reallocated) is never taken for prepared.
    std::unique_ptr<std::atomic<const Weights *>[]> prepared_sets;
    std::mutex prepare_mutex;
    // Per parameter, under prepare_mutex: the set its derived value was computed
    // for, valid while prepared_epoch is `publishes`. A publish may reuse a set
    // (train_step recycles the retired one), so each publish voids them all.
    std::vector<const Weights *> computed_for;
    uint64_t prepared_epoch = 0;
    std::atomic<uint64_t> publishes{0};
    std::vector<bool> sources_only;  // per parameter: derived, read only by preparations
    void forget_prepared() {
        publishes.fetch_add(1);
        for (size_t c = 0; prepared_sets && c < needs.size(); ++c) prepared_sets[c].store(nullptr);
    }

    // Training state, guarded by train_mutex. train_step, set_sgd/set_adam, the
    // checkpoint functions and load_weights hold it for their whole duration, so they
    // are serialised among themselves; infer never takes it.
    mutable std::mutex train_mutex;
    cnnrt_optimizer optimizer;
    uint64_t train_steps = 0;  // successful train_steps: the dropout seed's counter
    // train_step's scratch memory (activations, gradients), kept between steps:
    // allocating it anew each step page-faults hundreds of MiB every time.
    std::vector<float> train_arena;
    std::vector<std::vector<float>> train_grads;  // one per parameter (empty: no gradient)
    // train_step computes the next weights and optimizer state in copies (so a
    // failed step changes nothing) made into these, recycled from the step
    // before, instead of freshly allocated memory.
    cnnrt_optimizer spare_optimizer;
    std::shared_ptr<Weights> spare_weights;  // a retired set no infer call holds any more

    // An inference arena kept for the next call. infer runs concurrently: a
    // call takes the kept one if it is free, else allocates its own, and keeps
    // the larger when done. Allocating afresh every call page-faults the whole
    // arena every time (tens of MiB for the zoo models at batch 8).
    std::vector<float> take_infer_arena(size_t floats) {
        std::vector<float> a;
        {
            std::lock_guard<std::mutex> g(arena_mutex);
            a.swap(kept_infer_arena);
        }
        if (a.size() < floats) {
            a.clear();
            a.shrink_to_fit();
            a.resize(floats);
        }
        return a;
    }
    void keep_infer_arena(std::vector<float> a) {
        std::lock_guard<std::mutex> g(arena_mutex);
        if (a.size() > kept_infer_arena.size()) kept_infer_arena.swap(a);
    }  // the smaller one is freed when `a` dies

    // Drops a snapshot under weights_mutex (see HeldWeights).
    void release(std::shared_ptr<const Weights> &w) const {
        std::lock_guard<std::mutex> g(weights_mutex);
        w.reset();
    }
    // The spare set, if no snapshot holds it any more (seen under
    // weights_mutex, so after every release); else null.
    std::shared_ptr<Weights> take_spare_weights() {
        std::lock_guard<std::mutex> g(weights_mutex);
        std::shared_ptr<Weights> spare = std::move(spare_weights);
        if (spare && spare.use_count() != 1) spare.reset();
        return spare;
    }

private:
    std::mutex arena_mutex;
    std::vector<float> kept_infer_arena;
    mutable std::mutex weights_mutex;
    std::shared_ptr<const Weights> weights;
};

namespace cnnrt {

// A snapshot of a model's weights held for one call, and released under
// weights_mutex. train_step writes a retired set again only when it finds no
// other holder (use_count() == 1) under the same mutex, so every read of a set
// through a snapshot (and every derived parameter prepared in it) happens
// before a later step writes it.
class HeldWeights {
public:
    explicit HeldWeights(const cnnrt_model *model) : model_(model), weights_(model->snapshot()) {}
    ~HeldWeights() { model_->release(weights_); }
    HeldWeights(const HeldWeights &) = delete;
    HeldWeights &operator=(const HeldWeights &) = delete;
    const std::shared_ptr<const cnnrt_model::Weights> &get() const { return weights_; }

private:
    const cnnrt_model *model_;
    std::shared_ptr<const cnnrt_model::Weights> weights_;
};

}  // namespace cnnrt

namespace cnnrt {

// Sets this thread's last error message (what cnnrt_last_error returns).
void set_error(std::string msg);
void clear_error();
// Routes Halide's error messages to this thread's halide_message() and its
// kernels' scratch buffers to install_scratch_memory's cache (once per process).
void install_halide_hooks();
// Halide's halide_malloc and halide_free keep freed blocks of 64 KiB or more
// for the next calls (ScratchMemory.cpp); CNNRT_SCRATCH=malloc leaves them to malloc.
void install_scratch_memory();
// The last message Halide's error handler gave on this thread.
std::string &halide_message();

// An error to report to the caller; thrown inside the runtime, caught at the API edge.
struct Error : std::exception {
    std::string msg;
    explicit Error(std::string m) : msg(std::move(m)) {}
    const char *what() const noexcept override { return msg.c_str(); }
};

int64_t param_numel(const cnnrt_param_desc &p);

constexpr int64_t kI32Max = INT32_MAX;

// Checks that a desc is self-consistent (ValidateDesc.cpp); fills tdims,
// kTensorInfo values per tensor.
void validate_desc(const cnnrt_model_desc *d, std::vector<int64_t> &tdims);

// A new parameter's initial values (WeightInit.cpp): `index` seeds them.
void init_param(const cnnrt_param_desc &p, int index, std::vector<float> &v);
// The dropout seed of training step `step`.
uint32_t step_seed(uint64_t step);

// Per tensor in cnnrt_model::tensor_dims: W, H, C, inner_offset, sample stride (resolved).
constexpr size_t kTensorInfo = 5;

// Saturating multiply for non-negative values; returns -1 on overflow past INT64_MAX.
inline int64_t mul_checked(int64_t a, int64_t b) {
    if (a < 0 || b < 0) return -1;
    if (a != 0 && b > INT64_MAX / a) return -1;
    return a * b;
}

// Where a call's tensors live. Fields a call's kernels do not use stay null.
struct Buffers {
    const float *input = nullptr;
    float *output = nullptr;
    float *arena = nullptr;        // ACTIVATION
    float *train_arena = nullptr;  // TRAIN
    const cnnrt_model::Weights *weights = nullptr;
    std::vector<std::vector<float>> *grads = nullptr;       // GRAD, per parameter
    std::vector<std::vector<float>> *new_params = nullptr;  // NEW_PARAM, per parameter
    const int32_t *labels = nullptr;
    uint32_t *seed = nullptr;
    int batch = 0;
    float *layer_arena = nullptr;  // LAYER
};

// Builds each kernel's halide_buffer_t arguments and runs the kernels in order.
void run_kernels(const cnnrt_model *model, const cnnrt_kernel_desc *kernels, int n, const Buffers &io);

// Checks a call's batch argument: at least 1, and the model's fixed batch
// where it has one (cnnrt_model_desc::fixed_batch). Every entry point taking
// a batch calls it first.
void require_batch(const cnnrt_model_desc *d, int batch);

// Checks that every buffer Halide sees at `batch` has extents and strides
// that fit int32, and that an arena of arena_per_sample floats per sample
// fits memory and the model's limit; sets arena_floats to its size.
void check_batch(const cnnrt_model *model, int batch, int64_t arena_per_sample, int64_t &arena_floats);

// Checks the layer and gradient tables of a desc whose tensors are validated (Layers.cpp).
void validate_layers(const cnnrt_model_desc *d);

// Per-kernel timing (Profile.cpp), on when CNNRT_PROFILE is set.
bool profile_enabled();
double profile_now();
void profile_record(const char *kernel, double seconds);

// For the duration of an infer or train_step call: the calling thread and
// Halide's workers each on a core of their own (ThreadPlacement.cpp).
class CallPlacement {
public:
    CallPlacement();
    ~CallPlacement();
    CallPlacement(const CallPlacement &) = delete;
    CallPlacement &operator=(const CallPlacement &) = delete;

private:
    void *saved_mask_ = nullptr;  // the caller's own cpu_set_t, restored on return
    int previous_role_ = 0;
};

// For the duration of an infer or train_step call: denormals flushed to zero
// on the calling thread, the caller's own float mode restored on return
// (FloatMode.cpp).
class FlushDenormals {
public:
    FlushDenormals();
    ~FlushDenormals();
    FlushDenormals(const FlushDenormals &) = delete;
    FlushDenormals &operator=(const FlushDenormals &) = delete;

private:
    unsigned saved_ = 0;  // the caller's MXCSR
};
// For good, on a thread of cnnrt's own (start_pool_worker).
void flush_denormals_in_this_thread();

// The kernels' thread pool (ThreadPool.cpp): installs it as Halide's
// halide_do_par_for, once; false where Halide's own pool stays (no Halide
// runtime, or CNNRT_THREAD_POOL=halide).
bool install_thread_pool();
// Sets the pool's thread count (0: the default), returning the previous one.
int pool_set_num_threads(int n);
// One parallel loop on the pool, as halide_do_par_for: task(user_context, i,
// closure) for every i in [min, min + extent); 0, or one failing task's result.
int pool_run(void *user_context, int (*task)(void *, int, uint8_t *), int min, int extent, uint8_t *closure);
// Sets up the calling thread as the pool's worker k (ours or Halide's): on a
// core of its own (ThreadPlacement.cpp), denormals flushed for good.
void start_pool_worker(int k);

// Runs body(i) for every i in [0, count) on the kernels' thread pool,
// or serially in a library without Halide's runtime. Not on threads of its
// own: a call pins its thread to one core while it runs (CallPlacement), and
// threads it started would inherit that one core (the optimiser's did: a
// ResNet-18 step spent 21-35 ms in it, against 11 on both cores).
// body must not throw.
void run_parallel(int count, int (*task)(void *, int, uint8_t *), uint8_t *closure);

template <typename Body>
void parallel_for(int count, const Body &body) {
    auto task = [](void *, int i, uint8_t *closure) -> int {
        (*reinterpret_cast<const Body *>(closure))(i);
        return 0;
    };
    run_parallel(count, task, reinterpret_cast<uint8_t *>(const_cast<Body *>(&body)));
}

// Times the enclosing scope under `label` when profiling (runtime work between
// kernels, e.g. the optimiser step), so profiles account for all of a call.
struct ProfileScope {
    const char *label;
    double start = profile_enabled() ? profile_now() : -1.0;
    explicit ProfileScope(const char *l) : label(l) {}
    ~ProfileScope() {
        if (start >= 0.0) profile_record(label, profile_now() - start);
    }
};

// True for parameters computed by a prepare kernel: never loaded, saved or trained.
inline bool is_derived(const cnnrt_param_desc &p) { return p.prepare >= 0; }

// True for parameters the optimiser updates: learned (not a buffer) and not derived.
inline bool is_trainable(const cnnrt_param_desc &p) { return !is_derived(p) && !p.buffer; }

// Throws the error for training entry points of a library compiled without --train.
void require_training(const cnnrt_model_desc *d);
// Loads desc->embedded_weights, the library's own (Weights.cpp).
void load_embedded_weights(cnnrt_model *model);

// Throws a clear error unless o's kind and hyper-parameters are valid (see set_sgd/adam).
void validate_optimizer(const cnnrt_optimizer &o);

// Parameters that some GRAD tensor of the train kernels refers to (desc order flags).
std::vector<bool> params_with_grad(const cnnrt_model_desc *d);

// One optimiser step, out of place: reads the parameters `w` and the state `opt`, and
// writes the stepped parameters to `out` and the stepped state to `next` (storage kept
// from earlier steps, resized here), so a step copies neither before updating.
// Parameters the optimiser does not update are copied, but derived ones (left for
// prepare_weights). grads[i] is the gradient of parameter i, or empty without one.
void apply_optimizer(const cnnrt_model_desc *d, const cnnrt_optimizer &opt, cnnrt_optimizer &next,
                     const cnnrt_model::Weights &w, cnnrt_model::Weights &out,
                     const std::vector<std::vector<float>> &grads);

// Whether an inference kernel runs at `batch` (its min_batch..max_batch).
inline bool runs_at(const cnnrt_kernel_desc &k, int batch) {
    return batch >= k.min_batch && (k.max_batch == 0 || batch <= k.max_batch);
}

// Sets up model->batch_bounds, needs, prepared_sets, computed_for and
// sources_only from a validated desc.
void plan_prepared_weights(cnnrt_model *model);

// Whether this process runs the kernels' portable forms (Isa.cpp): the CPU, or
// $CNNRT_MAX_ISA_LEVEL, stops short of desc->isa_level. Throws when the CPU
// cannot run even the portable forms.
bool use_portable_kernels(const cnnrt_model_desc *d);

// The form of kernel `k` this model runs.
inline cnnrt_kernel_fn kernel_entry(const cnnrt_model *model, const cnnrt_kernel_desc &k) {
    return model->portable_kernels && k.portable_fn ? k.portable_fn : k.fn;
}

// Makes the derived parameters that calls at `batch` (0: every batch) read
// of `w` (the model's snapshot an infer call runs with) up to
// date, computing them if they are another set's (create, load_weights and
// train_step leave them to this).
void prepare_weights(cnnrt_model *model, const std::shared_ptr<const cnnrt_model::Weights> &w, int batch = 0);

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
