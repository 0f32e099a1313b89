// cnnrt: model creation, parameter initialisation and inference.
#include "runtime/Runtime.h"

#include <HalideRuntime.h>

#include <climits>
#include <cmath>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "runtime/Internal.h"
#include "runtime/WinogradMatrices.h"

// Provided by Halide's standalone runtime, which is linked into every model .so. Weak so
// that the runtime also links (and works, minus Halide's messages) without it, e.g. in
// unit tests whose kernels are plain C++.
extern "C" {
#pragma weak halide_set_error_handler
#pragma weak halide_set_num_threads
#pragma weak halide_do_par_for
}

namespace cnnrt {

namespace {
thread_local std::string t_error;
thread_local bool t_error_oom = false;  // set_error itself ran out of memory
thread_local std::string t_halide_msg;  // last message from Halide's error handler

void halide_error_to_thread(void *, const char *msg) {
    try {
        t_halide_msg = msg ? msg : "";
        while (!t_halide_msg.empty() &&
               (t_halide_msg.back() == '\n' || t_halide_msg.back() == ' '))
            t_halide_msg.pop_back();
    } catch (...) {
    }
}

void install_halide_error_handler() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (&halide_set_error_handler != nullptr) halide_set_error_handler(halide_error_to_thread);
    });
}

constexpr int64_t kI32Max = INT32_MAX;

uint64_t splitmix64(uint64_t &state) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

std::string param_label(const cnnrt_model_desc *d, int i) {
    const char *n = d->params[i].name;
    return n ? "parameter '" + std::string(n) + "'" : "parameter #" + std::to_string(i);
}

void validate_derived(const cnnrt_model_desc *d, int i);
void validate_winograd_filter(const cnnrt_model_desc *d, int i);
void validate_winograd_blocked_filter(const cnnrt_model_desc *d, int i);

bool is_train_only(int storage) {
    return storage == CNNRT_STORAGE_TRAIN || storage == CNNRT_STORAGE_GRAD ||
           storage == CNNRT_STORAGE_NEW_PARAM || storage == CNNRT_STORAGE_LABELS ||
           storage == CNNRT_STORAGE_SEED;
}

// Inference kernels see the input, parameters, activations and the output; training
// kernels see the input, parameters and the training-only storages, and write TRAIN,
// GRAD or NEW_PARAM tensors (never a parameter: published weights are immutable).
void validate_kernels(const cnnrt_model_desc *d, const cnnrt_kernel_desc *kernels, int n,
                      bool train) {
    int next_range = 0;  // inside a run of batch ranges: the batch the next entry starts at
    for (int k = 0; k < n; ++k) {
        const cnnrt_kernel_desc &kd = kernels[k];
        std::string label = std::string(train ? "training " : "") +
                            (kd.name ? "kernel '" + std::string(kd.name) + "'"
                                     : "kernel #" + std::to_string(k));
        if (!kd.fn) throw Error(label + " has no function");
        if (kd.num_args < 1 || !kd.args) throw Error(label + " has no arguments");
        for (int a = 0; a < kd.num_args; ++a) {
            if (kd.args[a] < 0 || kd.args[a] >= d->num_tensors)
                throw Error(label + " refers to a missing tensor");
            const int storage = d->tensors[kd.args[a]].storage;
            if (storage == CNNRT_STORAGE_LAYER)
                throw Error(label + " uses layer tensor #" + std::to_string(kd.args[a]));
            if (!train && is_train_only(storage))
                throw Error(label + " uses training-only tensor #" + std::to_string(kd.args[a]));
            if (train && storage == CNNRT_STORAGE_PARAM &&
                d->params[d->tensors[kd.args[a]].index].derive != CNNRT_DERIVE_NONE)
                throw Error(label + " reads derived " + param_label(d, d->tensors[kd.args[a]].index) +
                            ", which only inference computes");
            if (train && (storage == CNNRT_STORAGE_OUTPUT || storage == CNNRT_STORAGE_ACTIVATION))
                throw Error(label + " uses tensor #" + std::to_string(kd.args[a]) +
                            ", an inference output/activation (training uses TRAIN tensors)");
        }
        const cnnrt_tensor_desc &out = d->tensors[kd.args[kd.num_args - 1]];
        if (out.storage == CNNRT_STORAGE_INPUT) throw Error(label + " writes the input");
        // Batch ranges: a run of entries for one output, tiling [1, unbounded) in order.
        if (kd.min_batch < 0 || kd.max_batch < 0) throw Error(label + " has a negative batch bound");
        if (train && (kd.min_batch || kd.max_batch)) throw Error(label + " has a batch range");
        const int from = std::max(kd.min_batch, 1);
        if (kd.max_batch && kd.max_batch < from) throw Error(label + " has an empty batch range");
        if (next_range ? from != next_range : from != 1)
            throw Error(label + " runs from batch " + std::to_string(from) + ", expected " +
                        std::to_string(next_range ? next_range : 1) + " (batch ranges must tile 1..)");
        if (next_range && kd.args[kd.num_args - 1] != kernels[k - 1].args[kernels[k - 1].num_args - 1])
            throw Error(label + " continues the batch ranges of another kernel's output");
        next_range = kd.max_batch ? kd.max_batch + 1 : 0;
        if (next_range > 0 && k + 1 == n) throw Error(label + " ends its batch ranges at " + std::to_string(kd.max_batch));
        if (train && out.storage != CNNRT_STORAGE_TRAIN && out.storage != CNNRT_STORAGE_GRAD &&
            out.storage != CNNRT_STORAGE_NEW_PARAM)
            throw Error(label + " does not write a TRAIN, GRAD or NEW_PARAM tensor");
    }
}

// The training half of the desc: all zero in a library compiled without --train.
void validate_training(const cnnrt_model_desc *d) {
    if (d->num_train_kernels < 0 || d->num_loss_terms < 0 || d->num_classes < 0)
        throw Error("desc has a negative training count");
    if (d->train_arena_floats_per_sample < 0)
        throw Error("desc train_arena_floats_per_sample is negative");
    if ((d->num_train_kernels > 0 && !d->train_kernels) ||
        (d->num_loss_terms > 0 && !d->loss_terms))
        throw Error("desc has a NULL training table");
    validate_kernels(d, d->train_kernels, d->num_train_kernels, true);
    if (d->num_train_kernels > 0) {
        if (d->num_classes < 1) throw Error("desc has training kernels but num_classes < 1");
        if (d->num_loss_terms < 1) throw Error("desc has training kernels but no loss terms");
    }
    for (int i = 0; i < d->num_loss_terms; ++i) {
        const cnnrt_loss_term &lt = d->loss_terms[i];
        const std::string label = "loss term #" + std::to_string(i);
        if (lt.tensor < 0 || lt.tensor >= d->num_tensors)
            throw Error(label + " refers to a missing tensor");
        const cnnrt_tensor_desc &t = d->tensors[lt.tensor];
        if (t.storage != CNNRT_STORAGE_TRAIN) throw Error(label + " is not a TRAIN tensor");
        if (t.dims[0] != 1 || t.dims[1] != 1 || t.dims[2] != 1)
            throw Error(label + " does not have dims {1, 1, 1}");
        if (!std::isfinite(lt.weight)) throw Error(label + " has a non-finite weight");
    }
}

// Checks that a desc is self-consistent so that inference can never address memory
// outside the caller's buffers, the arena or the parameters. Fills the per-tensor dims.
void validate_desc(const cnnrt_model_desc *d, std::vector<int64_t> &tdims) {
    if (!d) throw Error("desc is NULL");
    if (d->num_params < 0 || d->num_tensors < 0 || d->num_kernels < 0)
        throw Error("desc has a negative count");
    if ((d->num_params > 0 && !d->params) || (d->num_tensors > 0 && !d->tensors) ||
        (d->num_kernels > 0 && !d->kernels))
        throw Error("desc has a NULL table");
    int64_t in_size = 1;
    for (int i = 0; i < 3; ++i) {
        if (d->input_dims[i] <= 0) throw Error("desc input_dims must be positive");
        in_size = mul_checked(in_size, d->input_dims[i]);
    }
    if (in_size > kI32Max) throw Error("desc input is too large");
    if (d->output_size <= 0 || d->output_size > kI32Max)
        throw Error("desc output_size must be in [1, 2^31)");
    if (d->arena_floats_per_sample < 0) throw Error("desc arena_floats_per_sample is negative");
    if (d->embedded_weights_size && !d->embedded_weights) throw Error("desc embedded_weights is NULL");

    std::set<std::string> names;
    for (int i = 0; i < d->num_params; ++i) {
        const cnnrt_param_desc &p = d->params[i];
        if (!p.name || !*p.name) throw Error("parameter #" + std::to_string(i) + " has no name");
        if (!names.insert(p.name).second) throw Error("duplicate " + param_label(d, i));
        if (p.rank < 1 || p.rank > 4) throw Error(param_label(d, i) + " has rank outside 1..4");
        int64_t n = 1;
        for (int k = 0; k < p.rank; ++k) {
            if (p.shape[k] < 0 || p.shape[k] > kI32Max)
                throw Error(param_label(d, i) + " has an invalid shape");
            n = mul_checked(n, p.shape[k]);
        }
        if (n < 0 || n > kI32Max) throw Error(param_label(d, i) + " is too large");
        if (p.init != CNNRT_INIT_UNIFORM_FAN_IN && p.init != CNNRT_INIT_ONES &&
            p.init != CNNRT_INIT_ZEROS)
            throw Error(param_label(d, i) + " has an unknown init");
        if (p.init == CNNRT_INIT_UNIFORM_FAN_IN && p.fan_in <= 0 && p.derive == CNNRT_DERIVE_NONE)
            throw Error(param_label(d, i) + " needs a positive fan_in");
    }
    for (int i = 0; i < d->num_params; ++i) validate_derived(d, i);

    tdims.assign(size_t(d->num_tensors) * kTensorInfo, 0);
    for (int i = 0; i < d->num_tensors; ++i) {
        const cnnrt_tensor_desc &t = d->tensors[i];
        std::string label = "tensor #" + std::to_string(i);
        int64_t *td = &tdims[size_t(i) * kTensorInfo];
        if (t.storage == CNNRT_STORAGE_PARAM || t.storage == CNNRT_STORAGE_GRAD ||
            t.storage == CNNRT_STORAGE_NEW_PARAM) {
            if (t.index < 0 || t.index >= d->num_params)
                throw Error(label + " refers to a missing parameter");
            const cnnrt_param_desc &p = d->params[t.index];
            if (t.storage == CNNRT_STORAGE_GRAD && !is_trainable(p))
                throw Error(label + " is the gradient of " + param_label(d, t.index) + ", which is " +
                            (p.buffer ? "a buffer" : "derived") + " and has no gradient");
            if (t.storage == CNNRT_STORAGE_NEW_PARAM && (!p.buffer || p.derive != CNNRT_DERIVE_NONE))
                throw Error(label + " is a new value of " + param_label(d, t.index) +
                            ", which is not a (non-derived) buffer");
            continue;
        }
        if (t.storage == CNNRT_STORAGE_LABELS || t.storage == CNNRT_STORAGE_SEED) continue;
        if (t.storage != CNNRT_STORAGE_INPUT && t.storage != CNNRT_STORAGE_OUTPUT &&
            t.storage != CNNRT_STORAGE_ACTIVATION && t.storage != CNNRT_STORAGE_TRAIN &&
            t.storage != CNNRT_STORAGE_LAYER)
            throw Error(label + " has an unknown storage");
        bool zero = t.dims[0] == 0 && t.dims[1] == 0 && t.dims[2] == 0;
        if (zero && t.storage == CNNRT_STORAGE_INPUT) {
            td[0] = d->input_dims[2], td[1] = d->input_dims[1], td[2] = d->input_dims[0];
        } else if (zero && t.storage == CNNRT_STORAGE_OUTPUT) {
            td[0] = 1, td[1] = 1, td[2] = d->output_size;
        } else {
            for (int k = 0; k < 3; ++k) {
                if (t.dims[k] <= 0 || t.dims[k] > kI32Max)
                    throw Error(label + " has non-positive dims");
                td[k] = t.dims[k];
            }
        }
        int64_t size = mul_checked(mul_checked(td[0], td[1]), td[2]);
        if (size < 0 || size > kI32Max) throw Error(label + " is too large");
        // A channel slice of an enclosing per-sample block of `stride` floats.
        const int64_t stride = t.sample_stride == 0 ? size : t.sample_stride;
        if (t.inner_offset < 0 || stride < 0 || stride > kI32Max ||
            t.inner_offset > stride - size)
            throw Error(label + " has an invalid inner_offset/sample_stride");
        td[3] = t.inner_offset;
        td[4] = stride;
        const int64_t enclosing = t.storage == CNNRT_STORAGE_INPUT    ? in_size
                                  : t.storage == CNNRT_STORAGE_OUTPUT ? d->output_size
                                                                      : stride;
        if (t.storage == CNNRT_STORAGE_INPUT && stride != enclosing)
            throw Error(label + " (input) has " + std::to_string(stride) +
                        " elements per sample, expected " + std::to_string(in_size));
        if (t.storage == CNNRT_STORAGE_OUTPUT && stride != enclosing)
            throw Error(label + " (output) has " + std::to_string(stride) +
                        " elements per sample, expected " + std::to_string(d->output_size));
        if (t.storage == CNNRT_STORAGE_ACTIVATION &&
            (t.offset < 0 || t.offset > d->arena_floats_per_sample ||
             stride > d->arena_floats_per_sample - t.offset))
            throw Error(label + " lies outside the activation arena");
        if (t.storage == CNNRT_STORAGE_TRAIN &&
            (t.offset < 0 || t.offset > d->train_arena_floats_per_sample ||
             stride > d->train_arena_floats_per_sample - t.offset))
            throw Error(label + " lies outside the training arena");
        if (t.storage == CNNRT_STORAGE_LAYER &&
            (t.offset < 0 || t.offset > d->layer_arena_floats_per_sample ||
             stride > d->layer_arena_floats_per_sample - t.offset))
            throw Error(label + " lies outside the layer arena");
    }

    validate_kernels(d, d->kernels, d->num_kernels, false);
    validate_training(d);
    validate_layers(d);

    if (d->result_tensor < 0 || d->result_tensor >= d->num_tensors)
        throw Error("desc result_tensor is out of range");
    const cnnrt_tensor_desc &r = d->tensors[d->result_tensor];
    if (r.storage != CNNRT_STORAGE_INPUT && r.storage != CNNRT_STORAGE_OUTPUT &&
        r.storage != CNNRT_STORAGE_ACTIVATION)
        throw Error("desc result_tensor is not an input, output or activation tensor");
    const int64_t *rd = &tdims[size_t(d->result_tensor) * kTensorInfo];
    if (rd[0] * rd[1] * rd[2] != d->output_size)
        throw Error("desc result_tensor has " + std::to_string(rd[0] * rd[1] * rd[2]) +
                    " elements per sample, expected output_size " +
                    std::to_string(d->output_size));
}

// A prepared parameter's one source (sources[0]): listed before it, and not prepared itself.
const cnnrt_param_desc &prepared_source(const cnnrt_model_desc *d, int i, const char *what) {
    const cnnrt_param_desc &p = d->params[i];
    const std::string label = param_label(d, i);
    const int s = p.sources[0];
    if (s < 0 || s >= i)
        throw Error(label + " (" + what + ") needs a source parameter listed before it");
    for (int k = 1; k < 6; ++k)
        if (p.sources[k] != -1) throw Error(label + " (" + what + ") has more than one source");
    if (is_prepared(d->params[s])) throw Error(label + " is prepared from prepared " + param_label(d, s));
    return d->params[s];
}

// The tile side t of prepared Winograd filters: shape[0] is t, or t * t in blocks; 0 if neither.
int winograd_tile_side(const cnnrt_param_desc &p) {
    if (p.derive != CNNRT_DERIVE_WINOGRAD_BLOCKED_FILTER) return int(p.shape[0]);
    for (int t : {4, 6})
        if (p.shape[0] == t * t) return t;
    return 0;
}

// Transformed filters [t, t, ci, co] (F(2x2, 3x3): t = 4, F(4x4, 3x3): t = 6) of a [co, ci, 3, 3] weight computed before them.
void validate_winograd_filter(const cnnrt_model_desc *d, int i) {
    const cnnrt_param_desc &p = d->params[i];
    const cnnrt_param_desc &w = prepared_source(d, i, "Winograd filters");
    if (p.rank != 4 || !cnnc_winograd::matricesForTile(int(p.shape[0])) || p.shape[1] != p.shape[0] ||
        w.rank != 4 || w.shape[2] != 3 || w.shape[3] != 3 || w.shape[0] != p.shape[3] ||
        w.shape[1] != p.shape[2])
        throw Error(param_label(d, i) + " is not shaped [t, t, ci, co] (t = 4 or 6) for its [co, ci, 3, 3] source " +
                    param_label(d, p.sources[0]));
}

// Transformed filters in blocks [t * t, co / B, ci, B] of a [co, ci, 3, 3] weight computed before them.
void validate_winograd_blocked_filter(const cnnrt_model_desc *d, int i) {
    const cnnrt_param_desc &p = d->params[i];
    const cnnrt_param_desc &w = prepared_source(d, i, "Winograd filters");
    bool tile = p.rank == 4 && cnnc_winograd::matricesForTile(winograd_tile_side(p));
    if (!tile || p.shape[3] < 1 || w.rank != 4 || w.shape[2] != 3 || w.shape[3] != 3 ||
        p.shape[1] * p.shape[3] != w.shape[0] || p.shape[2] != w.shape[1])
        throw Error(param_label(d, i) + " is not shaped [t * t, co / B, ci, B] (t = 4 or 6) for its [co, ci, 3, 3] source " +
                    param_label(d, p.sources[0]));
}

// Blocked filters [co / B, ci, kh * kw, B] of a [co, ci, kh, kw] weight computed before them.
void validate_blocked_filter(const cnnrt_model_desc *d, int i) {
    const cnnrt_param_desc &p = d->params[i];
    const cnnrt_param_desc &w = prepared_source(d, i, "blocked filters");
    if (p.rank != 4 || w.rank != 4 || p.shape[3] < 1 || p.shape[0] * p.shape[3] != w.shape[0] ||
        p.shape[1] != w.shape[1] || p.shape[2] != w.shape[2] * w.shape[3])
        throw Error(param_label(d, i) + " is not shaped [co / B, ci, kh * kw, B] for its [co, ci, kh, kw] source " +
                    param_label(d, p.sources[0]));
}

// Derived (folded batchnorm) parameters: sources must exist, be loadable parameters,
// and have the shapes the folding formulas index.
void validate_derived(const cnnrt_model_desc *d, int i) {
    const cnnrt_param_desc &p = d->params[i];
    if (p.derive == CNNRT_DERIVE_NONE) return;
    const std::string label = param_label(d, i);
    if (p.derive == CNNRT_DERIVE_WINOGRAD_FILTER) return validate_winograd_filter(d, i);
    if (p.derive == CNNRT_DERIVE_BLOCKED_FILTER) return validate_blocked_filter(d, i);
    if (p.derive == CNNRT_DERIVE_WINOGRAD_BLOCKED_FILTER) return validate_winograd_blocked_filter(d, i);
    if (p.derive != CNNRT_DERIVE_FOLD_BN_WEIGHT && p.derive != CNNRT_DERIVE_FOLD_BN_BIAS)
        throw Error(label + " has an unknown derivation");
    const int64_t channels = p.shape[0];
    if (p.derive == CNNRT_DERIVE_FOLD_BN_BIAS && p.rank != 1)
        throw Error(label + " (folded bias) must have rank 1");
    for (int k = 0; k < 6; ++k) {
        const int s = p.sources[k];
        const bool required = k == 4 || k == 5 || (k == 0 && p.derive == CNNRT_DERIVE_FOLD_BN_WEIGHT);
        if (s == -1 && !required) continue;
        if (s < 0 || s >= d->num_params)
            throw Error(label + " has a missing source #" + std::to_string(k));
        const cnnrt_param_desc &src = d->params[s];
        if (src.derive != CNNRT_DERIVE_NONE)
            throw Error(label + " is derived from derived " + param_label(d, s));
        if (k == 0) {
            if (p.derive == CNNRT_DERIVE_FOLD_BN_BIAS) continue;  // the bias fold ignores it
            if (src.rank != p.rank || !std::equal(p.shape, p.shape + p.rank, src.shape))
                throw Error(label + " does not have the shape of its source " + param_label(d, s));
        } else if (param_numel(src) != channels) {
            throw Error(label + " source " + param_label(d, s) + " does not have " +
                        std::to_string(channels) + " elements");
        }
    }
}

}  // namespace

void run_kernels(const cnnrt_model *model, const cnnrt_kernel_desc *kernels, int n,
                 const Buffers &io) {
    const cnnrt_model_desc *d = model->desc;
    const int batch = io.batch;
    static float dummy = 0.0f;  // host for zero-element parameters; never dereferenced
    std::vector<halide_buffer_t> bufs;
    std::vector<halide_dimension_t> dims;
    std::vector<void *> args;
    for (int k = 0; k < n; ++k) {
        const cnnrt_kernel_desc &kd = kernels[k];
        if (!runs_at(kd, batch)) continue;  // another batch range's schedule of the same kernel
        bufs.assign(size_t(kd.num_args), halide_buffer_t());
        dims.assign(size_t(kd.num_args) * 4, halide_dimension_t());
        args.assign(size_t(kd.num_args), nullptr);
        for (int a = 0; a < kd.num_args; ++a) {
            const int ti = kd.args[a];
            const cnnrt_tensor_desc &t = d->tensors[ti];
            halide_buffer_t &b = bufs[size_t(a)];
            halide_dimension_t *dim = &dims[size_t(a) * 4];
            b.type.code = halide_type_float;
            b.type.bits = 32;
            b.type.lanes = 1;
            b.dim = dim;
            if (t.storage == CNNRT_STORAGE_SEED) {
                args[size_t(a)] = io.seed;  // a scalar argument: a pointer to its value
                continue;
            }
            if (t.storage == CNNRT_STORAGE_LABELS) {
                b.type.code = halide_type_int;
                b.host = reinterpret_cast<uint8_t *>(const_cast<int32_t *>(io.labels));
                b.dimensions = 1;
                dim[0] = halide_dimension_t(0, batch, 1);
            } else if (t.storage == CNNRT_STORAGE_PARAM || t.storage == CNNRT_STORAGE_GRAD ||
                       t.storage == CNNRT_STORAGE_NEW_PARAM) {
                const cnnrt_param_desc &p = d->params[t.index];
                // Kernels never write parameters (validated): casting away const is safe.
                const std::vector<float> &v =
                    t.storage == CNNRT_STORAGE_PARAM ? (*io.weights)[size_t(t.index)]
                    : t.storage == CNNRT_STORAGE_GRAD ? (*io.grads)[size_t(t.index)]
                                                      : (*io.new_params)[size_t(t.index)];
                b.host = reinterpret_cast<uint8_t *>(
                    v.empty() ? &dummy : const_cast<float *>(v.data()));
                b.dimensions = p.rank;
                int64_t stride = 1;
                for (int r = 0; r < p.rank; ++r) {  // Halide dim r = PyTorch dim rank-1-r
                    int64_t extent = p.shape[p.rank - 1 - r];
                    dim[r] = halide_dimension_t(0, int32_t(extent), int32_t(stride));
                    stride *= extent;
                }
            } else {
                const int64_t *td = &model->tensor_dims[size_t(ti) * kTensorInfo];
                float *host = t.storage == CNNRT_STORAGE_INPUT ? const_cast<float *>(io.input)
                              : t.storage == CNNRT_STORAGE_OUTPUT ? io.output
                              : t.storage == CNNRT_STORAGE_TRAIN  ? io.train_arena + t.offset * batch
                              : t.storage == CNNRT_STORAGE_LAYER  ? io.layer_arena + t.offset * batch
                                                                  : io.arena + t.offset * batch;
                b.host = reinterpret_cast<uint8_t *>(host + td[3]);
                b.dimensions = 4;
                dim[0] = halide_dimension_t(0, int32_t(td[0]), 1);
                dim[1] = halide_dimension_t(0, int32_t(td[1]), int32_t(td[0]));
                dim[2] = halide_dimension_t(0, int32_t(td[2]), int32_t(td[0] * td[1]));
                dim[3] = halide_dimension_t(0, batch, int32_t(td[4]));
            }
            args[size_t(a)] = &b;
        }
        t_halide_msg.clear();
        int rc = 0;
        {
            ProfileScope scope(kd.name);
            rc = kernel_entry(model, kd)(args.data());
        }
        if (rc != 0) {
            std::string name = kd.name ? kd.name : "#" + std::to_string(k);
            std::string why = t_halide_msg.empty() ? "Halide error code " + std::to_string(rc)
                                                   : t_halide_msg;
            throw Error(std::string(io.seed ? "training " : "") + "kernel '" + name +
                        "' failed: " + why);
        }
    }
}

void check_batch(const cnnrt_model *model, int batch, int64_t arena_per_sample,
                 int64_t &arena_floats) {
    const cnnrt_model_desc *d = model->desc;
    for (int i = 0; i < d->num_tensors; ++i) {
        const int s = d->tensors[i].storage;
        if (s != CNNRT_STORAGE_INPUT && s != CNNRT_STORAGE_OUTPUT &&
            s != CNNRT_STORAGE_ACTIVATION && s != CNNRT_STORAGE_TRAIN && s != CNNRT_STORAGE_LAYER)
            continue;
        const int64_t *td = &model->tensor_dims[size_t(i) * kTensorInfo];
        if (mul_checked(td[4], batch) > kI32Max)
            throw Error("batch " + std::to_string(batch) + " is too large for this model");
    }
    arena_floats = mul_checked(arena_per_sample, batch);
    if (arena_floats < 0 || uint64_t(arena_floats) > SIZE_MAX / sizeof(float))
        throw Error("batch " + std::to_string(batch) + " is too large for this model");
    const int64_t limit = model->memory_limit.load();
    if (limit > 0 && arena_floats > limit / int64_t(sizeof(float)))
        throw Error("batch " + std::to_string(batch) + " needs " + std::to_string(arena_floats * 4) +
                    " bytes of activations, over the memory limit of " + std::to_string(limit) +
                    " bytes (set_memory_limit)");
}

namespace {

// The dropout seed of training step `step`: a hash of a fixed constant and the step, so
// runs are reproducible and a resumed run continues the same sequence.
uint32_t step_seed(uint64_t step) {
    uint64_t state = 0x636e6e72745f7365ULL ^ (step * 0xD1B54A32D192ED03ULL);
    return uint32_t(splitmix64(state) >> 32);
}

void init_param(const cnnrt_param_desc &p, int index, std::vector<float> &v) {
    switch (p.init) {
    case CNNRT_INIT_ONES:
        std::fill(v.begin(), v.end(), 1.0f);
        return;
    case CNNRT_INIT_ZEROS:
        std::fill(v.begin(), v.end(), 0.0f);
        return;
    default: {
        // Seeded by a constant and the parameter index only: independent of the order
        // in which parameters are initialised, and of everything else in the model.
        uint64_t state = 0x636e6e72745f7631ULL ^ (uint64_t(index) + 1) * 0xD1B54A32D192ED03ULL;
        const double bound = 1.0 / std::sqrt(double(p.fan_in));
        for (float &x : v) {
            double u = double(splitmix64(state) >> 11) * 0x1.0p-53;  // [0, 1)
            x = float((2.0 * u - 1.0) * bound);
        }
    }
    }
}

}  // namespace

void set_error(std::string msg) {
    try {
        t_error = std::move(msg);
        t_error_oom = false;
    } catch (...) {
        t_error_oom = true;
    }
}

void clear_error() {
    t_error.clear();
    t_error_oom = false;
}

// U = G g G^T for input channel `ci` of every filter, written U[nu][xi][ci][co]
// (along co in each of the t^2 planes), G of the F(m x m, 3x3) whose tile side
// t is the prepared parameter's shape[0]; or, blocked, U[nu * t + xi][co / B][ci][co % B].
void transform_winograd_filters(const cnnrt_param_desc &p, const float *weight, float *out, size_t ci) {
    const bool blocked = p.derive == CNNRT_DERIVE_WINOGRAD_BLOCKED_FILTER;
    const int t = winograd_tile_side(p);
    const cnnc_winograd::Matrices &f = *cnnc_winograd::matricesForTile(t);  // validated
    const size_t ci_count = size_t(p.shape[2]);
    const size_t B = blocked ? size_t(p.shape[3]) : 1, co_count = blocked ? size_t(p.shape[1]) * B : size_t(p.shape[3]);
    const size_t plane = ci_count * co_count;  // floats per (nu, xi)
    // Where filter co of this input channel goes in plane 0.
    auto at = [&](size_t co) { return blocked ? ((co / B) * ci_count + ci) * B + co % B : ci * co_count + co; };
    for (size_t co = 0; co < co_count; ++co) {
        const float *g = weight + (co * ci_count + ci) * 9;  // g[ky * 3 + kx]
        double gg[6][3];  // G g: rows along ky transformed (nu), columns kx
        for (int nu = 0; nu < t; ++nu)
            for (int kx = 0; kx < 3; ++kx)
                gg[nu][kx] = f.G[nu][0] * g[kx] + f.G[nu][1] * g[3 + kx] + f.G[nu][2] * g[6 + kx];
        float *u = out + at(co);
        for (int nu = 0; nu < t; ++nu)
            for (int xi = 0; xi < t; ++xi)
                u[size_t(nu * t + xi) * plane] =
                    float(f.G[xi][0] * gg[nu][0] + f.G[xi][1] * gg[nu][1] + f.G[xi][2] * gg[nu][2]);
    }
}

// Block `block` of the blocked filters: out[block][ci][tap][b] = weight[block * B + b][ci][tap].
void block_filters(const cnnrt_param_desc &p, const float *weight, float *out, size_t block) {
    const size_t ci_count = size_t(p.shape[1]), taps = size_t(p.shape[2]), B = size_t(p.shape[3]);
    float *dst = out + block * ci_count * taps * B;
    for (size_t b = 0; b < B; ++b) {
        const float *src = weight + (block * B + b) * ci_count * taps;
        for (size_t k = 0; k < ci_count * taps; ++k) dst[k * B + b] = src[k];
    }
}

void run_parallel(int count, int (*task)(void *, int, uint8_t *), uint8_t *closure) {
    install_thread_pool();  // else Halide's pool would start threads of its own for this
    if (halide_do_par_for) {
        halide_do_par_for(nullptr, task, 0, count, closure);
    } else {
        for (int i = 0; i < count; ++i) task(nullptr, i, closure);
    }
}

void plan_prepared_weights(cnnrt_model *model) {
    const cnnrt_model_desc *d = model->desc;
    const size_t n = size_t(d->num_params);
    std::set<int> bounds;
    for (int k = 0; k < d->num_kernels; ++k)
        if (d->kernels[k].max_batch > 0) bounds.insert(d->kernels[k].max_batch + 1);
    model->batch_bounds.assign(bounds.begin(), bounds.end());
    const size_t classes = model->batch_bounds.size() + 1;
    // A class's first batch stands for all of it: which kernels run changes at the bounds only.
    auto reads = [&](int batch) {  // batch 0: every kernel
        std::vector<bool> read(n, false);
        for (int k = 0; k < d->num_kernels; ++k)
            if (batch == 0 || runs_at(d->kernels[k], batch))
                for (int a = 0; a < d->kernels[k].num_args; ++a) {
                    const cnnrt_tensor_desc &t = d->tensors[d->kernels[k].args[a]];
                    if (t.storage == CNNRT_STORAGE_PARAM) read[size_t(t.index)] = true;
                }
        return read;
    };
    const std::vector<bool> read_by_any = reads(0);
    std::vector<bool> source(n, false);
    for (size_t i = 0; i < n; ++i)
        if (is_prepared(d->params[i])) source[size_t(d->params[i].sources[0])] = true;  // validated
    model->sources_only.assign(n, false);
    for (size_t i = 0; i < n; ++i)
        model->sources_only[i] = source[i] && !read_by_any[i] && d->params[i].derive != CNNRT_DERIVE_NONE &&
                                 !is_prepared(d->params[i]);
    // What a class computes: the derived parameters its kernels read, those no
    // kernel reads (nor prepares from), and the sources of the prepared ones.
    model->needs.clear();
    for (size_t c = 0; c <= classes; ++c) {
        const std::vector<bool> read = c == classes ? read_by_any : reads(c == 0 ? 1 : model->batch_bounds[c - 1]);
        std::vector<bool> need(n, false);
        for (size_t i = n; i-- > 0;) {  // sources come before what is derived from them (validated)
            const cnnrt_param_desc &p = d->params[i];
            if (p.derive == CNNRT_DERIVE_NONE) continue;
            need[i] = need[i] || read[i] || (!read_by_any[i] && !source[i]);
            if (need[i] && is_prepared(p)) need[size_t(p.sources[0])] = true;
        }
        model->needs.push_back(std::move(need));
    }
    model->prepared_sets = std::make_unique<std::atomic<const cnnrt_model::Weights *>[]>(classes + 1);
    model->forget_prepared();
    model->computed_for.assign(n, nullptr);
}

void prepare_weights(cnnrt_model *model, const std::shared_ptr<const cnnrt_model::Weights> &w, int batch) {
    const std::vector<int> &bounds = model->batch_bounds;
    const size_t c = batch == 0 ? bounds.size() + 1
                                : size_t(std::upper_bound(bounds.begin(), bounds.end(), batch) - bounds.begin());
    std::atomic<const cnnrt_model::Weights *> &prepared = model->prepared_sets[c];
    if (prepared.load() == w.get()) return;
    std::lock_guard<std::mutex> lock(model->prepare_mutex);
    if (prepared.load() == w.get()) return;
    ProfileScope scope("(runtime) prepare weights");
    const cnnrt_model_desc *d = model->desc;
    // The snapshot is shared and otherwise immutable: other infer calls with
    // it wait on prepare_mutex before reading these, and nothing else does;
    // those in other classes read none of the parameters computed here.
    auto &weights = const_cast<cnnrt_model::Weights &>(*w);
    if (const uint64_t epoch = model->publishes.load(); model->prepared_epoch != epoch) {
        std::fill(model->computed_for.begin(), model->computed_for.end(), nullptr);
        model->prepared_epoch = epoch;
    }
    std::vector<bool> todo(size_t(d->num_params), false);
    for (int i = 0; i < d->num_params; ++i) {
        todo[size_t(i)] = model->needs[c][size_t(i)] && model->computed_for[size_t(i)] != w.get();
        if (todo[size_t(i)]) weights[size_t(i)].resize(size_t(param_numel(d->params[i])));  // released, or left unsized
    }
    compute_derived(d, weights, todo);  // create, load and train_step leave them to this
    // On the kernels' thread pool, an input channel per task: ResNet-18's
    // filters took 32.6 ms on one thread, with each filter's t^2 values
    // written a plane apart.
    for (int i = 0; i < d->num_params; ++i)
        if (todo[size_t(i)] && is_prepared(d->params[i])) {
            const cnnrt_param_desc &param = d->params[i];
            const float *weight = weights[size_t(param.sources[0])].data();
            float *out = weights[size_t(i)].data();
            if (param.derive == CNNRT_DERIVE_BLOCKED_FILTER)
                parallel_for(int(param.shape[0]), [&](int block) { block_filters(param, weight, out, size_t(block)); });
            else
                parallel_for(int(param.shape[2]), [&](int ci) {
                    transform_winograd_filters(param, weight, out, size_t(ci));
                });
        }
    for (int i = 0; i < d->num_params; ++i)
        if (todo[size_t(i)]) model->computed_for[size_t(i)] = w.get();
    // A folded weight whose kernels read its prepared forms only was a source:
    // released until a class or set needs it again (ResNet-18: 40 MB of 143).
    for (int i = 0; i < d->num_params; ++i)
        if (model->sources_only[size_t(i)] && todo[size_t(i)]) {
            std::vector<float>().swap(weights[size_t(i)]);
            model->computed_for[size_t(i)] = nullptr;
        }
    prepared.store(w.get());
}

void compute_derived(const cnnrt_model_desc *d, cnnrt_model::Weights &w, const std::vector<bool> &which) {
    for (int i = 0; i < d->num_params; ++i) {
        const cnnrt_param_desc &p = d->params[i];
        if (p.derive == CNNRT_DERIVE_NONE || is_prepared(p) || !which[size_t(i)]) continue;
        auto src = [&](int k) -> const float * {
            return p.sources[k] < 0 ? nullptr : w[size_t(p.sources[k])].data();
        };
        const float *weight = src(0), *bias = src(1), *gamma = src(2), *beta = src(3),
                    *mean = src(4), *var = src(5);
        std::vector<float> &out = w[size_t(i)];
        const size_t channels = size_t(p.shape[0]);
        const size_t per_channel = channels ? out.size() / channels : 0;
        for (size_t c = 0; c < channels; ++c) {
            // scale = gamma / sqrt(var + eps), in double like a careful offline fold
            const double scale =
                (gamma ? double(gamma[c]) : 1.0) / std::sqrt(double(var[c]) + double(p.eps));
            if (p.derive == CNNRT_DERIVE_FOLD_BN_WEIGHT) {
                for (size_t k = 0; k < per_channel; ++k)
                    out[c * per_channel + k] = float(double(weight[c * per_channel + k]) * scale);
            } else {
                out[c] = float(((bias ? double(bias[c]) : 0.0) - double(mean[c])) * scale +
                               (beta ? double(beta[c]) : 0.0));
            }
        }
    }
}

int64_t param_numel(const cnnrt_param_desc &p) {
    int64_t n = 1;
    for (int k = 0; k < p.rank; ++k) n *= p.shape[k];
    return n;
}

}  // namespace cnnrt

using namespace cnnrt;

extern "C" {

cnnrt_model *cnnrt_create(const cnnrt_model_desc *desc) {
    cnnrt_model *result = nullptr;
    guarded([&] {
        install_halide_error_handler();
        auto m = std::make_unique<cnnrt_model>();
        validate_desc(desc, m->tensor_dims);
        m->desc = desc;
        m->portable_kernels = use_portable_kernels(desc);
        plan_prepared_weights(m.get());
        if (desc->embedded_weights_size) {
            load_embedded_weights(m.get()); // every loaded parameter: nothing to initialise
        } else {
            auto w = std::make_shared<cnnrt_model::Weights>(size_t(desc->num_params));
            for (int i = 0; i < desc->num_params; ++i) {
                (*w)[size_t(i)].resize(size_t(param_numel(desc->params[i])));
                init_param(desc->params[i], i, (*w)[size_t(i)]);
            }
            m->publish(std::move(w));
        }
        // Derived parameters: at the first infer call (prepare_weights).
        result = m.release();
    });
    return result;
}

void cnnrt_destroy(cnnrt_model *model) { delete model; }

const char *cnnrt_last_error(void) {
    if (t_error_oom) return "out of memory";
    return t_error.c_str();
}

int cnnrt_input_dims(const cnnrt_model_desc *desc, int dims[3]) {
    return guarded([&] {
        if (!desc) throw Error("desc is NULL");
        if (!dims) throw Error("dims is NULL");
        for (int i = 0; i < 3; ++i) dims[i] = desc->input_dims[i];
    });
}

int cnnrt_output_size(const cnnrt_model_desc *desc) {
    // The size itself is the result, so an error is reported as -1.
    int size = -1;
    guarded([&] {
        if (!desc) throw Error("desc is NULL");
        if (desc->output_size <= 0 || desc->output_size > INT32_MAX)
            throw Error("desc output_size is out of range");
        size = int(desc->output_size);
    });
    return size;
}

int cnnrt_set_num_threads(int n) {
    int previous = -1;
    int rc = guarded([&] {
        if (n < 0) throw Error("number of threads is negative");
        if (&halide_set_num_threads == nullptr) throw Error("Halide runtime is not linked in");
        previous = halide_set_num_threads(n);
        if (install_thread_pool()) previous = pool_set_num_threads(n);
    });
    return rc ? -1 : previous;
}

int cnnrt_set_memory_limit(cnnrt_model *model, int64_t bytes) {
    return guarded([&] {
        if (!model) throw Error("model is NULL");
        if (bytes < 0) throw Error("memory limit is negative: " + std::to_string(bytes));
        model->memory_limit.store(bytes);
    });
}

int cnnrt_infer(cnnrt_model *model, const float *input, int batch, float *output) {
    return guarded([&] {
        if (!model) throw Error("model is NULL");
        if (!input) throw Error("input is NULL");
        if (!output) throw Error("output is NULL");
        if (batch < 1) throw Error("batch must be >= 1, got " + std::to_string(batch));
        install_halide_error_handler();
        const cnnrt_model_desc *d = model->desc;
        CallPlacement placement;
        FlushDenormals float_mode;

        int64_t arena_floats = 0;
        check_batch(model, batch, d->arena_floats_per_sample, arena_floats);
        std::vector<float> arena;
        try {
            arena = model->take_infer_arena(size_t(arena_floats));
        } catch (const std::bad_alloc &) {
            throw Error("out of memory allocating a " + std::to_string(arena_floats * 4) + "-byte activation arena");
        }

        const HeldWeights held(model);
        const std::shared_ptr<const cnnrt_model::Weights> &weights = held.get();
        prepare_weights(model, weights, batch);
        Buffers bufs;
        bufs.input = input;
        bufs.output = output;
        bufs.arena = arena.data();
        bufs.weights = weights.get();
        bufs.batch = batch;
        run_kernels(model, d->kernels, d->num_kernels, bufs);

        const cnnrt_tensor_desc &r = d->tensors[d->result_tensor];
        if (r.storage != CNNRT_STORAGE_OUTPUT) {
            const int64_t *rd = &model->tensor_dims[size_t(d->result_tensor) * kTensorInfo];
            const float *src = (r.storage == CNNRT_STORAGE_INPUT ? input
                                                                 : arena.data() + r.offset * batch) +
                               rd[3];
            const size_t n = size_t(d->output_size);
            if (rd[4] == d->output_size) {
                std::memcpy(output, src, n * size_t(batch) * sizeof(float));
            } else {
                for (int i = 0; i < batch; ++i)
                    std::memcpy(output + size_t(i) * n, src + size_t(i) * size_t(rd[4]),
                                n * sizeof(float));
            }
        }
        model->keep_infer_arena(std::move(arena));
    });
}

int cnnrt_train_step(cnnrt_model *model, const float *input, const int32_t *labels, int batch,
                     float *loss) {
    return guarded([&] {
        if (!model) throw Error("model is NULL");
        if (!input) throw Error("input is NULL");
        if (!labels) throw Error("labels is NULL");
        if (!loss) throw Error("loss is NULL");
        if (batch < 1) throw Error("batch must be >= 1, got " + std::to_string(batch));
        const cnnrt_model_desc *d = model->desc;
        require_training(d);
        for (int i = 0; i < batch; ++i)
            if (labels[i] < 0 || labels[i] >= d->num_classes)
                throw Error("label " + std::to_string(labels[i]) + " at index " + std::to_string(i) +
                            " is out of range [0, " + std::to_string(d->num_classes) + ")");
        install_halide_error_handler();
        CallPlacement placement;
        FlushDenormals float_mode;

        // Serialises training-state users (train_step, set_*, checkpoints, load_weights);
        // inference does not take this lock and keeps using its snapshots.
        std::lock_guard<std::mutex> train_lock(model->train_mutex);
        int64_t arena_floats = 0;
        check_batch(model, batch, d->train_arena_floats_per_sample, arena_floats);
        // Reused from the previous step, not cleared: the plan has the first
        // kernel to produce each value or gradient write it before any kernel
        // reads it (codegen/TrainingPlan.cpp).
        std::vector<float> &arena = model->train_arena;
        try {
            if (arena.size() < size_t(arena_floats)) arena.resize(size_t(arena_floats));
        } catch (const std::bad_alloc &) {
            throw Error("out of memory allocating a " + std::to_string(arena_floats * 4) + "-byte training arena");
        }

        const HeldWeights held(model);
        const std::shared_ptr<const cnnrt_model::Weights> &weights = held.get();
        // A parameter's gradient is written whole by the one kernel that computes
        // it (a kernel output, never accumulated into), so it is only sized here:
        // zeroing them all took 4.7 ms of a ResNet-18 step. New buffer values
        // start at the current values, so a kernel that leaves part of one
        // unwritten leaves it unchanged.
        std::vector<std::vector<float>> &grads = model->train_grads;
        grads.resize(size_t(d->num_params));
        std::vector<std::vector<float>> new_params(grads.size());
        std::vector<bool> has_new(grads.size(), false);
        const std::vector<bool> has_grad = params_with_grad(d);
        {
            ProfileScope scope("(runtime) size gradients");
            for (int i = 0; i < d->num_params; ++i)
                if (has_grad[size_t(i)]) grads[size_t(i)].resize(size_t(param_numel(d->params[i])));
            for (int i = 0; i < d->num_tensors; ++i) {
                const cnnrt_tensor_desc &t = d->tensors[i];
                if (t.storage != CNNRT_STORAGE_NEW_PARAM || has_new[size_t(t.index)]) continue;
                has_new[size_t(t.index)] = true;
                new_params[size_t(t.index)] = (*weights)[size_t(t.index)];
            }
        }
        uint32_t seed = step_seed(model->train_steps);

        Buffers io;
        io.input = input;
        io.train_arena = arena.data();
        io.weights = weights.get();
        io.grads = &grads;
        io.new_params = &new_params;
        io.labels = labels;
        io.seed = &seed;
        io.batch = batch;
        run_kernels(model, d->train_kernels, d->num_train_kernels, io);

        double total = 0.0;
        for (int k = 0; k < d->num_loss_terms; ++k) {
            const cnnrt_loss_term &lt = d->loss_terms[k];
            const cnnrt_tensor_desc &t = d->tensors[lt.tensor];
            const int64_t *td = &model->tensor_dims[size_t(lt.tensor) * kTensorInfo];
            const float *v = arena.data() + t.offset * batch + td[3];
            double sum = 0.0;
            for (int i = 0; i < batch; ++i) sum += double(v[int64_t(i) * td[4]]);
            total += double(lt.weight) * (sum / batch);
        }
        const float result = float(total);
        if (!std::isfinite(total) || !std::isfinite(result))
            throw Error(std::string("loss is not finite (") + (std::isnan(total) ? "nan" : "inf") +
                        "); the weights are unchanged");

        // A new set: infer calls in flight keep the old one. It is written into
        // the set retired two steps ago when nobody holds it any more, and the
        // optimiser state into the spare state, so a failure leaves both as they were.
        std::shared_ptr<cnnrt_model::Weights> next = model->take_spare_weights();
        if (!next) next = std::make_shared<cnnrt_model::Weights>();
        {
            ProfileScope scope("(runtime) optimiser step");
            apply_optimizer(d, model->optimizer, model->spare_optimizer, *weights, *next, grads);
        }
        for (int i = 0; i < d->num_params; ++i)
            if (has_new[size_t(i)]) (*next)[size_t(i)].swap(new_params[size_t(i)]);
        // Derived parameters (folded batchnorm, prepared filters) are left to
        // the first infer call with the new set (prepare_weights): only
        // inference reads them, and a step of ResNet-18 spent 3.8 ms on them.

        // Commit: nothing below throws.
        std::shared_ptr<const cnnrt_model::Weights> retired = model->exchange(std::move(next));
        std::swap(model->optimizer, model->spare_optimizer);
        // Every set is made non-const (create, load, train_step), and no new
        // snapshot can reach the retired one: it is ours to reuse once the
        // infer calls holding it return (use_count() == 1 above).
        model->spare_weights = std::const_pointer_cast<cnnrt_model::Weights>(retired);
        ++model->train_steps;
        *loss = result;
    });
}

}  // extern "C"
