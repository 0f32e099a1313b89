// cnnrt: optimisers (torch.optim semantics) and their configuration.
//
// The update formulas follow torch 1.13's single-tensor implementations
// (torch/optim/sgd.py _single_tensor_sgd, adam.py _single_tensor_adam, non-amsgrad,
// not maximize): element-wise float32 arithmetic, with the scalar factors (Adam's
// bias corrections and step size) computed in double from the float32
// hyper-parameters and rounded to float32 where torch applies them to a tensor.
// torch skips parameters whose .grad is None; likewise, a parameter that no GRAD
// tensor refers to is not updated and has no optimiser state.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "runtime/Internal.h"
#include "runtime/Runtime.h"

namespace cnnrt {

void require_training(const cnnrt_model_desc *d) {
    if (d->num_train_kernels == 0)
        throw Error("model '" + std::string(d->network ? d->network : "?") +
                    "' was compiled without --train: it cannot be trained");
}

std::vector<bool> params_with_grad(const cnnrt_model_desc *d) {
    std::vector<bool> out(size_t(d->num_params), false);
    for (int i = 0; i < d->num_tensors; ++i)
        if (d->tensors[i].storage == CNNRT_STORAGE_GRAD) out[size_t(d->tensors[i].index)] = true;
    return out;
}

namespace {

#if defined(__SSE2__)
bool streamable(const float *p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// SGD over [j, end) four elements at a time, the arithmetic of the scalar loop
// in apply_optimizer (no fused multiply-adds, the same rounding); returns where
// the scalar loop takes over. The new weights and momenta are written with
// streaming stores: nothing reads them before the next step, and a normal
// store would first read each line from memory. A step of ResNet-18 reads
// and writes 235 MB.
size_t sgd_streamed(const float *p, const float *g0, const float *m0, float *q, float *m, size_t j,
                    size_t end, float wd, float mom, float neg_lr, bool first, float &probe) {
    const __m128 wd4 = _mm_set1_ps(wd), mom4 = _mm_set1_ps(mom), neg_lr4 = _mm_set1_ps(neg_lr);
    __m128 probe4 = _mm_setzero_ps();
    for (; j + 4 <= end; j += 4) {
        const __m128 pj = _mm_loadu_ps(p + j);
        __m128 g = _mm_loadu_ps(g0 + j);
        probe4 = _mm_add_ps(probe4, _mm_mul_ps(g, _mm_setzero_ps()));
        if (wd != 0.0f) g = _mm_add_ps(g, _mm_mul_ps(wd4, pj));
        if (mom != 0.0f) {
            if (!first) g = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(m0 + j), mom4), g);
            _mm_stream_ps(m + j, g);
        }
        _mm_stream_ps(q + j, _mm_add_ps(pj, _mm_mul_ps(neg_lr4, g)));
    }
    _mm_sfence();  // the streamed stores before the step's commit
    alignas(16) float lanes[4];
    _mm_store_ps(lanes, probe4);
    probe += lanes[0] + lanes[1] + lanes[2] + lanes[3];
    return j;
}
#else
bool streamable(const float *) { return false; }
size_t sgd_streamed(const float *, const float *, const float *, float *, float *, size_t j, size_t,
                    float, float, float, bool, float &) {
    return j;
}
#endif

}  // namespace

void apply_optimizer(const cnnrt_model_desc *d, const cnnrt_optimizer &opt, cnnrt_optimizer &next,
                     const cnnrt_model::Weights &w, cnnrt_model::Weights &out,
                     const std::vector<std::vector<float>> &grads) {
    const std::vector<bool> has_grad = params_with_grad(d);
    const bool first = opt.step == 0;  // torch creates the state lazily on the first step
    const bool sgd = opt.kind == cnnrt_optimizer::SGD;
    const bool with_state = !sgd || opt.momentum != 0.0f;
    copy_settings(opt, next);
    next.step = opt.step + 1;
    next.buf1.resize(size_t(d->num_params));
    next.buf2.resize(size_t(d->num_params));
    out.resize(size_t(d->num_params));

    const float lr = opt.lr, wd = opt.weight_decay;
    // Adam's scalars, as torch computes them (Python floats, i.e. double).
    const double bc1 = 1.0 - std::pow(double(opt.beta1), double(next.step));
    const double bc2 = 1.0 - std::pow(double(opt.beta2), double(next.step));
    const float neg_step_size = float(-(double(lr) / bc1));
    const float bc2_sqrt = float(std::sqrt(bc2));
    const float b1 = opt.beta1, b2 = opt.beta2, eps = opt.eps;
    const float one_minus_b1 = float(1.0 - double(b1)), one_minus_b2 = float(1.0 - double(b2));
    const float mom = opt.momentum, neg_lr = -lr;

    // A parameter's old state: none before the first step.
    static const std::vector<float> none;
    auto state = [](const std::vector<std::vector<float>> &bufs, int i) -> const std::vector<float> & {
        return size_t(i) < bufs.size() ? bufs[size_t(i)] : none;
    };
    // Sizes and copies first (serial), then the element-wise updates as jobs
    // of up to 256K elements on every core: a step streams each parameter,
    // its gradient and state, and is bound by memory bandwidth.
    struct Job {
        int param;
        size_t begin, end;
    };
    std::vector<Job> jobs;
    for (int i = 0; i < d->num_params; ++i) {
        const std::vector<float> &p = w[size_t(i)];
        std::vector<float> &q = out[size_t(i)];
        std::vector<float> &m = next.buf1[size_t(i)], &v = next.buf2[size_t(i)];
        if (is_derived(d->params[i])) {
            // Left empty: the first infer call with the new set sizes and
            // computes them (prepare_weights), and one with the old set may
            // be releasing the old set's meanwhile, so it is not read here.
            q.clear(), m.clear(), v.clear();
            continue;
        }
        const size_t n = p.size();
        q.resize(n);
        if (!has_grad[size_t(i)] || !is_trainable(d->params[i])) {
            m.clear(), v.clear();
            std::copy(p.begin(), p.end(), q.begin());
            continue;
        }
        const std::vector<float> &m0 = state(opt.buf1, i), &v0 = state(opt.buf2, i);
        if (grads[size_t(i)].size() != n || (!first && with_state && m0.size() != n) ||
            (!first && !sgd && v0.size() != n))
            throw Error("internal error: optimiser state does not match parameter #" + std::to_string(i));
        if (with_state) m.resize(n); else m.clear();
        if (!sgd) v.resize(n); else v.clear();
        const size_t chunk = size_t(1) << 18;
        for (size_t b = 0; b < n; b += chunk) jobs.push_back({i, b, std::min(n, b + chunk)});
    }

    // Each job's sum of g * 0: 0 where every gradient is finite, NaN where
    // one is not (inf * 0 and NaN * 0 are NaN), at one multiply-add per
    // element of a loop bound by memory.
    std::vector<float> probes(jobs.size(), 0.0f);
    auto run = [&](const Job &job, float &probe) {
        const size_t i = size_t(job.param);
        const float *p = w[i].data(), *g0 = grads[i].data();
        const float *m0 = state(opt.buf1, job.param).data(), *v0 = state(opt.buf2, job.param).data();
        float *q = out[i].data(), *m = next.buf1[i].data(), *v = next.buf2[i].data();
        if (sgd) {
            size_t j = job.begin;
            if (streamable(q + j) && (!with_state || streamable(m + j)))
                j = sgd_streamed(p, g0, m0, q, m, j, job.end, wd, mom, neg_lr, first, probe);
            for (; j < job.end; ++j) {
                float g = g0[j];
                probe += g * 0.0f;
                if (wd != 0.0f) g = g + wd * p[j];            // d_p.add(param, alpha=wd)
                if (mom != 0.0f) {
                    m[j] = first ? g : m0[j] * mom + g;        // clone / mul_(mom).add_(d_p)
                    g = m[j];
                }
                q[j] = p[j] + neg_lr * g;                      // param.add_(d_p, alpha=-lr)
            }
        } else {
            for (size_t j = job.begin; j < job.end; ++j) {
                float g = g0[j];
                probe += g * 0.0f;
                if (wd != 0.0f) g = g + wd * p[j];
                const float m_old = first ? 0.0f : m0[j], v_old = first ? 0.0f : v0[j];
                m[j] = m_old * b1 + one_minus_b1 * g;           // mul_(b1).add_(g, alpha=1-b1)
                v[j] = v_old * b2 + one_minus_b2 * g * g;       // mul_(b2).addcmul_(g, g, 1-b2)
                const float denom = std::sqrt(v[j]) / bc2_sqrt + eps;
                q[j] = p[j] + neg_step_size * (m[j] / denom);  // addcdiv_(m, denom, -step_size)
            }
        }
    };
    parallel_for(int(jobs.size()), [&](int k) { run(jobs[size_t(k)], probes[size_t(k)]); });
    // A non-finite gradient with a finite loss (an overflow in the backward):
    // the step is refused, as torch's clip_grad_norm_(error_if_nonfinite=True)
    // and AMP's skipped steps do; `out` and `next` are the spares, unused.
    for (size_t k = 0; k < jobs.size(); ++k)
        if (probes[k] != 0.0f)
            throw Error(std::string("the gradient of ") + d->params[jobs[k].param].name +
                        " is not finite; the weights are unchanged");
}

namespace {

void check_hparam(bool ok, const char *what, float value) {
    if (!ok) throw Error(std::string(what) + ", got " + std::to_string(value));
}

}  // namespace

void validate_optimizer(const cnnrt_optimizer &o) {
    if (o.kind == cnnrt_optimizer::SGD) {
        check_hparam(std::isfinite(o.lr) && o.lr >= 0, "SGD lr must be finite and >= 0", o.lr);
        check_hparam(std::isfinite(o.momentum) && o.momentum >= 0,
                     "SGD momentum must be finite and >= 0", o.momentum);
        check_hparam(std::isfinite(o.weight_decay) && o.weight_decay >= 0,
                     "SGD weight_decay must be finite and >= 0", o.weight_decay);
    } else if (o.kind == cnnrt_optimizer::ADAM) {
        check_hparam(std::isfinite(o.lr) && o.lr >= 0, "Adam lr must be finite and >= 0", o.lr);
        check_hparam(o.beta1 >= 0 && o.beta1 < 1, "Adam beta1 must be in [0, 1)", o.beta1);
        check_hparam(o.beta2 >= 0 && o.beta2 < 1, "Adam beta2 must be in [0, 1)", o.beta2);
        check_hparam(std::isfinite(o.eps) && o.eps > 0, "Adam eps must be finite and > 0", o.eps);
        check_hparam(std::isfinite(o.weight_decay) && o.weight_decay >= 0,
                     "Adam weight_decay must be finite and >= 0", o.weight_decay);
    } else {
        throw Error("unknown optimiser kind " + std::to_string(o.kind));
    }
}

namespace {

// set_sgd and set_adam: checks the call, then installs a fresh optimiser (no
// state, step 0).
void install_optimizer(cnnrt_model *model, const cnnrt_optimizer &opt) {
    if (!model) throw Error("model is NULL");
    require_training(model->desc);
    validate_optimizer(opt);
    std::lock_guard<std::mutex> lock(model->train_mutex);
    model->optimizer = opt;
}

}  // namespace
}  // namespace cnnrt

using namespace cnnrt;

extern "C" {

int cnnrt_set_sgd(cnnrt_model *model, float lr, float momentum, float weight_decay) {
    return guarded([&] {
        cnnrt_optimizer opt;
        opt.kind = cnnrt_optimizer::SGD;
        opt.lr = lr;
        opt.momentum = momentum;
        opt.weight_decay = weight_decay;
        install_optimizer(model, opt);
    });
}

int cnnrt_set_adam(cnnrt_model *model, float lr, float beta1, float beta2, float eps,
                   float weight_decay) {
    return guarded([&] {
        cnnrt_optimizer opt;
        opt.kind = cnnrt_optimizer::ADAM;
        opt.lr = lr;
        opt.beta1 = beta1;
        opt.beta2 = beta2;
        opt.eps = eps;
        opt.weight_decay = weight_decay;
        install_optimizer(model, opt);
    });
}

int cnnrt_set_lr(cnnrt_model *model, float lr) {
    return guarded([&] {
        if (!model) throw Error("model is NULL");
        require_training(model->desc);
        std::lock_guard<std::mutex> lock(model->train_mutex);
        cnnrt_optimizer opt = model->optimizer;
        opt.lr = lr;
        validate_optimizer(opt);
        model->optimizer.lr = lr;  // state (moments, step count) is kept, as torch's lr schedulers do
    });
}

}  // extern "C"
