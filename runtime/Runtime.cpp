// cnnrt: the C API: creating a model, inference and the training step.
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

// Provided by Halide's standalone runtime, which is linked into every model .so. Weak so
// that the runtime also links (and works, minus Halide's messages) without it, e.g. in
// unit tests whose kernels are plain C++.
extern "C" {
#pragma weak halide_set_num_threads
}
using namespace cnnrt;

extern "C" {

cnnrt_model *cnnrt_create(const cnnrt_model_desc *desc) {
    cnnrt_model *result = nullptr;
    guarded([&] {
        install_halide_hooks();
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
        require_batch(model->desc, batch);
        install_halide_hooks();
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
        require_batch(model->desc, batch);
        const cnnrt_model_desc *d = model->desc;
        require_training(d);
        for (int i = 0; i < batch; ++i)
            if (labels[i] < 0 || labels[i] >= d->num_classes)
                throw Error("label " + std::to_string(labels[i]) + " at index " + std::to_string(i) +
                            " is out of range [0, " + std::to_string(d->num_classes) + ")");
        install_halide_hooks();
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
