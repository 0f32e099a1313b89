// Winograd F(m x m, 3x3) transform matrices (Lavin & Gray, 2015), defined
// once for the kernels' transforms and the filters' preparation
// (ops/ConvWinograd.cpp). A tile's
// m x m outputs are
//   Y = A^T [ (G g G^T) .* (B^T d B) ] A
// of its t x t input patch d (t = m + 2) and the 3x3 filter g.
//  - F(2x2, 3x3): 16 multiplies per 4 outputs, 2.25x fewer than direct.
//  - F(4x4, 3x3): 36 per 16 outputs, 4x fewer, at the price of larger
//    transforms and rounding error (points 0, +-1, +-2).
#pragma once

namespace cnnc_winograd {

struct Matrices {
    int m;           // outputs per tile side
    int t;           // transformed tile side, m + 2
    double BT[6][6]; // t x t: input patches
    double G[6][3];  // t x 3: filters
    double AT[4][6]; // m x t: outputs
};

inline constexpr Matrices kF2 = {
    2,
    4,
    {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}},
    {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}},
    {{1, 1, 1, 0}, {0, 1, -1, -1}},
};

inline constexpr Matrices kF4 = {
    4,
    6,
    {{4, 0, -5, 0, 1, 0},
     {0, -4, -4, 1, 1, 0},
     {0, 4, -4, -1, 1, 0},
     {0, -2, -1, 2, 1, 0},
     {0, 2, -1, -2, 1, 0},
     {0, 4, 0, -5, 0, 1}},
    {{1.0 / 4, 0, 0},
     {-1.0 / 6, -1.0 / 6, -1.0 / 6},
     {-1.0 / 6, 1.0 / 6, -1.0 / 6},
     {1.0 / 24, 1.0 / 12, 1.0 / 6},
     {1.0 / 24, -1.0 / 12, 1.0 / 6},
     {0, 0, 1}},
    {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}},
};

// The matrices of F(m x m, 3x3), or null for an m without them.
inline const Matrices *matricesFor(int m) { return m == 2 ? &kF2 : m == 4 ? &kF4 : nullptr; }
// The same, by transformed tile side t (a prepared filter's shape [t, t, ci, co]).
inline const Matrices *matricesForTile(int t) { return t == 4 ? &kF2 : t == 6 ? &kF4 : nullptr; }

} // namespace cnnc_winograd
