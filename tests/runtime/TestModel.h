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

#include <atomic>
#include <cmath>
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

#define NOT_DERIVED -1

// Prepare kernels for hand-made descs (codegen builds a library's from the
// ops' Derivations). Elements of a dense buffer, whatever its rank.
inline int64_t elements(const halide_buffer_t *b) {
    int64_t n = 1;
    for (int d = 0; d < b->dimensions; ++d) n *= b->dim[d].extent;
    return n;
}
// A batchnorm with gamma, var and eps folded into a weight whose outermost
// (PyTorch dim 0) extent is the channel. args: weight, gamma, var, out.
template <int EpsMicro>
inline int k_fold_weight(void **args) {
    auto **b = reinterpret_cast<halide_buffer_t **>(args);
    const int out = 3, rank = b[out]->dimensions;
    const int64_t channels = b[out]->dim[rank - 1].extent, per = elements(b[out]) / channels;
    if (elements(b[0]) != elements(b[out]) || elements(b[1]) != channels || elements(b[2]) != channels) return -1;
    const float *w = reinterpret_cast<const float *>(b[0]->host), *gamma = reinterpret_cast<const float *>(b[1]->host),
                *var = reinterpret_cast<const float *>(b[2]->host);
    for (int64_t c = 0; c < channels; ++c)
        for (int64_t k = 0; k < per; ++k)
            reinterpret_cast<float *>(b[out]->host)[c * per + k] =
                float(double(w[c * per + k]) * gamma[c] / std::sqrt(double(var[c]) + EpsMicro * 1e-6));
    return 0;
}
// The same batchnorm folded into a bias. args: bias, gamma, beta, mean, var, out.
template <int EpsMicro>
inline int k_fold_bias(void **args) {
    auto **b = reinterpret_cast<halide_buffer_t **>(args);
    const int64_t channels = elements(b[5]);
    for (int i = 0; i < 5; ++i)
        if (elements(b[i]) != channels) return -1;
    auto in = [&](int i, int64_t c) { return double(reinterpret_cast<const float *>(b[i]->host)[c]); };
    for (int64_t c = 0; c < channels; ++c)
        reinterpret_cast<float *>(b[5]->host)[c] =
            float((in(0, c) - in(3, c)) * in(1, c) / std::sqrt(in(4, c) + EpsMicro * 1e-6) + in(2, c));
    return 0;
}
// Filters [co, ci, kh, kw] in blocks of B (B = out's innermost extent):
// out [co / B, ci, kh * kw, B]. args: weight, out.
inline int k_block_filters(void **args) {
    auto **b = reinterpret_cast<halide_buffer_t **>(args);
    const halide_buffer_t *w = b[0], *o = b[1];
    if (w->dimensions != 4 || o->dimensions != 4) return -1;
    const int B = o->dim[0].extent, taps = o->dim[1].extent, cin = o->dim[2].extent, blocks = o->dim[3].extent;
    if (w->dim[0].extent * w->dim[1].extent != taps || w->dim[2].extent != cin || w->dim[3].extent != blocks * B)
        return -2;
    const float *src = reinterpret_cast<const float *>(w->host);
    float *dst = reinterpret_cast<float *>(o->host);
    for (int block = 0; block < blocks; ++block)
        for (int c = 0; c < cin; ++c)
            for (int tap = 0; tap < taps; ++tap)
                for (int k = 0; k < B; ++k)
                    dst[((size_t(block) * cin + c) * taps + tap) * B + k] = src[(size_t(block * B + k) * cin + c) * taps + tap];
    return 0;
}
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

// ---------------------------------------------------------------- a trainable model
//
//   logits = fc.weight [K, TIN] @ x + fc.bias                  (training forward)
//   bn.running_mean/var <- 0.9 * old + 0.1 * batch mean/var of the logits (NEW_PARAM)
//   loss_i = cross-entropy(logits_i, label_i); dlogits = (softmax - onehot) / batch
//   grads of fc.weight, fc.bias (GRAD)
// Inference uses the folded parameters (derived: fc.weight / sqrt(var + eps), ...), so
// a step's new running statistics show up in infer through the derived parameters.
namespace trainmodel {

using testmodel::at;
using testmodel::is4d;

constexpr int TIN = 4, K = 3;
constexpr float kEps = 1e-5f;

inline std::atomic<uint32_t> g_last_seed{0};
inline std::atomic<int> g_train_calls{0};
// Set by a test: the backward kernel writes this value into W's first
// gradient (a finite loss with a non-finite gradient, as an overflow gives).
inline std::atomic<bool> g_poison_gradient{false};
inline float g_poison_value = 0.0f;

// The math, on plain arrays: x [n, TIN], W [K, TIN] row-major.
inline void forward(const float *x, const float *w, const float *b, int n, float *logits) {
    for (int i = 0; i < n; ++i)
        for (int o = 0; o < K; ++o) {
            float acc = b[o];
            for (int k = 0; k < TIN; ++k) acc += w[o * TIN + k] * x[i * TIN + k];
            logits[i * K + o] = acc;
        }
}
inline void stats(const float *logits, const float *mean, const float *var, int n, float *new_mean,
                  float *new_var) {
    for (int o = 0; o < K; ++o) {
        float mu = 0;
        for (int i = 0; i < n; ++i) mu += logits[i * K + o];
        mu /= float(n);
        float v = 0;
        for (int i = 0; i < n; ++i) v += (logits[i * K + o] - mu) * (logits[i * K + o] - mu);
        v /= float(n);
        new_mean[o] = 0.9f * mean[o] + 0.1f * mu;
        new_var[o] = 0.9f * var[o] + 0.1f * v;
    }
}
inline void loss_grad(const float *logits, const int32_t *labels, int n, float *loss, float *dl) {
    for (int i = 0; i < n; ++i) {
        float m = logits[i * K];
        for (int o = 1; o < K; ++o) m = std::max(m, logits[i * K + o]);
        float s = 0;
        for (int o = 0; o < K; ++o) s += std::exp(logits[i * K + o] - m);
        loss[i] = -(logits[i * K + labels[i]] - m - std::log(s));
        for (int o = 0; o < K; ++o)
            dl[i * K + o] = (std::exp(logits[i * K + o] - m) / s - (o == labels[i] ? 1.f : 0.f)) / float(n);
    }
}
inline void backward(const float *x, const float *dl, int n, float *gw, float *gb) {
    for (int o = 0; o < K; ++o) {
        gb[o] = 0;
        for (int i = 0; i < n; ++i) gb[o] += dl[i * K + o];
        for (int k = 0; k < TIN; ++k) {
            gw[o * TIN + k] = 0;
            for (int i = 0; i < n; ++i) gw[o * TIN + k] += dl[i * K + o] * x[i * TIN + k];
        }
    }
}

// Buffer <-> plain array helpers that check the runtime's buffer shapes.
inline bool get4(halide_buffer_t *b, int c, std::vector<float> &v) {
    if (!is4d(b, 1, 1, c)) return false;
    const int n = b->dim[3].extent;
    v.resize(size_t(n) * c);
    for (int i = 0; i < n; ++i)
        for (int o = 0; o < c; ++o) v[size_t(i) * c + o] = at(b, 0, 0, o, i);
    return true;
}
inline bool put4(halide_buffer_t *b, int c, const std::vector<float> &v) {
    if (!is4d(b, 1, 1, c)) return false;
    for (int i = 0; i < b->dim[3].extent; ++i)
        for (int o = 0; o < c; ++o) at(b, 0, 0, o, i) = v[size_t(i) * c + o];
    return true;
}
inline bool is_param(halide_buffer_t *b, int rows, int cols) {  // PyTorch [rows, cols] or [rows]
    if (b->type.code != halide_type_float || b->type.bits != 32) return false;
    if (cols == 0) return b->dimensions == 1 && b->dim[0].extent == rows && b->dim[0].stride == 1;
    return b->dimensions == 2 && b->dim[0].extent == cols && b->dim[0].stride == 1 &&
           b->dim[1].extent == rows && b->dim[1].stride == cols;
}
inline float *fp(halide_buffer_t *b) { return reinterpret_cast<float *>(b->host); }

// args: input, fc.weight, fc.bias, seed, logits
inline int k_train_fwd(void **args) {
    auto **b = reinterpret_cast<halide_buffer_t **>(args);
    std::vector<float> x, logits;
    if (!get4(b[0], TIN, x) || !is_param(b[1], K, TIN) || !is_param(b[2], K, 0)) return -2;
    g_last_seed = *static_cast<const uint32_t *>(args[3]);
    ++g_train_calls;
    const int n = b[0]->dim[3].extent;
    logits.resize(size_t(n) * K);
    forward(x.data(), fp(b[1]), fp(b[2]), n, logits.data());
    return put4(b[4], K, logits) && b[4]->dim[3].extent == n ? 0 : -3;
}
// args: logits, bn.running_mean, bn.running_var, new mean, new var
inline int k_train_stats(void **args) {
    auto **b = reinterpret_cast<halide_buffer_t **>(args);
    std::vector<float> logits;
    for (int i = 1; i < 5; ++i)
        if (!is_param(b[i], K, 0)) return -2;
    if (!get4(b[0], K, logits)) return -2;
    stats(logits.data(), fp(b[1]), fp(b[2]), b[0]->dim[3].extent, fp(b[3]), fp(b[4]));
    return 0;
}
// args: logits, labels, loss, dlogits
inline int k_train_loss(void **args) {
    auto **b = reinterpret_cast<halide_buffer_t **>(args);
    std::vector<float> logits;
    if (!get4(b[0], K, logits)) return -2;
    const int n = b[0]->dim[3].extent;
    halide_buffer_t *l = b[1];
    if (l->type.code != halide_type_int || l->type.bits != 32 || l->type.lanes != 1 ||
        l->dimensions != 1 || l->dim[0].min != 0 || l->dim[0].extent != n || l->dim[0].stride != 1)
        return -3;
    std::vector<float> loss(static_cast<size_t>(n)), dl(size_t(n) * K);
    loss_grad(logits.data(), reinterpret_cast<const int32_t *>(l->host), n, loss.data(), dl.data());
    return put4(b[2], 1, loss) && put4(b[3], K, dl) ? 0 : -4;
}
// args: input, dlogits, grad fc.weight, grad fc.bias (written whole: the runtime
// does not clear gradients, see cnnrt_train_step)
inline int k_train_bwd(void **args) {
    auto **b = reinterpret_cast<halide_buffer_t **>(args);
    std::vector<float> x, dl;
    if (!get4(b[0], TIN, x) || !get4(b[1], K, dl) || !is_param(b[2], K, TIN) || !is_param(b[3], K, 0))
        return -2;
    backward(x.data(), dl.data(), b[0]->dim[3].extent, fp(b[2]), fp(b[3]));
    if (g_poison_gradient) fp(b[2])[0] = g_poison_value;
    return 0;
}
// args: input, folded weight, folded bias, output
inline int k_infer(void **args) {
    auto **b = reinterpret_cast<halide_buffer_t **>(args);
    std::vector<float> x, y;
    if (!get4(b[0], TIN, x) || !is_param(b[1], K, TIN) || !is_param(b[2], K, 0)) return -2;
    const int n = b[0]->dim[3].extent;
    y.resize(size_t(n) * K);
    forward(x.data(), fp(b[1]), fp(b[2]), n, y.data());
    return put4(b[3], K, y) ? 0 : -3;
}

inline const cnnrt_param_desc kParams[] = {
    {"fc.weight", 2, {K, TIN, 0, 0}, CNNRT_INIT_UNIFORM_FAN_IN, TIN, NOT_DERIVED, 0},
    {"fc.bias", 1, {K, 0, 0, 0}, CNNRT_INIT_UNIFORM_FAN_IN, TIN, NOT_DERIVED, 0},
    {"bn.running_mean", 1, {K, 0, 0, 0}, CNNRT_INIT_ZEROS, 0, NOT_DERIVED, 1},
    {"bn.running_var", 1, {K, 0, 0, 0}, CNNRT_INIT_ONES, 0, NOT_DERIVED, 1},
    {"fc.weight.folded", 2, {K, TIN, 0, 0}, CNNRT_INIT_ZEROS, 0, 0, 0},
    {"fc.bias.folded", 1, {K, 0, 0, 0}, CNNRT_INIT_ZEROS, 0, 1, 0},
};

// The batchnorm (no gamma, no beta) folded: args weight, var, out and bias, mean, var, out.
inline int k_fold_weight_no_affine(void **args) {
    auto **b = reinterpret_cast<halide_buffer_t **>(args);
    if (!is_param(b[0], K, TIN) || !is_param(b[1], K, 0) || !is_param(b[2], K, TIN)) return -1;
    for (int k = 0; k < K; ++k)
        for (int i = 0; i < TIN; ++i)
            fp(b[2])[k * TIN + i] = float(double(fp(b[0])[k * TIN + i]) * (1.0 / std::sqrt(double(fp(b[1])[k]) + kEps)));
    return 0;
}
inline int k_fold_bias_no_affine(void **args) {
    auto **b = reinterpret_cast<halide_buffer_t **>(args);
    for (int i = 0; i < 4; ++i)
        if (!is_param(b[i], K, 0)) return -1;
    for (int k = 0; k < K; ++k)
        fp(b[3])[k] = float((double(fp(b[0])[k]) - fp(b[1])[k]) * (1.0 / std::sqrt(double(fp(b[2])[k]) + kEps)));
    return 0;
}

enum {
    T_INPUT, T_W, T_B, T_MEAN, T_VAR, T_WF, T_BF, T_OUTPUT, T_LOGITS, T_LOSS, T_DLOGITS,
    T_GW, T_GB, T_NEW_MEAN, T_NEW_VAR, T_LABELS, T_SEED, T_COUNT
};
constexpr int64_t kTrainArena = K + 1 + K;
inline const cnnrt_tensor_desc kTensors[T_COUNT] = {
    {CNNRT_STORAGE_INPUT, 0, 0, {0, 0, 0}, 0, 0},
    {CNNRT_STORAGE_PARAM, 0, 0, {0, 0, 0}, 0, 0},
    {CNNRT_STORAGE_PARAM, 1, 0, {0, 0, 0}, 0, 0},
    {CNNRT_STORAGE_PARAM, 2, 0, {0, 0, 0}, 0, 0},
    {CNNRT_STORAGE_PARAM, 3, 0, {0, 0, 0}, 0, 0},
    {CNNRT_STORAGE_PARAM, 4, 0, {0, 0, 0}, 0, 0},
    {CNNRT_STORAGE_PARAM, 5, 0, {0, 0, 0}, 0, 0},
    {CNNRT_STORAGE_OUTPUT, 0, 0, {0, 0, 0}, 0, 0},
    {CNNRT_STORAGE_TRAIN, 0, 0, {1, 1, K}, 0, 0},
    {CNNRT_STORAGE_TRAIN, 0, K, {1, 1, 1}, 0, 0},
    {CNNRT_STORAGE_TRAIN, 0, K + 1, {1, 1, K}, 0, 0},
    {CNNRT_STORAGE_GRAD, 0, 0, {0, 0, 0}, 0, 0},
    {CNNRT_STORAGE_GRAD, 1, 0, {0, 0, 0}, 0, 0},
    {CNNRT_STORAGE_NEW_PARAM, 2, 0, {0, 0, 0}, 0, 0},
    {CNNRT_STORAGE_NEW_PARAM, 3, 0, {0, 0, 0}, 0, 0},
    {CNNRT_STORAGE_LABELS, 0, 0, {0, 0, 0}, 0, 0},
    {CNNRT_STORAGE_SEED, 0, 0, {0, 0, 0}, 0, 0},
};

inline const int kInferArgs[] = {T_INPUT, T_WF, T_BF, T_OUTPUT};
inline const int kFwdArgs[] = {T_INPUT, T_W, T_B, T_SEED, T_LOGITS};
inline const int kStatsArgs[] = {T_LOGITS, T_MEAN, T_VAR, T_NEW_MEAN, T_NEW_VAR};
inline const int kLossArgs[] = {T_LOGITS, T_LABELS, T_LOSS, T_DLOGITS};
inline const int kBwdArgs[] = {T_INPUT, T_DLOGITS, T_GW, T_GB};
inline const cnnrt_kernel_desc kInferKernels[] = {{"infer", k_infer, 4, kInferArgs}};
inline const cnnrt_kernel_desc kTrainKernels[] = {
    {"fwd", k_train_fwd, 5, kFwdArgs},
    {"stats", k_train_stats, 5, kStatsArgs},
    {"loss", k_train_loss, 4, kLossArgs},
    {"bwd", k_train_bwd, 4, kBwdArgs},
};
inline const cnnrt_loss_term kLossTerms[] = {{T_LOSS, 1.0f}};
inline const int kFoldWeightArgs[] = {T_W, T_VAR, T_WF};
inline const int kFoldBiasArgs[] = {T_B, T_MEAN, T_VAR, T_BF};
inline const cnnrt_kernel_desc kPrepareKernels[] = {
    {"prepare fc.weight.folded", k_fold_weight_no_affine, 3, kFoldWeightArgs},
    {"prepare fc.bias.folded", k_fold_bias_no_affine, 4, kFoldBiasArgs},
};

inline cnnrt_model_desc make_desc() {
    cnnrt_model_desc d{};
    d.network = "trainnet";
    d.input_dims[0] = TIN, d.input_dims[1] = 1, d.input_dims[2] = 1;
    d.output_size = K;
    d.num_params = 6, d.params = kParams;
    d.num_tensors = T_COUNT, d.tensors = kTensors;
    d.num_kernels = 1, d.kernels = kInferKernels;
    d.num_prepare_kernels = 2, d.prepare_kernels = kPrepareKernels;
    d.result_tensor = T_OUTPUT;
    d.arena_floats_per_sample = 0;
    d.num_train_kernels = 4, d.train_kernels = kTrainKernels;
    d.train_arena_floats_per_sample = kTrainArena;
    d.num_loss_terms = 1, d.loss_terms = kLossTerms;
    d.num_classes = K;
    return d;
}
inline const cnnrt_model_desc kTrainDesc = make_desc();

}  // namespace trainmodel

#endif
