// The prepare kernels (codegen/Preparations.h) built from the ops'
// Derivations, run in-process against the formulas they implement:
// Winograd's G g G^T in double, filters in blocks of B, a batchnorm folded
// into a weight and a bias. Each kernel is built for one shape and run on
// another with the same key: one compiled kernel serves every parameter.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "codegen/Preparations.h"
#include "lowering/Derivation.h"
#include "ops/Conv.h"
#include "ops/OpHelpers.h"
#include "ops/WinogradMatrices.h"

using namespace cnnc;

namespace {

struct Tensor {
    std::vector<int64_t> shape; // PyTorch layout
    std::vector<float> v;
};

int64_t numel(const std::vector<int64_t> &shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

Tensor randomTensor(std::vector<int64_t> shape, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
    std::mt19937 gen(seed);
    std::uniform_real_distribution<float> dist(lo, hi);
    Tensor t{std::move(shape), {}};
    t.v.resize(size_t(numel(t.shape)));
    for (float &x : t.v) x = dist(gen);
    return t;
}

// The tensor as the runtime hands it to kernels: PyTorch dims reversed.
Halide::Buffer<float> buffer(Tensor &t) {
    std::vector<int> sizes(t.shape.rbegin(), t.shape.rend());
    return Halide::Buffer<float>(t.v.data(), sizes);
}

// Builds the prepare kernel of `built` (a derived parameter's declaration)
// and runs it JIT on `sources` (null: absent) into a result of `shape`.
std::vector<float> prepare(const ParamDecl &built, std::vector<int64_t> shape, const std::vector<Tensor *> &sources) {
    std::vector<ParamDecl> decls(sources.size());
    std::vector<const ParamDecl *> present;
    for (size_t i = 0; i < sources.size(); ++i) {
        if (sources[i]) decls[i].shape = sources[i]->shape;
        present.push_back(sources[i] ? &decls[i] : nullptr);
    }
    BuiltKernel kernel = buildPreparation(built, present);
    size_t arg = 0;
    for (Tensor *s : sources)
        if (s) kernel.inputs.at(arg++).set(buffer(*s));
    EXPECT_EQ(arg, kernel.inputs.size());
    Tensor out{std::move(shape), {}};
    out.v.assign(size_t(numel(out.shape)), std::nanf(""));
    Halide::Buffer<float> result = buffer(out);
    kernel.pipeline.realize(result);
    return out.v;
}

ParamDecl derived(std::vector<int64_t> shape, const Derivation &how) {
    ParamDecl d{"prepared", std::move(shape), ParamInit::Zeros, 1};
    d.derivation = &how;
    return d;
}

// U[nu][xi][ci][co] = sum over ky, kx of G[nu][ky] g[co][ci][ky][kx] G[xi][kx].
double transformed(const Tensor &w, const cnnc_winograd::Matrices &f, int64_t co, int64_t ci, int nu, int xi) {
    const int64_t cin = w.shape[1];
    double u = 0;
    for (int ky = 0; ky < 3; ++ky)
        for (int kx = 0; kx < 3; ++kx) u += f.G[nu][ky] * f.G[xi][kx] * w.v[size_t(((co * cin + ci) * 3 + ky) * 3 + kx)];
    return u;
}

TEST(Preparation, WinogradFiltersAreGgGtInBothLayouts) {
    for (int t : {4, 6}) {
        SCOPED_TRACE("t " + std::to_string(t));
        const cnnc_winograd::Matrices &f = *cnnc_winograd::matricesForTile(t);
        const int64_t co = 16, ci = 3, B = 8;
        Tensor w = randomTensor({co, ci, 3, 3}, uint32_t(t));
        // Built for 5 filters of 2 channels, run on 16 of 3.
        std::vector<float> u = prepare(derived({t, t, 2, 5}, ops::kWinogradFilters), {t, t, ci, co}, {&w});
        for (int nu = 0; nu < t; ++nu)
            for (int xi = 0; xi < t; ++xi)
                for (int64_t c = 0; c < ci; ++c)
                    for (int64_t o = 0; o < co; ++o)
                        ASSERT_NEAR(u[size_t(((nu * t + xi) * ci + c) * co + o)], transformed(w, f, o, c, nu, xi), 2e-6)
                            << "nu " << nu << " xi " << xi << " ci " << c << " co " << o;
        // In blocks of B filters: [t * t, co / B, ci, B], the same values.
        std::vector<float> ub =
            prepare(derived({t * t, 1, 5, B}, ops::kWinogradBlockedFilters), {t * t, co / B, ci, B}, {&w});
        for (int pos = 0; pos < t * t; ++pos)
            for (int64_t c = 0; c < ci; ++c)
                for (int64_t o = 0; o < co; ++o)
                    ASSERT_EQ(ub[size_t(((pos * (co / B) + o / B) * ci + c) * B + o % B)], u[size_t((pos * ci + c) * co + o)])
                        << "pos " << pos << " ci " << c << " co " << o;
    }
}

TEST(Preparation, BlockedFiltersRegroupTheWeight) {
    const int64_t co = 6, ci = 3, kh = 2, kw = 3, B = 3;
    Tensor w = randomTensor({co, ci, kh, kw}, 7);
    // Built for a 1x1 conv of 9 filters, run on 2x3 filters.
    std::vector<float> out = prepare(derived({3, 4, 1, B}, ops::kBlockedFilters), {co / B, ci, kh * kw, B}, {&w});
    for (int64_t o = 0; o < co; ++o)
        for (int64_t c = 0; c < ci; ++c)
            for (int64_t tap = 0; tap < kh * kw; ++tap)
                ASSERT_EQ(out[size_t(((o / B * ci + c) * kh * kw + tap) * B + o % B)], w.v[size_t((o * ci + c) * kh * kw + tap)])
                    << "co " << o << " ci " << c << " tap " << tap;
}

TEST(Preparation, FoldedBatchNormWithAndWithoutAffineAndBias) {
    const int64_t co = 5;
    Tensor w = randomTensor({co, 2, 1, 3}, 1), bias = randomTensor({co}, 2), gamma = randomTensor({co}, 3),
           beta = randomTensor({co}, 4), mean = randomTensor({co}, 5), var = randomTensor({co}, 6, 0.1f, 4.0f);
    ParamDecl weightDecl = derived({3, 1, 1, 1}, ops::kFoldBatchNormWeight), biasDecl = derived({3}, ops::kFoldBatchNormBias);
    weightDecl.eps = biasDecl.eps = 1e-3;
    for (bool affine : {true, false})
        for (bool hasBias : {true, false}) {
            SCOPED_TRACE(std::string(affine ? "affine" : "no gamma/beta") + (hasBias ? ", bias" : ", no bias"));
            Tensor *g = affine ? &gamma : nullptr, *b = affine ? &beta : nullptr, *cb = hasBias ? &bias : nullptr;
            std::vector<float> wf = prepare(weightDecl, w.shape, {&w, cb, g, b, &mean, &var});
            std::vector<float> bf = prepare(biasDecl, {co}, {nullptr, cb, g, b, &mean, &var});
            const size_t per = w.v.size() / size_t(co);
            for (size_t c = 0; c < size_t(co); ++c) {
                const double scale = (affine ? double(gamma.v[c]) : 1.0) / std::sqrt(double(var.v[c]) + double(1e-3f));
                for (size_t k = 0; k < per; ++k)
                    ASSERT_FLOAT_EQ(wf[c * per + k], float(w.v[c * per + k] * scale)) << c << ", " << k;
                const double want = ((hasBias ? bias.v[c] : 0.0) - mean.v[c]) * scale + (affine ? beta.v[c] : 0.0);
                ASSERT_FLOAT_EQ(bf[c], float(want)) << c;
            }
        }
}

} // namespace
