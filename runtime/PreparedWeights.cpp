// cnnrt: derived and prepared parameters, computed from the loaded ones
// (folded batchnorm, Winograd-transformed and blocked filters).
#include <HalideRuntime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "runtime/Internal.h"
#include "runtime/WinogradMatrices.h"

// Provided by Halide's standalone runtime, which is linked into every model .so. Weak so
// that the runtime also links (and works, minus Halide's messages) without it, e.g. in
// unit tests whose kernels are plain C++.
extern "C" {
#pragma weak halide_do_par_for
}

namespace cnnrt {

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
