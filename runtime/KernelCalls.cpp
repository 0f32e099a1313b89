// cnnrt: calling a table of kernels on a batch, and sizing what a batch needs.
#include <HalideRuntime.h>

#include <climits>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/Internal.h"

namespace cnnrt {

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
                // Only prepare kernels write parameters, the derived one each computes, in a
                // set no other call reads it from yet (prepare_weights): casting away const is safe.
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
        halide_message().clear();
        int rc = 0;
        {
            ProfileScope scope(kd.name);
            rc = kernel_entry(model, kd)(args.data());
        }
        if (rc != 0) {
            std::string name = kd.name ? kd.name : "#" + std::to_string(k);
            std::string why = halide_message().empty() ? "Halide error code " + std::to_string(rc)
                                                   : halide_message();
            throw Error(std::string(io.seed ? "training " : "") + "kernel '" + name +
                        "' failed: " + why);
        }
    }
}

void require_batch(const cnnrt_model_desc *d, int batch) {
    if (batch < 1) throw Error("batch must be >= 1, got " + std::to_string(batch));
    if (d->fixed_batch > 0 && batch != d->fixed_batch)
        throw Error("model '" + std::string(d->network ? d->network : "?") + "' takes batches of exactly " +
                    std::to_string(d->fixed_batch) + " (its fixed batch size), got " +
                    std::to_string(batch));
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

}  // namespace cnnrt
