// Reading one F32 tensor of a safetensors file (the weights a library saves).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cnnrt_tool {

struct Tensor {
    std::vector<int64_t> shape;
    std::vector<float> data;
};

// The tensor called `name` in the safetensors file at `path`; throws
// std::runtime_error when the file is unreadable or has no such F32 tensor.
Tensor readTensor(const std::string &path, const std::string &name);

}  // namespace cnnrt_tool
