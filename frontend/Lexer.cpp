#include "frontend/Lexer.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "frontend/Diagnostics.h"

namespace cnnc {

const char *tokName(Tok k) {
    switch (k) {
    case Tok::Ident: return "identifier";
    case Tok::Int: return "integer";
    case Tok::Float: return "number";
    case Tok::String: return "string";
    case Tok::LParen: return "'('";
    case Tok::RParen: return "')'";
    case Tok::LBracket: return "'['";
    case Tok::RBracket: return "']'";
    case Tok::LBrace: return "'{'";
    case Tok::RBrace: return "'}'";
    case Tok::Comma: return "','";
    case Tok::Colon: return "':'";
    case Tok::Equal: return "'='";
    case Tok::Arrow: return "'->'";
    case Tok::Plus: return "'+'";
    case Tok::Newline: return "end of line";
    case Tok::Eof: return "end of file";
    }
    return "?";
}

namespace {

bool isIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isIdentChar(char c) { return isIdentStart(c) || isDigit(c); }

class Lexer {
public:
    explicit Lexer(const std::string &s) : src_(s) {}

    std::vector<Token> run() {
        while (pos_ < src_.size()) {
            char c = src_[pos_];
            if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') { advance(1); continue; }
            if (c == '\n') { newline(); continue; }
            if (c == '#' || (c == '/' && peek(1) == '/')) {
                while (pos_ < src_.size() && src_[pos_] != '\n') advance(1);
                continue;
            }
            SourceLoc loc = here();
            if (isIdentStart(c)) {
                size_t start = pos_;
                while (pos_ < src_.size() && isIdentChar(src_[pos_])) advance(1);
                Token t; t.kind = Tok::Ident; t.text = src_.substr(start, pos_ - start); t.loc = loc;
                push(std::move(t));
                continue;
            }
            // `-inf`: negative infinity, as the IR printer writes it (a max
            // pool's padding value, pad(..., value=-inf)).
            if (c == '-' && peek(1) == 'i' && peek(2) == 'n' && peek(3) == 'f' && !isIdentChar(peek(4))) {
                Token t; t.kind = Tok::Float; t.text = "-inf"; t.loc = loc;
                t.floatValue = -HUGE_VAL;
                advance(4);
                push(std::move(t));
                continue;
            }
            if (isDigit(c) || (c == '.' && isDigit(peek(1))) ||
                (c == '-' && (isDigit(peek(1)) || (peek(1) == '.' && isDigit(peek(2)))))) {
                number();
                continue;
            }
            if (c == '"') { string(); continue; }
            if (c == '-' && peek(1) == '>') { simple(Tok::Arrow, 2); continue; }
            switch (c) {
            case '(': brackets_.push_back('('); simple(Tok::LParen, 1); continue;
            case '[': brackets_.push_back('['); simple(Tok::LBracket, 1); continue;
            case '{': brackets_.push_back('{'); simple(Tok::LBrace, 1); continue;
            case ')': case ']': case '}':
                if (!brackets_.empty()) brackets_.pop_back();
                simple(c == ')' ? Tok::RParen : c == ']' ? Tok::RBracket : Tok::RBrace, 1);
                continue;
            case ',': simple(Tok::Comma, 1); continue;
            case ':': simple(Tok::Colon, 1); continue;
            case '=': simple(Tok::Equal, 1); continue;
            case '+': simple(Tok::Plus, 1); continue;
            case ';': {
                Token t; t.kind = Tok::Newline; t.text = ";"; t.loc = loc;
                if (toks_.empty() || toks_.back().kind != Tok::Newline) toks_.push_back(std::move(t));
                advance(1);
                continue;
            }
            default: break;
            }
            badByte();
        }
        Token eof; eof.kind = Tok::Eof; eof.loc = here();
        toks_.push_back(eof);
        return std::move(toks_);
    }

private:
    char peek(size_t ahead) const { return pos_ + ahead < src_.size() ? src_[pos_ + ahead] : '\0'; }
    SourceLoc here() const { return SourceLoc{line_, col_}; }
    void advance(size_t n) { pos_ += n; col_ += int(n); }

    void newline() {
        SourceLoc loc = here();
        ++pos_; ++line_; col_ = 1;
        if (!brackets_.empty() && brackets_.back() != '{') return; // inside ( ) or [ ]
        if (toks_.empty()) return;
        Tok last = toks_.back().kind;
        if (last == Tok::Newline || last == Tok::Arrow || last == Tok::Plus || last == Tok::Comma ||
            last == Tok::LBrace)
            return;
        Token t; t.kind = Tok::Newline; t.loc = loc;
        toks_.push_back(std::move(t));
    }

    void push(Token t) {
        // A line starting with `->` or `+` continues the previous line.
        if ((t.kind == Tok::Arrow || t.kind == Tok::Plus) && !toks_.empty() &&
            toks_.back().kind == Tok::Newline && toks_.back().text.empty())
            toks_.pop_back();
        toks_.push_back(std::move(t));
    }

    void simple(Tok k, size_t len) {
        Token t; t.kind = k; t.loc = here(); t.text = src_.substr(pos_, len);
        advance(len);
        push(std::move(t));
    }

    void number() {
        SourceLoc loc = here();
        size_t start = pos_;
        bool neg = src_[pos_] == '-';
        if (neg) advance(1);
        bool isFloat = false;
        while (isDigit(peek(0))) advance(1);
        if (peek(0) == '.' && isDigit(peek(1))) {
            isFloat = true;
            advance(1);
            while (isDigit(peek(0))) advance(1);
        } else if (peek(0) == '.' && !isIdentStart(peek(1))) {
            isFloat = true; // `1.`
            advance(1);
        }
        if ((peek(0) == 'e' || peek(0) == 'E') &&
            (isDigit(peek(1)) || ((peek(1) == '+' || peek(1) == '-') && isDigit(peek(2))))) {
            isFloat = true;
            advance(2);
            while (isDigit(peek(0))) advance(1);
        }
        Token t; t.loc = loc; t.text = src_.substr(start, pos_ - start);
        if (isIdentChar(peek(0)))
            throw CompileError(here(), "invalid character '" + std::string(1, peek(0)) + "' in number");
        if (isFloat) {
            errno = 0;
            double d = std::strtod(t.text.c_str(), nullptr);
            if (!std::isfinite(d) || errno == ERANGE) {
                if (std::isfinite(d) && std::fabs(d) < 1.0) d = 0.0; // underflow: treat as zero
                else throw CompileError(loc, "floating-point literal is out of range");
            }
            t.kind = Tok::Float; t.floatValue = d;
        } else {
            // Accumulate as a negative number so INT64_MIN fits.
            int64_t v = 0;
            const int64_t lim = INT64_MIN;
            for (size_t i = start + (neg ? 1 : 0); i < pos_; ++i) {
                int d = src_[i] - '0';
                if (v < (lim + d) / 10) throw CompileError(loc, "integer literal is too large");
                v = v * 10 - d;
            }
            if (!neg) {
                if (v == INT64_MIN) throw CompileError(loc, "integer literal is too large");
                v = -v;
            }
            t.kind = Tok::Int; t.intValue = v;
        }
        push(std::move(t));
    }

    void string() {
        SourceLoc loc = here();
        advance(1);
        std::string out;
        for (;;) {
            if (pos_ >= src_.size() || src_[pos_] == '\n') throw CompileError(loc, "unterminated string");
            char c = src_[pos_];
            if (c == '"') { advance(1); break; }
            if (c == '\\') {
                char n = peek(1);
                if (n != '"' && n != '\\') throw CompileError(here(), "invalid escape sequence in string");
                out += n;
                advance(2);
                continue;
            }
            unsigned char u = static_cast<unsigned char>(c);
            if (u < 0x20 || u == 0x7f) {
                if (c == '\t') { out += c; advance(1); continue; }
                throw CompileError(here(), byteMessage(u));
            }
            if (u >= 0x80) {
                size_t n = utf8SequenceLength(src_, pos_);
                if (n == 0) throw CompileError(here(), byteMessage(u));
                out += src_.substr(pos_, n);
                advance(n);
                continue;
            }
            out += c;
            advance(1);
        }
        Token t; t.kind = Tok::String; t.text = std::move(out); t.loc = loc;
        push(std::move(t));
    }

    static std::string byteMessage(unsigned char u) {
        char buf[64];
        if (u == 0) return "unexpected null byte";
        if (u < 0x20 || u == 0x7f) std::snprintf(buf, sizeof buf, "unexpected control character 0x%02X", u);
        else std::snprintf(buf, sizeof buf, "invalid UTF-8 byte 0x%02X", u);
        return buf;
    }

    [[noreturn]] void badByte() {
        unsigned char u = static_cast<unsigned char>(src_[pos_]);
        if (u >= 0x20 && u < 0x7f) throw CompileError(here(), std::string("unexpected character '") + char(u) + "'");
        if (u >= 0x80 && utf8SequenceLength(src_, pos_) > 0)
            throw CompileError(here(), "unexpected non-ASCII character");
        throw CompileError(here(), byteMessage(u));
    }

    const std::string &src_;
    size_t pos_ = 0;
    int line_ = 1, col_ = 1;
    std::vector<char> brackets_;
    std::vector<Token> toks_;
};

} // namespace

std::vector<Token> lex(const std::string &source) { return Lexer(source).run(); }

} // namespace cnnc
