// cnnrt: the deterministic initial weights of a new model (PyTorch's default
// initialisation, seeded by the parameter's index), and training steps' dropout seeds.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "runtime/Internal.h"

namespace cnnrt {

namespace {

uint64_t splitmix64(uint64_t &state) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

}  // namespace

// The dropout seed of training step `step`: a hash of a fixed constant and the step, so
// runs are reproducible and a resumed run continues the same sequence.
uint32_t step_seed(uint64_t step) {
    uint64_t state = 0x636e6e72745f7365ULL ^ (step * 0xD1B54A32D192ED03ULL);
    return uint32_t(splitmix64(state) >> 32);
}

void init_param(const cnnrt_param_desc &p, int index, std::vector<float> &v) {
    switch (p.init) {
    case CNNRT_INIT_ONES:
        std::fill(v.begin(), v.end(), 1.0f);
        return;
    case CNNRT_INIT_ZEROS:
        std::fill(v.begin(), v.end(), 0.0f);
        return;
    default: {
        // Seeded by a constant and the parameter index only: independent of the order
        // in which parameters are initialised, and of everything else in the model.
        uint64_t state = 0x636e6e72745f7631ULL ^ (uint64_t(index) + 1) * 0xD1B54A32D192ED03ULL;
        const double bound = 1.0 / std::sqrt(double(p.fan_in));
        for (float &x : v) {
            double u = double(splitmix64(state) >> 11) * 0x1.0p-53;  // [0, 1)
            x = float((2.0 * u - 1.0) * bound);
        }
    }
    }
}

}  // namespace cnnrt
