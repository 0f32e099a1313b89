#include <algorithm>

#include "lowering/LowerCtx.h"

using namespace Halide;

namespace cnnc {

Func padSpatial(const Func &in, const TensorType &type, Expr value, const std::string &name) {
    Var x("x"), y("y"), c("c"), n("n");
    Expr W = int(type.width()), H = int(type.height());
    Expr inside = x >= 0 && x < W && y >= 0 && y < H;
    Func padded(name);
    padded(x, y, c, n) = select(inside, in(clamp(x, 0, W - 1), clamp(y, 0, H - 1), c, n), value);
    return padded;
}

Expr isNaN(Expr v) { return (reinterpret<uint32_t>(v) & (UInt(32).max() >> 1)) > Expr(0x7f800000u); }

Expr keepNaN(Expr v, Expr result) {
    return reinterpret<float>(select(isNaN(v), reinterpret<uint32_t>(v), reinterpret<uint32_t>(result)));
}

void LowerCtx::forTarget(const Target &target) {
    vectorWidth = target.natural_vector_size<float>();
    vectorRegisters = target.has_feature(Target::AVX512) ? 32 : 16;
}

int fittingLanes(int64_t extent, int vectorWidth) {
    for (int lanes = vectorWidth; lanes >= 8; lanes /= 2)
        if (lanes <= extent) return lanes;
    return 0;
}

int tileFactor(int64_t extent, int limit) {
    int f = 16;
    while (f > 1 && (f > limit || f > extent)) f /= 2;
    return f;
}

void parallelOverRows(Func f, Var y, Var c, int64_t rowElements) {
    const int64_t elementsPerTask = 4096;
    int rows = int(std::max<int64_t>(1, elementsPerTask / std::max<int64_t>(1, rowElements)));
    Var yc("yc"), task("task"), row("row");
    f.fuse(y, c, yc);
    if (rows > 1) f.split(yc, task, row, rows, TailStrategy::GuardWithIf).parallel(task);
    else f.parallel(yc);
}

Var parallelOverPlanes(Func f, Var c, Var n, int64_t planeElements) {
    const int64_t elementsPerTask = 4096;
    const int64_t planes = std::max<int64_t>(1, elementsPerTask / std::max<int64_t>(1, planeElements));
    Var cn("cn"), task("task"), plane("plane");
    f.fuse(c, n, cn);
    if (planes == 1) {
        f.parallel(cn);
        return cn;
    }
    f.split(cn, task, plane, int(planes), TailStrategy::GuardWithIf).parallel(task);
    return plane;
}

void scheduleElementwiseOutput(Func out, const TensorType &type, int vectorWidth, Var x, Var y, Var c, Var n) {
    if (type.width() >= 4) {
        int vw = tileFactor(type.width(), vectorWidth);
        out.vectorize(x, vw);
        if (type.width() >= 64) {
            Var yn("yn");
            out.fuse(y, n, yn).parallel(yn);
            return;
        }
        // Rows of less than four cache lines: tasks of whole planes. A task
        // per row of every plane shares each line with the next row's task,
        // and two cores writing one line take turns owning it: AlexNet's 6x6
        // adaptive pool at batch 8 took 3.0 ms on two threads, 0.3 on one
        // (AMD EPYC Zen 5, Halide profiler).
        parallelOverPlanes(out, c, n, type.width() * type.height());
    } else {
        // Vectors and 1x1 maps: the channel dimension is the long one.
        int vw = tileFactor(type.channels(), vectorWidth);
        if (type.channels() >= 4096) {
            Var co("co"), ci("ci");
            out.split(c, co, ci, 1024, TailStrategy::GuardWithIf).parallel(co);
            if (vw > 1) out.vectorize(ci, vw);
        } else {
            if (vw > 1) out.vectorize(c, vw);
            out.parallel(n);
        }
    }
}

} // namespace cnnc
