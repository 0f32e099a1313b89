// Helper for test_safetensors_py.py: runs the C runtime on the TestModel network.
//   st_tool roundtrip IN OUT   load IN into the model, save it to OUT
//   st_tool save OUT           save the freshly initialised model to OUT
//   st_tool load IN            load IN (exit 1 with the error on failure)
#include <cstdio>
#include <cstring>

#include "runtime/Runtime.h"
#include "tests/runtime/TestModel.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: st_tool roundtrip IN OUT | save OUT | load IN\n");
        return 2;
    }
    cnnrt_model *m = cnnrt_create(&testmodel::kDesc);
    if (!m) {
        std::fprintf(stderr, "create: %s\n", cnnrt_last_error());
        return 1;
    }
    int rc = 0;
    const char *cmd = argv[1];
    if (!std::strcmp(cmd, "roundtrip") && argc == 4) {
        rc = cnnrt_load_weights(m, argv[2]) || cnnrt_save_weights(m, argv[3]);
    } else if (!std::strcmp(cmd, "save")) {
        rc = cnnrt_save_weights(m, argv[2]);
    } else if (!std::strcmp(cmd, "load")) {
        rc = cnnrt_load_weights(m, argv[2]);
    } else {
        std::fprintf(stderr, "bad command\n");
        rc = 2;
    }
    if (rc == 1) std::fprintf(stderr, "error: %s\n", cnnrt_last_error());
    cnnrt_destroy(m);
    return rc;
}
