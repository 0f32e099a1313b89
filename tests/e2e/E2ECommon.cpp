#include "tests/e2e/E2ECommon.h"

namespace cnnc_test {

const CompiledModel &lenet5() {
    static CompiledModel m = compileModelFile("examples/lenet5.cnn", "lenet5");
    return m;
}

const CompiledModel &everyOp() {
    static CompiledModel m = compileModelFile("examples/every_op.cnn", "every_op");
    return m;
}

}  // namespace cnnc_test
