// Tokens of the cnnc network language.
#pragma once
#include <cstdint>
#include <string>

#include "ir/SourceLoc.h"

namespace cnnc {

enum class Tok {
    Ident,    // network, block, return, aux, true, false are identifiers too
    Int,      // intValue (may be negative: `-3` is one token)
    Float,    // floatValue
    String,   // text holds the unescaped contents
    LParen, RParen, LBracket, RBracket, LBrace, RBrace,
    Comma, Colon, Equal, Arrow, Plus,
    Newline,  // a statement separator: an end of line or ';'
    Eof,
};

const char *tokName(Tok k);

struct Token {
    Tok kind = Tok::Eof;
    std::string text; // identifier name, string contents, or the literal's spelling
    int64_t intValue = 0;
    double floatValue = 0;
    SourceLoc loc;
};

} // namespace cnnc
