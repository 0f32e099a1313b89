// Turns source text into tokens. Linear time, never recursive.
#pragma once
#include <string>
#include <vector>

#include "frontend/Token.h"

namespace cnnc {

// Lexes the whole file. Comments (`#` or `//` to end of line) and blanks are
// dropped. Line ends become Newline tokens except where the expression must go on:
// inside ( ) or [ ], after `->`, `+` or `,`, and before a line that starts with
// `->` or `+`. Repeated separators are collapsed. The last token is Eof.
// Throws CompileError for bad bytes, unterminated strings, integers that do not fit
// in int64 ("integer literal is too large") and out-of-range floats.
std::vector<Token> lex(const std::string &source);

} // namespace cnnc
