// cnnrt: derived parameters (a folded batchnorm, filters in the layout a
// schedule reads), computed by the library's prepare kernels when inference
// first needs them. The runtime only decides which to run and when.
#include <algorithm>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "runtime/Internal.h"

namespace cnnrt {

namespace {

// The prepare kernel of derived parameter i (validated).
const cnnrt_kernel_desc &prepare_kernel(const cnnrt_model_desc *d, size_t i) {
    return d->prepare_kernels[d->params[i].prepare];
}

// Calls f(j) for each source parameter j of derived parameter i.
template <typename F>
void for_each_source(const cnnrt_model_desc *d, size_t i, F f) {
    const cnnrt_kernel_desc &k = prepare_kernel(d, i);
    for (int a = 0; a + 1 < k.num_args; ++a) f(size_t(d->tensors[k.args[a]].index));
}

}  // namespace


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
    std::vector<bool> source(n, false);  // read by some prepare kernel
    for (size_t i = 0; i < n; ++i)
        if (is_derived(d->params[i])) for_each_source(d, i, [&](size_t j) { source[j] = true; });
    model->sources_only.assign(n, false);
    for (size_t i = 0; i < n; ++i)
        model->sources_only[i] = source[i] && !read_by_any[i] && is_derived(d->params[i]);
    // What a class computes: the derived parameters its kernels read, those no
    // kernel reads (nor prepares from), and the derived sources of those.
    model->needs.clear();
    for (size_t c = 0; c <= classes; ++c) {
        const std::vector<bool> read = c == classes ? read_by_any : reads(c == 0 ? 1 : model->batch_bounds[c - 1]);
        std::vector<bool> need(n, false);
        for (size_t i = n; i-- > 0;) {  // sources come before what is derived from them (validated)
            if (!is_derived(d->params[i])) continue;
            need[i] = need[i] || read[i] || (!read_by_any[i] && !source[i]);
            if (need[i]) for_each_source(d, i, [&](size_t j) { need[j] = need[j] || is_derived(d->params[j]); });
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
    // In order: a parameter's derived sources are listed, so computed, before it.
    Buffers io;
    io.weights = &weights;
    for (int i = 0; i < d->num_params; ++i)
        if (todo[size_t(i)]) run_kernels(model, &prepare_kernel(d, size_t(i)), 1, io);
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

int64_t param_numel(const cnnrt_param_desc &p) {
    int64_t n = 1;
    for (int k = 0; k < p.rank; ++k) n *= p.shape[k];
    return n;
}

}  // namespace cnnrt
