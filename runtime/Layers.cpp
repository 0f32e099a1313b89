// cnnrt: reading any layer's value (infer_layer) and the gradient of a class
// score with respect to the input (input_gradient). Both run the desc's layer
// kernels, one inference-mode kernel per op with every value kept in a layer
// arena of its own, so the fused inference kernels stay as fast as they are.
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "runtime/Internal.h"
#include "runtime/Runtime.h"

namespace cnnrt {

namespace {

// Layer and gradient kernels read the input, non-derived parameters (which
// every published weight set holds) and the layer arena, the gradient kernels
// also the classes; each writes a layer tensor.
void validate_layer_kernels(const cnnrt_model_desc *d, const cnnrt_kernel_desc *kernels, int n, bool gradient) {
    const char *what = gradient ? "gradient kernel" : "layer kernel";
    if (n < 0) throw Error(std::string("desc has a negative ") + what + " count");
    if (n > 0 && !kernels) throw Error(std::string("desc has a NULL ") + what + " table");
    for (int k = 0; k < n; ++k) {
        const cnnrt_kernel_desc &kd = kernels[k];
        const std::string label = std::string(what) + " '" + (kd.name ? kd.name : "#" + std::to_string(k)) + "'";
        if (!kd.fn) throw Error(label + " has no function");
        if (kd.num_args < 1 || !kd.args) throw Error(label + " has no arguments");
        if (kd.min_batch || kd.max_batch) throw Error(label + " has a batch range");
        for (int a = 0; a < kd.num_args; ++a) {
            const int ti = kd.args[a];
            if (ti < 0 || ti >= d->num_tensors) throw Error(label + " refers to a missing tensor");
            const cnnrt_tensor_desc &t = d->tensors[ti];
            const bool ok = t.storage == CNNRT_STORAGE_INPUT || t.storage == CNNRT_STORAGE_LAYER ||
                            (t.storage == CNNRT_STORAGE_PARAM && !is_derived(d->params[t.index])) ||
                            (gradient && t.storage == CNNRT_STORAGE_LABELS);
            if (!ok) throw Error(label + " uses tensor #" + std::to_string(ti) + ", which it may not read or write");
        }
        if (d->tensors[kd.args[kd.num_args - 1]].storage != CNNRT_STORAGE_LAYER)
            throw Error(label + " does not write a layer tensor");
    }
}

// A layer tensor the caller's output can be copied from whole: input or layer, no channel slice.
void validate_layer_tensor(const cnnrt_model_desc *d, int ti, const std::string &label) {
    if (ti < 0 || ti >= d->num_tensors) throw Error(label + " refers to a missing tensor");
    const cnnrt_tensor_desc &t = d->tensors[ti];
    if (t.storage != CNNRT_STORAGE_INPUT && t.storage != CNNRT_STORAGE_LAYER)
        throw Error(label + " is not an input or layer tensor");
    if (t.inner_offset != 0 || (t.sample_stride != 0 && t.sample_stride != t.dims[0] * t.dims[1] * t.dims[2]))
        throw Error(label + " is a channel slice");
}

// Index of the layer called `name`; throws a clear error when there is none.
int find_layer(const cnnrt_model_desc *d, const char *name) {
    if (d->num_layers == 0)
        throw Error("model '" + std::string(d->network ? d->network : "?") +
                    "' was compiled with --no-layers (or from folded IR): it has no layer kernels");
    for (int i = 0; i < d->num_layers; ++i)
        if (std::strcmp(d->layers[i].name, name) == 0) return i;
    std::string known;
    for (int i = 0; i < d->num_layers && i < 8; ++i) known += std::string(i ? ", " : "") + d->layers[i].name;
    if (d->num_layers > 8) known += ", ...";
    throw Error("no layer named '" + std::string(name) + "' in " + (d->network ? d->network : "this model") +
                " (layers: " + known + "; `cnnc --summary` lists all " + std::to_string(d->num_layers) + ")");
}

// Copies tensor `ti` (validated by validate_layer_tensor) of every sample to out, [batch, size].
void copy_out(const cnnrt_model *model, int ti, const Buffers &io, float *out) {
    const cnnrt_tensor_desc &t = model->desc->tensors[ti];
    const int64_t *td = &model->tensor_dims[size_t(ti) * kTensorInfo];
    const size_t size = size_t(td[0] * td[1] * td[2]);
    const float *src = t.storage == CNNRT_STORAGE_INPUT ? io.input : io.layer_arena + t.offset * io.batch;
    std::memcpy(out, src, size * size_t(io.batch) * sizeof(float));
}

void check_layer_index(const cnnrt_model_desc *d, int i) {
    if (!d) throw Error("desc is NULL");
    if (i < 0 || i >= d->num_layers)
        throw Error("layer index " + std::to_string(i) + " is out of range [0, " + std::to_string(d->num_layers) + ")");
}

// Runs the layer kernels (the first `kernels` of them) and then, with
// `classes`, the gradient kernels, in a fresh layer arena; copies tensor `ti` out.
void run_layers(cnnrt_model *model, const float *input, int batch, int kernels, const int32_t *classes, int ti,
                float *out) {
    const cnnrt_model_desc *d = model->desc;
    CallPlacement placement;
    FlushDenormals float_mode;
    int64_t arena_floats = 0;
    check_batch(model, batch, d->layer_arena_floats_per_sample, arena_floats);
    std::vector<float> arena;
    try {
        arena.resize(size_t(arena_floats));
    } catch (const std::bad_alloc &) {
        throw Error("out of memory allocating a " + std::to_string(arena_floats * 4) + "-byte layer arena");
    }
    const HeldWeights held(model);
    Buffers io;
    io.input = input;
    io.weights = held.get().get();
    io.batch = batch;
    io.layer_arena = arena.data();
    io.labels = classes;
    run_kernels(model, d->layer_kernels, kernels, io);
    if (classes) run_kernels(model, d->gradient_kernels, d->num_gradient_kernels, io);
    copy_out(model, ti, io, out);
}

}  // namespace

void validate_layers(const cnnrt_model_desc *d) {
    if (d->layer_arena_floats_per_sample < 0) throw Error("desc layer_arena_floats_per_sample is negative");
    validate_layer_kernels(d, d->layer_kernels, d->num_layer_kernels, false);
    validate_layer_kernels(d, d->gradient_kernels, d->num_gradient_kernels, true);
    if (d->num_layers < 0) throw Error("desc has a negative layer count");
    if (d->num_layers > 0 && !d->layers) throw Error("desc has a NULL layer table");
    std::set<std::string> names;
    for (int i = 0; i < d->num_layers; ++i) {
        const cnnrt_layer_desc &l = d->layers[i];
        const std::string label = "layer #" + std::to_string(i);
        if (!l.name || !*l.name) throw Error(label + " has no name");
        if (!names.insert(l.name).second) throw Error("duplicate layer '" + std::string(l.name) + "'");
        validate_layer_tensor(d, l.tensor, "layer '" + std::string(l.name) + "'");
        if (l.kernels < 0 || l.kernels > d->num_layer_kernels)
            throw Error("layer '" + std::string(l.name) + "' runs more kernels than the layer table has");
    }
    if (d->num_gradient_kernels > 0) {
        if (d->num_classes < 1) throw Error("desc has gradient kernels but num_classes < 1");
        validate_layer_tensor(d, d->input_gradient_tensor, "the input gradient");
        const cnnrt_tensor_desc &t = d->tensors[d->input_gradient_tensor];
        if (t.storage != CNNRT_STORAGE_LAYER || t.dims[0] != d->input_dims[2] || t.dims[1] != d->input_dims[1] ||
            t.dims[2] != d->input_dims[0])
            throw Error("the input gradient is not a layer tensor of the input's dims");
    }
}

}  // namespace cnnrt

using namespace cnnrt;

extern "C" {

int cnnrt_layer_count(const cnnrt_model_desc *desc) {
    int count = -1;
    guarded([&] {
        if (!desc) throw Error("desc is NULL");
        count = desc->num_layers;
    });
    return count;
}

const char *cnnrt_layer_name(const cnnrt_model_desc *desc, int i) {
    const char *name = nullptr;
    guarded([&] {
        check_layer_index(desc, i);
        name = desc->layers[i].name;
    });
    return name;
}

int cnnrt_layer_dims(const cnnrt_model_desc *desc, int i, int dims[3]) {
    return guarded([&] {
        check_layer_index(desc, i);
        if (!dims) throw Error("dims is NULL");
        const cnnrt_tensor_desc &t = desc->tensors[desc->layers[i].tensor];
        const bool fallback = t.dims[0] == 0 && t.dims[1] == 0 && t.dims[2] == 0;  // the input's own
        for (int k = 0; k < 3; ++k) dims[k] = fallback ? desc->input_dims[k] : int(t.dims[2 - k]);
    });
}

int cnnrt_layer_field(const cnnrt_model_desc *desc, int i, int field[6]) {
    return guarded([&] {
        check_layer_index(desc, i);
        if (!field) throw Error("field is NULL");
        for (int k = 0; k < 6; ++k) field[k] = desc->layers[i].field[k];
    });
}

int cnnrt_infer_layer(cnnrt_model *model, const float *input, int batch, const char *layer, float *output) {
    return guarded([&] {
        if (!model) throw Error("model is NULL");
        if (!input) throw Error("input is NULL");
        if (!layer) throw Error("layer is NULL");
        if (!output) throw Error("output is NULL");
        require_batch(model->desc, batch);
        const cnnrt_layer_desc &l = model->desc->layers[find_layer(model->desc, layer)];
        run_layers(model, input, batch, l.kernels, nullptr, l.tensor, output);
    });
}

int cnnrt_input_gradient(cnnrt_model *model, const float *input, int batch, const int32_t *classes, float *grad) {
    return guarded([&] {
        if (!model) throw Error("model is NULL");
        if (!input) throw Error("input is NULL");
        if (!classes) throw Error("classes is NULL");
        if (!grad) throw Error("grad is NULL");
        require_batch(model->desc, batch);
        const cnnrt_model_desc *d = model->desc;
        if (d->num_gradient_kernels == 0)
            throw Error("model '" + std::string(d->network ? d->network : "?") + "' was compiled " +
                        (d->num_layers == 0 ? "with --no-layers" : "without --train") +
                        ": input_gradient needs its backward kernels");
        for (int i = 0; i < batch; ++i)
            if (classes[i] < 0 || classes[i] >= d->num_classes)
                throw Error("class " + std::to_string(classes[i]) + " at index " + std::to_string(i) +
                            " is out of range [0, " + std::to_string(d->num_classes) + ")");
        run_layers(model, input, batch, d->num_layer_kernels, classes, d->input_gradient_tensor, grad);
    });
}

}  // extern "C"
