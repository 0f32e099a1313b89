// A small strict JSON parser (RFC 8259) for safetensors headers. No dependencies.
#ifndef CNNRT_JSON_H
#define CNNRT_JSON_H

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace cnnrt::json {

struct Value {
    enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
    bool boolean = false;
    std::string text;  // String: decoded UTF-8; Number: the literal as written
    std::vector<Value> items;                            // Array
    std::vector<std::pair<std::string, Value>> members;  // Object, in file order

    // Number that is a plain non-negative integer literal fitting in uint64 (no sign,
    // fraction or exponent); false otherwise.
    bool as_u64(uint64_t &out) const;
    const Value *find(const std::string &key) const;
};

// Parses exactly one JSON value (surrounding whitespace allowed). Rejects duplicate
// object keys, invalid UTF-8 escapes, control characters in strings and nesting
// deeper than 64. On failure returns false and sets err ("... at byte N").
bool parse(const char *data, size_t size, Value &out, std::string &err);

// Appends s as a JSON string literal (with quotes) to out.
void append_quoted(std::string &out, const std::string &s);

}  // namespace cnnrt::json

#endif
