#include "ir/TensorType.h"

namespace cnnc {

int64_t checkedMul(int64_t a, int64_t b) {
    if (a < 0 || b < 0) return -1;
    if (a != 0 && b > kMaxElements / a) return -1;
    return a * b;
}

int64_t TensorType::elementsPerSample() const {
    int64_t n = 1;
    for (int64_t d : dims) n = checkedMul(n, d);
    return n;
}

std::string TensorType::str() const {
    std::string s = "f32[N";
    for (int64_t d : dims) s += "," + std::to_string(d);
    return s + "]";
}

std::string TensorType::shapeStr() const {
    std::string s = "[";
    for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
    return s + "]";
}

} // namespace cnnc
