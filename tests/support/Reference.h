// Naive reference implementations of cnnc's ops (PyTorch semantics), written
// independently of cnnc: plain loops, double accumulation. Tensors are NCHW;
// a vector [N, K] is a map with H = W = 1.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cnnc_test::ref {

struct Arr {
    int n = 0, c = 0, h = 1, w = 1;
    std::vector<double> v;
    Arr() = default;
    Arr(int n_, int c_, int h_ = 1, int w_ = 1) : n(n_), c(c_), h(h_), w(w_), v(size_t(n_) * c_ * h_ * w_, 0.0) {}
    static Arr fromFloats(const std::vector<float> &data, int n, int c, int h = 1, int w = 1);
    size_t size() const { return v.size(); }
    size_t idx(int in, int ic, int iy, int ix) const { return ((size_t(in) * c + ic) * h + iy) * w + ix; }
    double &at(int in, int ic, int iy, int ix) { return v[idx(in, ic, iy, ix)]; }
    double at(int in, int ic, int iy, int ix) const { return v[idx(in, ic, iy, ix)]; }
    std::vector<float> toFloats() const;
};

struct Pair {
    int h, w;
    Pair(int both) : h(both), w(both) {}
    Pair(int h_, int w_) : h(h_), w(w_) {}
};

// weight [F, C/groups, kh, kw]; bias [F] or empty.
Arr conv2d(const Arr &x, const std::vector<float> &weight, const std::vector<float> &bias, int filters, Pair size,
           Pair stride = 1, Pair pad = 0, Pair dilation = 1, int groups = 1);
// x [N, K] (or any map, flattened); weight [units, K]; bias [units] or empty.
Arr linear(const Arr &x, const std::vector<float> &weight, const std::vector<float> &bias, int units);

Arr relu(const Arr &x);
Arr leakyRelu(const Arr &x, double slope);
Arr sigmoid(const Arr &x);
Arr tanh(const Arr &x);

// Output extent of a pooling window, PyTorch's rule (ceil mode included).
int poolOutput(int in, int k, int s, int p, bool ceil);
Arr maxpool(const Arr &x, Pair size, Pair stride, Pair pad = 0, bool ceil = false);
Arr avgpool(const Arr &x, Pair size, Pair stride, Pair pad = 0, bool ceil = false, bool countPad = true);
Arr adaptiveAvgpool(const Arr &x, Pair out);
// torch.nn.functional.pad(x, (left, right, top, bottom), value=value).
Arr pad(const Arr &x, int left, int right, int top, int bottom, double value = 0.0);
Arr flatten(const Arr &x);
Arr softmax(const Arr &x);  // over channels, at every (n, y, x)
Arr dropout(const Arr &x);  // identity at inference
Arr batchnorm(const Arr &x, const std::vector<float> &weight, const std::vector<float> &bias,
              const std::vector<float> &mean, const std::vector<float> &var, double eps);
Arr lrn(const Arr &x, int size, double alpha, double beta, double k);
Arr concat(const std::vector<Arr> &xs);
Arr add(const Arr &a, const Arr &b);

// Max |a - b| over all elements, and max |b|.
struct Diff {
    double maxAbsDiff = 0, maxRef = 0;
    size_t worst = 0;
    std::string sizeMismatch;
};
Diff compare(const std::vector<float> &actual, const Arr &expected);

}  // namespace cnnc_test::ref
