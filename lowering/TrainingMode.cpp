#include "lowering/TrainingMode.h"

using namespace Halide;

namespace cnnc {

static Expr mix(Expr h) {
    // murmur3's 32-bit finaliser
    h = h ^ (h >> 16);
    h = h * Internal::UIntImm::make(UInt(32), 0x85ebca6bu);
    h = h ^ (h >> 13);
    h = h * Internal::UIntImm::make(UInt(32), 0xc2b2ae35u);
    return h ^ (h >> 16);
}

Expr uniformHash(Expr seed, Expr x, Expr y, Expr c, Expr n) {
    Expr h = mix(cast<uint32_t>(seed) ^ Internal::UIntImm::make(UInt(32), 0x9e3779b9u));
    for (Expr coord : {x, y, c, n}) h = mix(h ^ cast<uint32_t>(coord) * Internal::UIntImm::make(UInt(32), 0x27d4eb2fu));
    return cast<float>(h >> 8) * (1.0f / 16777216.0f);
}

} // namespace cnnc
