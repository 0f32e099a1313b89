#include "runtime/Json.h"

#include <cstring>

namespace cnnrt::json {

namespace {

struct Parser {
    const char *p;
    const char *begin;
    const char *end;
    std::string err;
    static constexpr int kMaxDepth = 64;

    bool fail(const std::string &what) {
        if (err.empty()) err = what + " at byte " + std::to_string(p - begin);
        return false;
    }
    void skip_ws() {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) ++p;
    }
    bool literal(const char *word) {
        size_t n = std::strlen(word);
        if (size_t(end - p) < n || std::memcmp(p, word, n) != 0) return fail("invalid literal");
        p += n;
        return true;
    }
    static void put_utf8(std::string &s, uint32_t cp) {
        if (cp < 0x80) {
            s += char(cp);
        } else if (cp < 0x800) {
            s += char(0xC0 | (cp >> 6));
            s += char(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            s += char(0xE0 | (cp >> 12));
            s += char(0x80 | ((cp >> 6) & 0x3F));
            s += char(0x80 | (cp & 0x3F));
        } else {
            s += char(0xF0 | (cp >> 18));
            s += char(0x80 | ((cp >> 12) & 0x3F));
            s += char(0x80 | ((cp >> 6) & 0x3F));
            s += char(0x80 | (cp & 0x3F));
        }
    }
    bool hex4(uint32_t &v) {
        if (end - p < 4) return fail("truncated \\u escape");
        v = 0;
        for (int i = 0; i < 4; ++i, ++p) {
            char c = *p;
            v <<= 4;
            if (c >= '0' && c <= '9') v |= uint32_t(c - '0');
            else if (c >= 'a' && c <= 'f') v |= uint32_t(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') v |= uint32_t(c - 'A' + 10);
            else return fail("invalid \\u escape");
        }
        return true;
    }
    // Validates one raw UTF-8 sequence starting at p (first byte >= 0x80) and copies it.
    bool utf8_seq(std::string &s) {
        unsigned char c = (unsigned char)*p;
        int n;
        uint32_t cp = 0;
        if (c >= 0xC2 && c <= 0xDF) { n = 1; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { n = 2; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { n = 3; cp = c & 0x07; }
        else return fail("invalid UTF-8 in string");
        if (end - p <= n) return fail("invalid UTF-8 in string");
        for (int i = 1; i <= n; ++i) {
            unsigned char d = (unsigned char)p[i];
            if ((d & 0xC0) != 0x80) return fail("invalid UTF-8 in string");
            cp = (cp << 6) | (d & 0x3F);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return fail("invalid UTF-8 in string");
        s.append(p, size_t(n + 1));
        p += n + 1;
        return true;
    }
    bool string(std::string &s) {
        // precondition: *p == '"'
        ++p;
        for (;;) {
            if (p >= end) return fail("unterminated string");
            unsigned char c = (unsigned char)*p;
            if (c == '"') { ++p; return true; }
            if (c < 0x20) return fail("control character in string");
            if (c >= 0x80) {
                if (!utf8_seq(s)) return false;
                continue;
            }
            if (c != '\\') { s += char(c); ++p; continue; }
            ++p;
            if (p >= end) return fail("unterminated string");
            char e = *p++;
            switch (e) {
            case '"': s += '"'; break;
            case '\\': s += '\\'; break;
            case '/': s += '/'; break;
            case 'b': s += '\b'; break;
            case 'f': s += '\f'; break;
            case 'n': s += '\n'; break;
            case 'r': s += '\r'; break;
            case 't': s += '\t'; break;
            case 'u': {
                uint32_t cp = 0;
                if (!hex4(cp)) return false;
                if (cp >= 0xDC00 && cp <= 0xDFFF) return fail("unpaired surrogate in string");
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (end - p < 2 || p[0] != '\\' || p[1] != 'u')
                        return fail("unpaired surrogate in string");
                    p += 2;
                    uint32_t lo = 0;
                    if (!hex4(lo)) return false;
                    if (lo < 0xDC00 || lo > 0xDFFF) return fail("unpaired surrogate in string");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                put_utf8(s, cp);
                break;
            }
            default:
                --p;
                return fail("invalid escape in string");
            }
        }
    }
    bool number(Value &v) {
        const char *start = p;
        if (p < end && *p == '-') ++p;
        if (p >= end) return fail("invalid number");
        if (*p == '0') {
            ++p;
        } else if (*p >= '1' && *p <= '9') {
            while (p < end && *p >= '0' && *p <= '9') ++p;
        } else {
            return fail("invalid number");
        }
        if (p < end && *p == '.') {
            ++p;
            if (p >= end || !(*p >= '0' && *p <= '9')) return fail("invalid number");
            while (p < end && *p >= '0' && *p <= '9') ++p;
        }
        if (p < end && (*p == 'e' || *p == 'E')) {
            ++p;
            if (p < end && (*p == '+' || *p == '-')) ++p;
            if (p >= end || !(*p >= '0' && *p <= '9')) return fail("invalid number");
            while (p < end && *p >= '0' && *p <= '9') ++p;
        }
        v.kind = Value::Number;
        v.text.assign(start, size_t(p - start));
        return true;
    }
    bool value(Value &v, int depth) {
        if (depth > kMaxDepth) return fail("nesting too deep");
        skip_ws();
        if (p >= end) return fail("unexpected end of JSON");
        switch (*p) {
        case '{': {
            ++p;
            v.kind = Value::Object;
            skip_ws();
            if (p < end && *p == '}') { ++p; return true; }
            for (;;) {
                skip_ws();
                if (p >= end || *p != '"') return fail("expected object key");
                std::string key;
                const char *key_at = p;
                if (!string(key)) return false;
                for (const auto &m : v.members) {
                    if (m.first == key) {
                        p = key_at;
                        return fail("duplicate key '" + key + "'");
                    }
                }
                skip_ws();
                if (p >= end || *p != ':') return fail("expected ':'");
                ++p;
                v.members.emplace_back(std::move(key), Value());
                if (!value(v.members.back().second, depth + 1)) return false;
                skip_ws();
                if (p < end && *p == ',') { ++p; continue; }
                if (p < end && *p == '}') { ++p; return true; }
                return fail("expected ',' or '}'");
            }
        }
        case '[': {
            ++p;
            v.kind = Value::Array;
            skip_ws();
            if (p < end && *p == ']') { ++p; return true; }
            for (;;) {
                v.items.emplace_back();
                if (!value(v.items.back(), depth + 1)) return false;
                skip_ws();
                if (p < end && *p == ',') { ++p; continue; }
                if (p < end && *p == ']') { ++p; return true; }
                return fail("expected ',' or ']'");
            }
        }
        case '"':
            v.kind = Value::String;
            return string(v.text);
        case 't':
            v.kind = Value::Bool;
            v.boolean = true;
            return literal("true");
        case 'f':
            v.kind = Value::Bool;
            return literal("false");
        case 'n':
            v.kind = Value::Null;
            return literal("null");
        default:
            if (*p == '-' || (*p >= '0' && *p <= '9')) return number(v);
            return fail("unexpected character");
        }
    }
};

}  // namespace

bool Value::as_u64(uint64_t &out) const {
    if (kind != Number || text.empty()) return false;
    uint64_t v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return false;
        uint64_t d = uint64_t(c - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    out = v;
    return true;
}

const Value *Value::find(const std::string &key) const {
    for (const auto &m : members)
        if (m.first == key) return &m.second;
    return nullptr;
}

bool parse(const char *data, size_t size, Value &out, std::string &err) {
    Parser ps{data, data, data + size, {}};
    out = Value();
    if (!ps.value(out, 0)) {
        err = ps.err;
        return false;
    }
    ps.skip_ws();
    if (ps.p != ps.end) {
        ps.fail("trailing characters after JSON");
        err = ps.err;
        return false;
    }
    return true;
}

void append_quoted(std::string &out, const std::string &s) {
    static const char *hex = "0123456789abcdef";
    out += '"';
    for (unsigned char c : s) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (c < 0x20) {
                out += "\\u00";
                out += hex[c >> 4];
                out += hex[c & 15];
            } else {
                out += char(c);
            }
        }
    }
    out += '"';
}

}  // namespace cnnrt::json
