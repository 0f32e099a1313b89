// cnnrt: checking a model description before anything trusts it, so that no
// kernel call can address memory outside the caller's buffers, the arena or
// the parameters.
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "runtime/Internal.h"

namespace cnnrt {

namespace {

std::string param_label(const cnnrt_model_desc *d, int i) {
    const char *n = d->params[i].name;
    return n ? "parameter '" + std::string(n) + "'" : "parameter #" + std::to_string(i);
}

void validate_prepare_kernels(const cnnrt_model_desc *d);

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
                is_derived(d->params[d->tensors[kd.args[a]].index]))
                throw Error(label + " reads derived " + param_label(d, d->tensors[kd.args[a]].index) +
                            ", which only inference computes");
            if (train && (storage == CNNRT_STORAGE_OUTPUT || storage == CNNRT_STORAGE_ACTIVATION))
                throw Error(label + " uses tensor #" + std::to_string(kd.args[a]) +
                            ", an inference output/activation (training uses TRAIN tensors)");
        }
        const cnnrt_tensor_desc &out = d->tensors[kd.args[kd.num_args - 1]];
        if (out.storage == CNNRT_STORAGE_INPUT) throw Error(label + " writes the input");
        if (!train && out.storage == CNNRT_STORAGE_PARAM) throw Error(label + " writes a parameter (only prepare kernels do)");
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
}  // namespace

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
    if (d->fixed_batch < 0 || d->fixed_batch == 1) throw Error("desc fixed_batch must be 0 (any) or at least 2");
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
        if (p.init == CNNRT_INIT_UNIFORM_FAN_IN && p.fan_in <= 0 && !is_derived(p))
            throw Error(param_label(d, i) + " needs a positive fan_in");
    }

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
            if (t.storage == CNNRT_STORAGE_NEW_PARAM && (!p.buffer || is_derived(p)))
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
    validate_prepare_kernels(d);
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

namespace {

// Each derived parameter's prepare kernel reads parameters listed before it
// (so computing in desc order finds every source ready, and no preparation
// reads itself) and writes that parameter, which only it computes.
void validate_prepare_kernels(const cnnrt_model_desc *d) {
    if (d->num_prepare_kernels < 0) throw Error("desc has a negative prepare kernel count");
    if (d->num_prepare_kernels > 0 && !d->prepare_kernels) throw Error("desc has a NULL prepare kernel table");
    std::vector<int> computes(size_t(d->num_prepare_kernels), -1);  // kernel -> the parameter naming it
    for (int i = 0; i < d->num_params; ++i) {
        const int k = d->params[i].prepare;
        if (k < -1 || k >= d->num_prepare_kernels)
            throw Error(param_label(d, i) + " names a missing prepare kernel");
        if (k < 0) continue;
        if (computes[size_t(k)] >= 0)
            throw Error(param_label(d, i) + " and " + param_label(d, computes[size_t(k)]) +
                        " name the same prepare kernel");
        computes[size_t(k)] = i;
    }
    for (int k = 0; k < d->num_prepare_kernels; ++k) {
        const cnnrt_kernel_desc &kd = d->prepare_kernels[k];
        const std::string label = kd.name ? "prepare kernel '" + std::string(kd.name) + "'"
                                          : "prepare kernel #" + std::to_string(k);
        if (!kd.fn) throw Error(label + " has no function");
        if (kd.num_args < 1 || !kd.args) throw Error(label + " has no arguments");
        if (kd.min_batch || kd.max_batch) throw Error(label + " has a batch range");
        if (computes[size_t(k)] < 0) throw Error(label + " computes no parameter");
        for (int a = 0; a < kd.num_args; ++a) {
            if (kd.args[a] < 0 || kd.args[a] >= d->num_tensors) throw Error(label + " refers to a missing tensor");
            const cnnrt_tensor_desc &t = d->tensors[kd.args[a]];
            if (t.storage != CNNRT_STORAGE_PARAM)
                throw Error(label + " uses tensor #" + std::to_string(kd.args[a]) + ", which is not a parameter");
            const bool last = a + 1 == kd.num_args;
            if (last && t.index != computes[size_t(k)])
                throw Error(label + " does not write " + param_label(d, computes[size_t(k)]) + ", which it computes");
            if (!last && t.index >= computes[size_t(k)])
                throw Error(label + " reads " + param_label(d, t.index) + ", which is not listed before " +
                            param_label(d, computes[size_t(k)]));
        }
    }
}

}  // namespace

}  // namespace cnnrt
