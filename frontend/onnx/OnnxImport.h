// ONNX import: a ModelProto (opsets 6-17) becomes the same Graph the .cnn
// front end builds, plus its initializers as a safetensors blob.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "ir/Graph.h"

namespace cnnc {

// A model cnnc cannot import, as one line without the "cnnc: error: file: "
// prefix, e.g. "node 'conv1' (Conv, opset 13): dilations [2, 2] ...".
class OnnxImportError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct OnnxImport {
    Graph graph;
    // Every parameter of the graph with a value in the model, under its param
    // name (safetensors: F32, PyTorch layouts); __metadata__ maps each param
    // name, unset ones too, to the ONNX tensor it comes from.
    std::string weights;
    // Parameters the model declares as graph inputs instead of initializers:
    // no value in `weights`, a weights file loaded at run time must give them.
    std::vector<std::string> unsetParams;
    std::vector<std::string> notes; // one line each, for stderr
};

// `bytes` is the file at `path` (external data is read relative to its folder).
// Ops must be registered (registerAllOps()). Throws OnnxImportError.
OnnxImport importOnnx(const std::string &path, const std::string &bytes);

// Largest model file: protobuf's message limit.
constexpr uint64_t kMaxOnnxBytes = (uint64_t(1) << 31) - 1;
// Throws OnnxImportError for a file over kMaxOnnxBytes.
void checkOnnxFileSize(uint64_t bytes);

} // namespace cnnc
