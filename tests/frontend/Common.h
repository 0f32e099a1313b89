#pragma once
#include <gtest/gtest.h>

#include <string>

#include "frontend/Frontend.h"
#include "ir/Printer.h"

namespace cnnc::testing {

// The rendered diagnostic for `src` compiled as "t.cnn", or "" if it compiles.
inline std::string diag(const std::string &src) {
    try {
        compileSource(src);
    } catch (const CompileError &e) {
        return formatDiagnostic("t.cnn", src, e);
    }
    return "";
}

inline const char *kLeNet = R"(# LeNet-5 for 28x28 greyscale digits. '#' starts a comment.
network lenet5(image: [1, 28, 28]) {          # input shape is [channels, height, width]
    x = image -> conv(6, 5, pad=2) -> relu -> maxpool(2)
    x = x -> conv(16, 5) -> relu -> maxpool(2)
    x = x -> flatten -> dense(120) -> relu -> dense(84) -> relu -> dense(10)
    return softmax(x)
}
)";

} // namespace cnnc::testing
