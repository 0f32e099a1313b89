// The op list: the one place that names every op file.
#include "ir/OpDef.h"

namespace cnnc {
namespace ops {
void defineActivations();
void defineAdaptiveAvgPool();
void defineAdd();
void defineBatchNorm();
void defineConcat();
void defineConv();
void defineDense();
void defineDropout();
void defineFlatten();
void defineLRN();
void definePad();
void definePools();
void defineSoftmax();
} // namespace ops

void registerAllOps() {
    static bool done = [] {
        ops::defineActivations();
        ops::defineAdaptiveAvgPool();
        ops::defineAdd();
        ops::defineBatchNorm();
        ops::defineConcat();
        ops::defineConv();
        ops::defineDense();
        ops::defineDropout();
        ops::defineFlatten();
        ops::defineLRN();
        ops::definePad();
        ops::definePools();
        ops::defineSoftmax();
        return true;
    }();
    (void)done;
}

} // namespace cnnc
