// Where something came from in a source file, for diagnostics.
#pragma once
#include <stdexcept>
#include <string>

namespace cnnc {

struct SourceLoc {
    int line = 0; // 1-based; 0 means unknown
    int col = 0;  // 1-based
};

// A user error found by any phase (parser, shape rules, verifier). The driver
// renders it clang-style with the offending source line and a caret.
class CompileError : public std::runtime_error {
public:
    CompileError(SourceLoc loc, const std::string &message) : std::runtime_error(message), loc(loc) {}
    SourceLoc loc;
};

} // namespace cnnc
