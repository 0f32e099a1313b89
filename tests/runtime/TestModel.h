// A hand-made cnnrt_model_desc with plain C++ kernels (no Halide compiler needed).
//
//   input  [N, 2, 3, 4]
//   act0 = input * scale.weight[c] + scale.bias[c]              (per channel)
//   act1 = fc.weight [5, 24] @ flatten(act0) + fc.bias [5]      (W=1, H=1, C=5)
//   output = act1  (copied by the runtime: result tensor is an activation)
//
// kDescDirect is the same network with the fc kernel writing the output directly.
// The kernels read every buffer through its halide_buffer_t dims and strides and fail
// if the shapes are not what the runtime promised, so they also test buffer building.
#ifndef CNNRT_TEST_MODEL_H
#define CNNRT_TEST_MODEL_H

#include <HalideRuntime.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "runtime/ModelDesc.h"

namespace testmodel {

constexpr int C = 2, H = 3, W = 4, IN = C * H * W, OUT = 5;

inline float &at(halide_buffer_t *b, int i0, int i1 = 0, int i2 = 0, int i3 = 0) {
    const int idx[4] = {i0, i1, i2, i3};
    int64_t off = 0;
    for (int d = 0; d < b->dimensions; ++d) off += int64_t(idx[d] - b->dim[d].min) * b->dim[d].stride;
    return reinterpret_cast<float *>(b->host)[off];
}

inline bool is4d(halide_buffer_t *b, int w, int h, int c) {
    return b->dimensions == 4 && b->type.code == halide_type_float && b->type.bits == 32 &&
           b->dim[0].extent == w && b->dim[0].stride == 1 && b->dim[1].extent == h &&
           b->dim[1].stride == w && b->dim[2].extent == c && b->dim[2].stride == w * h &&
           b->dim[3].stride >= w * h * c && b->dim[0].min == 0 && b->dim[3].min == 0;
}

// args: input, scale.weight, scale.bias, act0
inline int k_scale(void **args) {
    auto **b = reinterpret_cast<halide_buffer_t **>(args);
    if (!is4d(b[0], W, H, C) || !is4d(b[3], W, H, C)) return -2;
    if (b[1]->dimensions != 1 || b[1]->dim[0].extent != C || b[2]->dim[0].extent != C) return -3;
    const int n = b[0]->dim[3].extent;
    if (b[3]->dim[3].extent != n) return -4;
    for (int i = 0; i < n; ++i)
        for (int c = 0; c < C; ++c)
            for (int y = 0; y < H; ++y)
                for (int x = 0; x < W; ++x)
                    at(b[3], x, y, c, i) = at(b[0], x, y, c, i) * at(b[1], c) + at(b[2], c);
    return 0;
}

// args: act0, fc.weight, fc.bias, act1/output
inline int k_fc(void **args) {
    auto **b = reinterpret_cast<halide_buffer_t **>(args);
    if (!is4d(b[0], W, H, C) || !is4d(b[3], 1, 1, OUT)) return -2;
    // fc.weight is PyTorch [OUT, IN]: Halide dim0 = IN (stride 1), dim1 = OUT (stride IN).
    if (b[1]->dimensions != 2 || b[1]->dim[0].extent != IN || b[1]->dim[0].stride != 1 ||
        b[1]->dim[1].extent != OUT || b[1]->dim[1].stride != IN)
        return -3;
    const int n = b[0]->dim[3].extent;
    for (int i = 0; i < n; ++i)
        for (int o = 0; o < OUT; ++o) {
            float acc = at(b[2], o);
            for (int c = 0; c < C; ++c)
                for (int y = 0; y < H; ++y)
                    for (int x = 0; x < W; ++x)
                        acc += at(b[1], (c * H + y) * W + x, o) * at(b[0], x, y, c, i);
            at(b[3], 0, 0, o, i) = acc;
        }
    return 0;
}

#define NOT_DERIVED CNNRT_DERIVE_NONE, {-1, -1, -1, -1, -1, -1}, 0.0f
inline const cnnrt_param_desc kParams[] = {
    {"scale.weight", 1, {C, 0, 0, 0}, CNNRT_INIT_ONES, 0, NOT_DERIVED},
    {"scale.bias", 1, {C, 0, 0, 0}, CNNRT_INIT_ZEROS, 0, NOT_DERIVED},
    {"fc.weight", 2, {OUT, IN, 0, 0}, CNNRT_INIT_UNIFORM_FAN_IN, IN, NOT_DERIVED},
    {"fc.bias", 1, {OUT, 0, 0, 0}, CNNRT_INIT_UNIFORM_FAN_IN, IN, NOT_DERIVED},
};

// 0 input, 1-4 params, 5 act0, 6 act1, 7 output
inline const cnnrt_tensor_desc kTensors[] = {
    {CNNRT_STORAGE_INPUT, 0, 0, {W, H, C}, 0, 0},
    {CNNRT_STORAGE_PARAM, 0, 0, {0, 0, 0}, 0, 0},
    {CNNRT_STORAGE_PARAM, 1, 0, {0, 0, 0}, 0, 0},
    {CNNRT_STORAGE_PARAM, 2, 0, {0, 0, 0}, 0, 0},
    {CNNRT_STORAGE_PARAM, 3, 0, {0, 0, 0}, 0, 0},
    {CNNRT_STORAGE_ACTIVATION, 0, 0, {W, H, C}, 0, 0},
    {CNNRT_STORAGE_ACTIVATION, 0, IN, {1, 1, OUT}, 0, 0},
    {CNNRT_STORAGE_OUTPUT, 0, 0, {0, 0, 0}, 0, 0},  // dims left 0: the runtime uses (1, 1, OUT)
};

inline const int kScaleArgs[] = {0, 1, 2, 5};
inline const int kFcArgs[] = {5, 3, 4, 6};
inline const int kFcDirectArgs[] = {5, 3, 4, 7};

inline const cnnrt_kernel_desc kKernels[] = {
    {"scale", k_scale, 4, kScaleArgs},
    {"fc", k_fc, 4, kFcArgs},
};
inline const cnnrt_kernel_desc kKernelsDirect[] = {
    {"scale", k_scale, 4, kScaleArgs},
    {"fc", k_fc, 4, kFcDirectArgs},
};

inline const cnnrt_model_desc kDesc = {
    "testnet", {C, H, W}, OUT, 4, kParams, 8, kTensors, 2, kKernels, 6, IN + OUT};
inline const cnnrt_model_desc kDescDirect = {
    "testnet_direct", {C, H, W}, OUT, 4, kParams, 8, kTensors, 2, kKernelsDirect, 7, IN + OUT};

// Reference: same math, plain loops over [N, C, H, W] arrays and PyTorch-layout params.
inline std::vector<float> reference(const std::vector<std::vector<float>> &p,
                                    const std::vector<float> &input, int batch) {
    std::vector<float> out(size_t(batch) * OUT);
    for (int i = 0; i < batch; ++i) {
        std::vector<float> a(IN);
        for (int c = 0; c < C; ++c)
            for (int k = 0; k < H * W; ++k)
                a[c * H * W + k] = input[size_t(i) * IN + c * H * W + k] * p[0][c] + p[1][c];
        for (int o = 0; o < OUT; ++o) {
            float acc = p[3][o];
            for (int k = 0; k < IN; ++k) acc += p[2][size_t(o) * IN + k] * a[k];
            out[size_t(i) * OUT + o] = acc;
        }
    }
    return out;
}

}  // namespace testmodel

#endif
