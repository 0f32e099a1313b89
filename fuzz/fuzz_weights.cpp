// The runtime's safetensors and checkpoint readers, on a model whose kernels
// are plain C++ (tests/runtime/TestModel.h): any file is loaded, or refused
// with a message, never a crash.
#include <cstdlib>
#include <cstring>

#include "fuzz/FuzzInput.h"
#include "runtime/Runtime.h"
#include "tests/runtime/TestModel.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static cnnrt_model *model = cnnrt_create(&trainmodel::kTrainDesc);
    if (!model) std::abort();
    const std::string &path = cnnc_fuzz::asFile(data, size);
    if (cnnrt_load_weights(model, path.c_str()) != 0 && !*cnnrt_last_error()) std::abort();
    if (cnnrt_load_checkpoint(model, path.c_str()) != 0 && !*cnnrt_last_error()) std::abort();
    return 0;
}
