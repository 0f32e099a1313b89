// Clang-style rendering of CompileErrors, and "did you mean" suggestions.
#pragma once
#include <string>
#include <vector>

#include "ir/SourceLoc.h"

namespace cnnc {

// Renders an error as
//   file:line:col: error: message
//   <the source line>
//   <spaces>^
// (each line ends with '\n'). Columns count bytes; tabs in the source line are kept
// in the caret line so the caret lines up. Control bytes and invalid UTF-8 in the
// echoed line are shown as '?'. An error without a location (line 0) renders as
// "file: error: message\n".
std::string formatDiagnostic(const std::string &file, const std::string &source, const CompileError &e);

// The candidate closest to `name` by edit distance, or "" if none is close enough.
std::string closestMatch(const std::string &name, const std::vector<std::string> &candidates);

// Length of the valid UTF-8 sequence starting at s[pos] (1 for ASCII), 0 if invalid.
size_t utf8SequenceLength(const std::string &s, size_t pos);

} // namespace cnnc
