#include "tests/support/Reference.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace cnnc_test::ref {

Arr Arr::fromFloats(const std::vector<float> &data, int n, int c, int h, int w) {
    Arr a(n, c, h, w);
    if (data.size() != a.size()) throw std::invalid_argument("Arr::fromFloats: size mismatch");
    for (size_t i = 0; i < data.size(); ++i) a.v[i] = data[i];
    return a;
}

std::vector<float> Arr::toFloats() const {
    std::vector<float> out(v.size());
    for (size_t i = 0; i < v.size(); ++i) out[i] = float(v[i]);
    return out;
}

static int convOutput(int in, int k, int s, int p, int d) { return (in + 2 * p - d * (k - 1) - 1) / s + 1; }

Arr conv2d(const Arr &x, const std::vector<float> &weight, const std::vector<float> &bias, int filters, Pair size,
           Pair stride, Pair pad, Pair dilation, int groups) {
    int cpg = x.c / groups, fpg = filters / groups;
    if (weight.size() != size_t(filters) * cpg * size.h * size.w) throw std::invalid_argument("conv2d: weight size");
    int oh = convOutput(x.h, size.h, stride.h, pad.h, dilation.h);
    int ow = convOutput(x.w, size.w, stride.w, pad.w, dilation.w);
    Arr y(x.n, filters, oh, ow);
    for (int n = 0; n < x.n; ++n)
        for (int f = 0; f < filters; ++f) {
            int g = f / fpg;
            for (int oy = 0; oy < oh; ++oy)
                for (int ox = 0; ox < ow; ++ox) {
                    double acc = bias.empty() ? 0.0 : double(bias[size_t(f)]);
                    for (int ci = 0; ci < cpg; ++ci)
                        for (int ky = 0; ky < size.h; ++ky)
                            for (int kx = 0; kx < size.w; ++kx) {
                                int iy = oy * stride.h - pad.h + ky * dilation.h;
                                int ix = ox * stride.w - pad.w + kx * dilation.w;
                                if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
                                double wv = weight[((size_t(f) * cpg + ci) * size.h + ky) * size.w + kx];
                                acc += wv * x.at(n, g * cpg + ci, iy, ix);
                            }
                    y.at(n, f, oy, ox) = acc;
                }
        }
    return y;
}

Arr linear(const Arr &x, const std::vector<float> &weight, const std::vector<float> &bias, int units) {
    int k = x.c * x.h * x.w;
    if (weight.size() != size_t(units) * k) throw std::invalid_argument("linear: weight size");
    Arr y(x.n, units);
    for (int n = 0; n < x.n; ++n)
        for (int u = 0; u < units; ++u) {
            double acc = bias.empty() ? 0.0 : double(bias[size_t(u)]);
            for (int i = 0; i < k; ++i) acc += double(weight[size_t(u) * k + i]) * x.v[size_t(n) * k + i];
            y.at(n, u, 0, 0) = acc;
        }
    return y;
}

template <class F>
static Arr map(const Arr &x, F f) {
    Arr y = x;
    for (double &e : y.v) e = f(e);
    return y;
}

Arr relu(const Arr &x) { return map(x, [](double e) { return e > 0 ? e : 0.0; }); }
Arr leakyRelu(const Arr &x, double slope) { return map(x, [=](double e) { return e > 0 ? e : slope * e; }); }
Arr sigmoid(const Arr &x) { return map(x, [](double e) { return 1.0 / (1.0 + std::exp(-e)); }); }
Arr tanh(const Arr &x) { return map(x, [](double e) { return std::tanh(e); }); }
Arr dropout(const Arr &x) { return x; }

int poolOutput(int in, int k, int s, int p, bool ceil) {
    int num = in + 2 * p - k;
    int out = (ceil ? (num + s - 1) / s : num / s) + 1;
    // PyTorch: the last window must start inside the input or its left padding.
    if (ceil && (out - 1) * s >= in + p) --out;
    return out;
}

Arr maxpool(const Arr &x, Pair size, Pair stride, Pair pad, bool ceil) {
    int oh = poolOutput(x.h, size.h, stride.h, pad.h, ceil), ow = poolOutput(x.w, size.w, stride.w, pad.w, ceil);
    Arr y(x.n, x.c, oh, ow);
    for (int n = 0; n < x.n; ++n)
        for (int c = 0; c < x.c; ++c)
            for (int oy = 0; oy < oh; ++oy)
                for (int ox = 0; ox < ow; ++ox) {
                    double m = -std::numeric_limits<double>::infinity();
                    for (int ky = 0; ky < size.h; ++ky)
                        for (int kx = 0; kx < size.w; ++kx) {
                            int iy = oy * stride.h - pad.h + ky, ix = ox * stride.w - pad.w + kx;
                            if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;  // -inf padding
                            m = std::max(m, x.at(n, c, iy, ix));
                        }
                    y.at(n, c, oy, ox) = m;
                }
    return y;
}

Arr pad(const Arr &x, int left, int right, int top, int bottom, double value) {
    Arr y(x.n, x.c, x.h + top + bottom, x.w + left + right);
    for (int n = 0; n < y.n; ++n)
        for (int c = 0; c < y.c; ++c)
            for (int oy = 0; oy < y.h; ++oy)
                for (int ox = 0; ox < y.w; ++ox) {
                    int iy = oy - top, ix = ox - left;
                    bool inside = iy >= 0 && iy < x.h && ix >= 0 && ix < x.w;
                    y.at(n, c, oy, ox) = inside ? x.at(n, c, iy, ix) : value;
                }
    return y;
}

Arr avgpool(const Arr &x, Pair size, Pair stride, Pair pad, bool ceil, bool countPad) {
    int oh = poolOutput(x.h, size.h, stride.h, pad.h, ceil), ow = poolOutput(x.w, size.w, stride.w, pad.w, ceil);
    Arr y(x.n, x.c, oh, ow);
    for (int n = 0; n < x.n; ++n)
        for (int c = 0; c < x.c; ++c)
            for (int oy = 0; oy < oh; ++oy)
                for (int ox = 0; ox < ow; ++ox) {
                    int y0 = oy * stride.h - pad.h, x0 = ox * stride.w - pad.w;
                    int y1 = y0 + size.h, x1 = x0 + size.w;
                    double s = 0;
                    for (int iy = std::max(y0, 0); iy < std::min(y1, x.h); ++iy)
                        for (int ix = std::max(x0, 0); ix < std::min(x1, x.w); ++ix) s += x.at(n, c, iy, ix);
                    int divisor;
                    if (countPad) {
                        // The window clipped to the padded input [-pad, in + pad).
                        divisor = (std::min(y1, x.h + pad.h) - y0) * (std::min(x1, x.w + pad.w) - x0);
                    } else {
                        divisor = (std::min(y1, x.h) - std::max(y0, 0)) * (std::min(x1, x.w) - std::max(x0, 0));
                    }
                    y.at(n, c, oy, ox) = s / divisor;
                }
    return y;
}

Arr adaptiveAvgpool(const Arr &x, Pair out) {
    Arr y(x.n, x.c, out.h, out.w);
    for (int n = 0; n < x.n; ++n)
        for (int c = 0; c < x.c; ++c)
            for (int oy = 0; oy < out.h; ++oy)
                for (int ox = 0; ox < out.w; ++ox) {
                    int y0 = int(std::floor(double(oy) * x.h / out.h));
                    int y1 = int(std::ceil(double(oy + 1) * x.h / out.h));
                    int x0 = int(std::floor(double(ox) * x.w / out.w));
                    int x1 = int(std::ceil(double(ox + 1) * x.w / out.w));
                    double s = 0;
                    for (int iy = y0; iy < y1; ++iy)
                        for (int ix = x0; ix < x1; ++ix) s += x.at(n, c, iy, ix);
                    y.at(n, c, oy, ox) = s / ((y1 - y0) * (x1 - x0));
                }
    return y;
}

Arr flatten(const Arr &x) {
    Arr y(x.n, x.c * x.h * x.w);
    y.v = x.v;
    return y;
}

Arr softmax(const Arr &x) {
    Arr y = x;
    for (int n = 0; n < x.n; ++n)
        for (int iy = 0; iy < x.h; ++iy)
            for (int ix = 0; ix < x.w; ++ix) {
                double m = -std::numeric_limits<double>::infinity(), s = 0;
                for (int c = 0; c < x.c; ++c) m = std::max(m, x.at(n, c, iy, ix));
                for (int c = 0; c < x.c; ++c) s += std::exp(x.at(n, c, iy, ix) - m);
                for (int c = 0; c < x.c; ++c) y.at(n, c, iy, ix) = std::exp(x.at(n, c, iy, ix) - m) / s;
            }
    return y;
}

Arr batchnorm(const Arr &x, const std::vector<float> &weight, const std::vector<float> &bias,
              const std::vector<float> &mean, const std::vector<float> &var, double eps) {
    Arr y = x;
    for (int n = 0; n < x.n; ++n)
        for (int c = 0; c < x.c; ++c)
            for (int iy = 0; iy < x.h; ++iy)
                for (int ix = 0; ix < x.w; ++ix)
                    y.at(n, c, iy, ix) = (x.at(n, c, iy, ix) - mean[size_t(c)]) / std::sqrt(double(var[size_t(c)]) + eps) *
                                             weight[size_t(c)] +
                                         bias[size_t(c)];
    return y;
}

Arr lrn(const Arr &x, int size, double alpha, double beta, double k) {
    Arr y = x;
    for (int n = 0; n < x.n; ++n)
        for (int c = 0; c < x.c; ++c)
            for (int iy = 0; iy < x.h; ++iy)
                for (int ix = 0; ix < x.w; ++ix) {
                    double s = 0;
                    for (int cc = c - size / 2; cc <= c + (size - 1) / 2; ++cc)
                        if (cc >= 0 && cc < x.c) s += x.at(n, cc, iy, ix) * x.at(n, cc, iy, ix);
                    y.at(n, c, iy, ix) = x.at(n, c, iy, ix) / std::pow(k + alpha / size * s, beta);
                }
    return y;
}

Arr concat(const std::vector<Arr> &xs) {
    int channels = 0;
    for (const Arr &a : xs) channels += a.c;
    const Arr &f = xs.at(0);
    Arr y(f.n, channels, f.h, f.w);
    for (int n = 0; n < f.n; ++n) {
        int base = 0;
        for (const Arr &a : xs) {
            if (a.n != f.n || a.h != f.h || a.w != f.w) throw std::invalid_argument("concat: shape mismatch");
            for (int c = 0; c < a.c; ++c)
                for (int iy = 0; iy < a.h; ++iy)
                    for (int ix = 0; ix < a.w; ++ix) y.at(n, base + c, iy, ix) = a.at(n, c, iy, ix);
            base += a.c;
        }
    }
    return y;
}

Arr add(const Arr &a, const Arr &b) {
    if (a.size() != b.size()) throw std::invalid_argument("add: shape mismatch");
    Arr y = a;
    for (size_t i = 0; i < y.v.size(); ++i) y.v[i] += b.v[i];
    return y;
}

Diff compare(const std::vector<float> &actual, const Arr &expected) {
    Diff d;
    if (actual.size() != expected.size()) {
        d.sizeMismatch = "size " + std::to_string(actual.size()) + " != expected " + std::to_string(expected.size());
        d.maxAbsDiff = std::numeric_limits<double>::infinity();
        return d;
    }
    for (size_t i = 0; i < actual.size(); ++i) {
        double diff = std::fabs(double(actual[i]) - expected.v[i]);
        if (std::isnan(actual[i])) diff = std::numeric_limits<double>::infinity();
        if (diff > d.maxAbsDiff) d.maxAbsDiff = diff, d.worst = i;
        d.maxRef = std::max(d.maxRef, std::fabs(expected.v[i]));
    }
    return d;
}

}  // namespace cnnc_test::ref
