#include "ir/IRParser.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace cnnc {

namespace {

enum class T { Ident, Int, Float, String, Punct, Eof };

struct Tk {
    T kind = T::Eof;
    std::string text; // identifier, string contents, punctuation char, literal spelling
    int64_t i = 0;
    double f = 0;
    SourceLoc loc;
};

bool identStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool digit(char c) { return c >= '0' && c <= '9'; }

std::vector<Tk> lexIR(const std::string &s) {
    std::vector<Tk> out;
    size_t p = 0;
    int line = 1, col = 1;
    auto at = [&](size_t k) { return p + k < s.size() ? s[p + k] : '\0'; };
    auto adv = [&](size_t n) { p += n; col += int(n); };
    while (p < s.size()) {
        char c = s[p];
        if (c == '\n') { ++p; ++line; col = 1; continue; }
        if (c == ' ' || c == '\t' || c == '\r') { adv(1); continue; }
        if (c == '#' || (c == '/' && at(1) == '/')) {
            while (p < s.size() && s[p] != '\n') adv(1);
            continue;
        }
        Tk t;
        t.loc = {line, col};
        size_t start = p;
        if (identStart(c)) {
            while (identStart(at(0)) || digit(at(0))) adv(1);
            t.kind = T::Ident;
            t.text = s.substr(start, p - start);
        } else if (c == '-' && at(1) == 'i' && at(2) == 'n' && at(3) == 'f') {
            adv(4);
            t.kind = T::Float;
            t.f = -std::numeric_limits<double>::infinity();
        } else if (digit(c) || (c == '-' && (digit(at(1)) || at(1) == '.')) || (c == '.' && digit(at(1)))) {
            if (c == '-') adv(1);
            bool isFloat = false;
            while (digit(at(0)) || at(0) == '.' || at(0) == 'e' || at(0) == 'E' ||
                   ((at(0) == '+' || at(0) == '-') && (s[p - 1] == 'e' || s[p - 1] == 'E'))) {
                if (!digit(at(0))) isFloat = true;
                adv(1);
            }
            t.text = s.substr(start, p - start);
            errno = 0;
            char *end = nullptr;
            if (isFloat) {
                t.kind = T::Float;
                t.f = std::strtod(t.text.c_str(), &end);
            } else {
                t.kind = T::Int;
                t.i = std::strtoll(t.text.c_str(), &end, 10);
            }
            if (errno == ERANGE) throw CompileError(t.loc, "number out of range");
            if (end != t.text.c_str() + t.text.size()) throw CompileError(t.loc, "malformed number '" + t.text + "'");
        } else if (c == '"') {
            adv(1);
            t.kind = T::String;
            for (;;) {
                if (p >= s.size() || s[p] == '\n') throw CompileError(t.loc, "unterminated string");
                if (s[p] == '"') { adv(1); break; }
                if (s[p] == '\\') {
                    if (at(1) != '"' && at(1) != '\\') throw CompileError({line, col}, "invalid escape sequence in string");
                    t.text += at(1);
                    adv(2);
                    continue;
                }
                t.text += s[p];
                adv(1);
            }
        } else if (std::string("%=(){}[],:").find(c) != std::string::npos && c != '\0') {
            t.kind = T::Punct;
            t.text = std::string(1, c);
            adv(1);
        } else {
            unsigned char u = static_cast<unsigned char>(c);
            char buf[48];
            if (u >= 0x20 && u < 0x7f) std::snprintf(buf, sizeof buf, "unexpected character '%c'", c);
            else std::snprintf(buf, sizeof buf, "unexpected byte 0x%02X", u);
            throw CompileError(t.loc, buf);
        }
        out.push_back(std::move(t));
    }
    Tk eof;
    eof.loc = {line, col};
    out.push_back(eof);
    return out;
}

class IRParser {
public:
    explicit IRParser(const std::string &text) : toks_(lexIR(text)) {}

    Graph run() {
        keyword("network");
        g_.name = ident("network name").text;
        punct('(');
        Node in;
        in.loc = cur().loc;
        expectId(0);
        punct(':');
        in.type = type();
        punct(')');
        keyword("input");
        punct('=');
        in.name = string();
        if (isIdent("batch")) { // the only batch the library accepts (Graph::fixedBatch)
            take();
            punct('=');
            SourceLoc loc = cur().loc;
            g_.fixedBatch = integer();
            if (!Graph::validFixedBatch(g_.fixedBatch))
                throw CompileError(loc, "bad fixed batch " + std::to_string(g_.fixedBatch) + " (2 to 2^31-1)");
        }
        if (isIdent("arena")) { // floats per sample, from the plan-memory pass
            take();
            punct('=');
            SourceLoc loc = cur().loc;
            g_.arenaFloats = integer();
            if (g_.arenaFloats < 0) throw CompileError(loc, "bad arena size");
        }
        g_.add(std::move(in));
        punct('{');
        bool returned = false;
        for (;;) {
            if (isPunct('}')) {
                if (!returned) throw CompileError(cur().loc, "missing 'return'");
                take();
                break;
            }
            if (isPunct('%')) {
                if (returned) fail("node after 'return'");
                node();
                continue;
            }
            if (isIdent("return")) {
                SourceLoc loc = take().loc;
                if (returned) throw CompileError(loc, "multiple return statements");
                g_.result = ref();
                returned = true;
                continue;
            }
            if (isIdent("aux")) {
                take();
                AuxHead a;
                a.node = ref();
                keyword("weight");
                punct('=');
                if (cur().kind == T::Int) a.weight = double(take().i);
                else if (cur().kind == T::Float) a.weight = take().f;
                else if (isIdent("inf") || isIdent("nan")) a.weight = floatIdent(take().text);
                else fail("expected a number");
                g_.aux.push_back(a);
                continue;
            }
            fail("expected a node, 'return', 'aux' or '}'");
        }
        if (cur().kind != T::Eof) fail("expected end of input");
        return std::move(g_);
    }

private:
    const Tk &cur() const { return toks_[pos_]; }
    const Tk &take() {
        const Tk &t = toks_[pos_];
        if (pos_ + 1 < toks_.size()) ++pos_;
        return t;
    }
    static std::string describe(const Tk &t) {
        switch (t.kind) {
        case T::Eof: return "end of input";
        case T::String: return "string";
        default: return "'" + t.text + "'";
        }
    }
    [[noreturn]] void fail(const std::string &msg) { throw CompileError(cur().loc, msg + ", found " + describe(cur())); }
    bool isPunct(char c) const { return cur().kind == T::Punct && cur().text[0] == c; }
    bool isIdent(const char *s) const { return cur().kind == T::Ident && cur().text == s; }
    void punct(char c) {
        if (!isPunct(c)) fail(std::string("expected '") + c + "'");
        take();
    }
    void keyword(const char *s) {
        if (!isIdent(s)) fail(std::string("expected '") + s + "'");
        take();
    }
    const Tk &ident(const char *what) {
        if (cur().kind != T::Ident) fail(std::string("expected ") + what);
        return take();
    }
    std::string string() {
        if (cur().kind != T::String) fail("expected a string");
        return take().text;
    }
    int64_t integer() {
        if (cur().kind != T::Int) fail("expected an integer");
        return take().i;
    }
    static double floatIdent(const std::string &s) {
        return s == "inf" ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
    }
    // `%K` that must be the next node id.
    void expectId(int64_t want) {
        punct('%');
        SourceLoc loc = cur().loc;
        if (integer() != want) throw CompileError(loc, "expected node id %" + std::to_string(want));
    }
    // `%K` referring to an existing node.
    int ref() {
        punct('%');
        SourceLoc loc = cur().loc;
        int64_t id = integer();
        if (id < 0 || id >= int64_t(g_.nodes.size())) throw CompileError(loc, "%" + std::to_string(id) + " is not defined");
        return int(id);
    }
    TensorType type() {
        SourceLoc loc = cur().loc;
        if (!isIdent("f32")) fail("expected a type like f32[N,3,32,32]");
        take();
        punct('[');
        if (!isIdent("N")) fail("expected 'N'");
        take();
        TensorType t;
        while (isPunct(',')) {
            take();
            int64_t d = integer();
            if (d <= 0) throw CompileError(loc, "dimensions must be positive");
            t.dims.push_back(d);
        }
        punct(']');
        if (t.dims.size() != 1 && t.dims.size() != 3) throw CompileError(loc, "a type must have rank 1 or 3");
        if (t.elementsPerSample() < 0) throw CompileError(loc, "type " + t.str() + " is too large");
        return t;
    }
    AttrValue value() {
        switch (cur().kind) {
        case T::Int: return take().i;
        case T::Float: return take().f;
        case T::String: return take().text;
        case T::Ident:
            if (isIdent("true") || isIdent("false")) return take().text == "true";
            if (isIdent("inf") || isIdent("nan")) return floatIdent(take().text);
            break;
        case T::Punct:
            if (isPunct('[')) {
                take();
                Pair p;
                p.h = integer();
                punct(',');
                p.w = integer();
                punct(']');
                return p;
            }
            break;
        default: break;
        }
        fail("expected an attribute value");
    }

    void node() {
        Node n;
        expectId(int64_t(g_.nodes.size()));
        punct('=');
        const Tk &op = ident("an op name");
        n.loc = op.loc;
        n.def = OpRegistry::get().find(op.text);
        if (!n.def) throw CompileError(op.loc, "unknown op '" + op.text + "'");
        punct('(');
        while (!isPunct(')')) {
            n.operands.push_back(ref());
            if (isPunct(',')) take();
            else if (!isPunct(')')) fail("expected ',' or ')'");
        }
        take();
        std::vector<std::pair<std::string, AttrValue>> keywords;
        SourceLoc attrLoc = n.loc;
        if (isPunct('{')) {
            attrLoc = take().loc;
            while (!isPunct('}')) {
                std::string key = ident("an attribute name").text;
                punct('=');
                keywords.emplace_back(key, value());
                if (isPunct(',')) take();
                else if (!isPunct('}')) fail("expected ',' or '}'");
            }
            take();
        }
        if (isIdent("name")) {
            take();
            punct('=');
            n.name = string();
        }
        punct(':');
        SourceLoc typeLoc = cur().loc;
        TensorType printed = type();
        if (isIdent("kernel")) {
            take();
            punct('=');
            SourceLoc kloc = cur().loc;
            int64_t k = integer();
            if (k < 0 || k > std::numeric_limits<int>::max()) throw CompileError(kloc, "bad kernel number");
            n.kernel = int(k);
        }
        if (isIdent("offset")) {
            take();
            punct('=');
            SourceLoc oloc = cur().loc;
            n.arenaOffset = integer();
            if (n.arenaOffset < 0) throw CompileError(oloc, "bad arena offset");
        }
        const OpDef &def = *n.def;
        Attrs attrs;
        try {
            attrs = bindArguments(def, {}, keywords, /*allowInternal=*/true);
        } catch (const OpError &e) {
            throw CompileError(attrLoc, e.what());
        }
        try {
            Node created = g_.create(def, n.operands, std::move(attrs), n.name);
            n.attrs = std::move(created.attrs);
            n.type = created.type;
            n.params = std::move(created.params);
        } catch (const OpError &e) {
            throw CompileError(n.loc, e.what());
        }
        if (n.type != printed)
            throw CompileError(typeLoc, "type mismatch: '" + def.name + "' gives " + n.type.str() + ", the IR says " +
                                            printed.str());
        g_.add(std::move(n));
    }

    std::vector<Tk> toks_;
    size_t pos_ = 0;
    Graph g_;
};

} // namespace

Graph parseIR(const std::string &text) { return IRParser(text).run(); }

} // namespace cnnc
