// Tensor types: float32, NCHW, with a symbolic batch dimension N.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cnnc {

// The per-sample shape of a tensor: [C, H, W] for feature maps, [K] for vectors.
// The batch dimension is always present and always symbolic, printed as `N`.
struct TensorType {
    std::vector<int64_t> dims;

    int rank() const { return int(dims.size()); }
    bool isMap() const { return dims.size() == 3; }
    bool isVector() const { return dims.size() == 1; }
    int64_t channels() const { return dims.empty() ? 0 : dims[0]; }
    int64_t height() const { return isMap() ? dims[1] : 1; }
    int64_t width() const { return isMap() ? dims[2] : 1; }
    // Elements per sample. Shape rules guarantee this does not overflow.
    int64_t elementsPerSample() const;

    bool operator==(const TensorType &o) const { return dims == o.dims; }
    bool operator!=(const TensorType &o) const { return dims != o.dims; }

    // "f32[N,6,28,28]"
    std::string str() const;
    // "[6, 28, 28]" as a user writes it
    std::string shapeStr() const;
};

// Largest number of elements a tensor (per sample) or parameter may have;
// products above it are reported as errors instead of overflowing.
constexpr int64_t kMaxElements = int64_t(1) << 40;

// a * b, or -1 when the product exceeds kMaxElements (or an operand is negative).
int64_t checkedMul(int64_t a, int64_t b);

} // namespace cnnc
