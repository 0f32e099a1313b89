#include "frontend/Parser.h"

#include "frontend/Lexer.h"
#include "ir/Graph.h"
#include "ir/TensorType.h"

namespace cnnc {

namespace {

using namespace ast;

class Parser {
public:
    explicit Parser(std::vector<Token> toks) : toks_(std::move(toks)) {}

    Program program() {
        Program prog;
        for (;;) {
            skipNewlines();
            if (at(Tok::Eof)) break;
            if (isKeyword("block")) {
                prog.blocks.push_back(block());
            } else if (isKeyword("network")) {
                SourceLoc loc = cur().loc;
                NetworkDef net = network();
                if (prog.network)
                    throw CompileError(loc, "multiple network definitions (the first is '" + prog.network->name +
                                                "' at line " + std::to_string(prog.network->loc.line) + ")");
                prog.network = std::move(net);
            } else {
                fail("expected 'network' or 'block'");
            }
        }
        if (!prog.network) throw CompileError(cur().loc, "no network definition in file");
        return prog;
    }

private:
    struct DepthGuard {
        Parser &p;
        DepthGuard(Parser &p, SourceLoc loc) : p(p) {
            if (++p.depth_ > kMaxNesting) throw CompileError(loc, "expression nested too deeply");
        }
        ~DepthGuard() { --p.depth_; }
    };

    const Token &cur() const { return toks_[pos_]; }
    const Token &next() const { return toks_[pos_ + 1 < toks_.size() ? pos_ + 1 : pos_]; }
    bool at(Tok k) const { return cur().kind == k; }
    bool isKeyword(const char *kw) const { return at(Tok::Ident) && cur().text == kw; }
    const Token &take() {
        const Token &t = toks_[pos_];
        if (pos_ + 1 < toks_.size()) ++pos_;
        return t;
    }
    void skipNewlines() {
        while (at(Tok::Newline)) take();
    }

    static std::string describe(const Token &t) {
        switch (t.kind) {
        case Tok::Ident: return "'" + t.text + "'";
        case Tok::Int: case Tok::Float: return "'" + t.text + "'";
        case Tok::String: return "string";
        case Tok::Newline: return t.text == ";" ? "';'" : "end of line";
        case Tok::Eof: return "end of file";
        default: return tokName(t.kind);
        }
    }
    [[noreturn]] void fail(const std::string &what) { throw CompileError(cur().loc, what + ", found " + describe(cur())); }

    const Token &expect(Tok k, const std::string &context) {
        if (!at(k)) fail(std::string("expected ") + tokName(k) + " " + context);
        return take();
    }
    const Token &expectIdent(const std::string &what) {
        if (!at(Tok::Ident)) fail("expected " + what);
        return take();
    }

    NetworkDef network() {
        NetworkDef net;
        take(); // network
        const Token &name = expectIdent("network name");
        net.name = name.text; net.loc = name.loc;
        expect(Tok::LParen, "after network name");
        const Token &in = expectIdent("input name");
        net.inputName = in.text; net.inputLoc = in.loc;
        expect(Tok::Colon, "after input name");
        net.shapeLoc = cur().loc;
        expect(Tok::LBracket, "to start the input shape");
        for (;;) {
            if (!at(Tok::Int)) fail("expected an integer dimension");
            const Token &d = take();
            if (d.intValue <= 0) throw CompileError(d.loc, "input dimensions must be positive");
            net.shape.push_back(d.intValue);
            if (at(Tok::Comma)) { take(); continue; }
            break;
        }
        expect(Tok::RBracket, "after input shape");
        if (net.shape.size() != 1 && net.shape.size() != 3)
            throw CompileError(net.shapeLoc, "input shape must be [K] or [C, H, W], got " +
                                                 std::to_string(net.shape.size()) + " dimensions");
        int64_t n = 1;
        for (int64_t d : net.shape) n = checkedMul(n, d);
        if (n < 0)
            throw CompileError(net.shapeLoc, "input shape is too large (more than 2^40 elements per sample)");
        // `, batch=N`: the library accepts batches of exactly N (N >= 2), as
        // an ONNX model exported with a fixed batch does.
        if (at(Tok::Comma) && next().kind == Tok::Ident && next().text == "batch") {
            take();
            take();
            expect(Tok::Equal, "after 'batch'");
            if (!at(Tok::Int)) fail("expected an integer batch size");
            const Token &b = take();
            if (!Graph::validFixedBatch(b.intValue))
                throw CompileError(b.loc, "a fixed batch must be 2 to 2^31-1, got " + std::to_string(b.intValue) +
                                              " (leave it out for any batch)");
            net.fixedBatch = b.intValue;
        }
        if (at(Tok::Comma)) throw CompileError(cur().loc, "a network takes exactly one input");
        expect(Tok::RParen, "after network input");
        body(net.body, net.endLoc, true);
        return net;
    }

    BlockDef block() {
        BlockDef b;
        take(); // block
        const Token &name = expectIdent("block name");
        b.name = name.text; b.loc = name.loc;
        expect(Tok::LParen, "after block name");
        const Token &in = expectIdent("the block's input name");
        b.inputName = in.text; b.inputLoc = in.loc;
        while (at(Tok::Comma)) {
            take();
            if (at(Tok::RParen)) break;
            const Token &p = expectIdent("parameter name");
            BlockParam bp; bp.name = p.text; bp.loc = p.loc;
            if (p.text == b.inputName) throw CompileError(p.loc, "duplicate parameter '" + p.text + "'");
            for (auto &o : b.params)
                if (o.name == p.text) throw CompileError(p.loc, "duplicate parameter '" + p.text + "'");
            if (at(Tok::Equal)) {
                take();
                if (!at(Tok::Int)) fail("expected an integer default value");
                bp.defaultValue = take().intValue;
            } else if (!b.params.empty() && b.params.back().defaultValue) {
                throw CompileError(p.loc, "parameter '" + p.text + "' needs a default value (it follows one that has one)");
            }
            b.params.push_back(std::move(bp));
        }
        expect(Tok::RParen, "after block parameters");
        body(b.body, b.endLoc, false);
        return b;
    }

    void body(std::vector<Stmt> &stmts, SourceLoc &endLoc, bool isNetwork) {
        skipNewlines();
        expect(Tok::LBrace, "to start the body");
        bool returned = false;
        for (;;) {
            skipNewlines();
            if (at(Tok::RBrace)) { endLoc = take().loc; break; }
            if (at(Tok::Eof)) fail("expected '}' to end the body");
            Stmt s = statement(isNetwork);
            if (returned && s.kind != Stmt::Aux)
                throw CompileError(s.loc, s.kind == Stmt::Return ? "multiple return statements"
                                                                 : "statement after 'return'");
            if (s.kind == Stmt::Return) returned = true;
            stmts.push_back(std::move(s));
            if (!at(Tok::Newline) && !at(Tok::RBrace)) fail("expected end of line after statement");
        }
        if (!returned) throw CompileError(endLoc, "missing 'return' statement");
    }

    Stmt statement(bool isNetwork) {
        Stmt s;
        s.loc = cur().loc;
        if (!at(Tok::Ident)) fail("expected a statement");
        if (next().kind == Tok::Equal) {
            s.kind = Stmt::Assign;
            s.name = take().text;
            take();
            s.value = expr();
            return s;
        }
        if (cur().text == "return") {
            take();
            s.kind = Stmt::Return;
            s.value = expr();
            return s;
        }
        if (cur().text == "aux") {
            if (!isNetwork) throw CompileError(s.loc, "'aux' is only allowed in a network body");
            take();
            s.kind = Stmt::Aux;
            s.value = expr();
            if (isKeyword("weight")) {
                take();
                expect(Tok::Equal, "after 'weight'");
                if (at(Tok::Int)) s.weight = double(take().intValue);
                else if (at(Tok::Float)) s.weight = take().floatValue;
                else fail("expected a number");
            }
            return s;
        }
        fail("expected a statement ('name = expression', 'return' or 'aux')");
    }

    ExprPtr expr() {
        DepthGuard g(*this, cur().loc);
        ExprPtr first = chain();
        if (!at(Tok::Plus)) return first;
        auto sum = std::make_unique<Expr>();
        sum->kind = Expr::Sum;
        sum->loc = first->loc;
        sum->terms.push_back(std::move(first));
        while (at(Tok::Plus)) {
            sum->plusLocs.push_back(take().loc);
            sum->terms.push_back(chain());
        }
        return sum;
    }

    ExprPtr chain() {
        ExprPtr head = primary();
        if (!at(Tok::Arrow)) return head;
        auto c = std::make_unique<Expr>();
        c->kind = Expr::Chain;
        c->loc = head->loc;
        c->head = std::move(head);
        while (at(Tok::Arrow)) {
            take();
            const Token &name = expectIdent("an op or block name after '->'");
            Call call;
            call.callee = name.text;
            call.loc = name.loc;
            if (at(Tok::LParen)) args(call);
            c->steps.push_back(std::move(call));
        }
        return c;
    }

    ExprPtr primary() {
        auto e = std::make_unique<Expr>();
        e->loc = cur().loc;
        if (at(Tok::Ident)) {
            const Token &name = take();
            if (at(Tok::LParen)) {
                e->kind = Expr::Call;
                e->call.callee = name.text;
                e->call.loc = name.loc;
                args(e->call);
            } else {
                e->kind = Expr::Name;
                e->name = name.text;
            }
            return e;
        }
        if (at(Tok::LParen)) {
            take();
            ExprPtr inner = expr();
            expect(Tok::RParen, "to close '('");
            return inner;
        }
        fail("expected an expression");
    }

    void args(Call &call) {
        take(); // (
        bool sawKeyword = false;
        while (!at(Tok::RParen)) {
            Arg a;
            if (at(Tok::Ident) && next().kind == Tok::Equal) {
                a.keyword = cur().text;
                a.keywordLoc = cur().loc;
                take(); take();
                for (auto &o : call.args)
                    if (o.keyword == a.keyword)
                        throw CompileError(a.keywordLoc, "argument '" + a.keyword + "' given twice");
                sawKeyword = true;
            } else if (sawKeyword) {
                throw CompileError(cur().loc, "positional argument after keyword argument");
            }
            a.value = value();
            call.args.push_back(std::move(a));
            if (at(Tok::Comma)) { take(); continue; }
            if (!at(Tok::RParen)) fail("expected ',' or ')' in argument list of '" + call.callee + "'");
        }
        take(); // )
    }

    Value value() {
        Value v;
        v.loc = cur().loc;
        switch (cur().kind) {
        case Tok::Int: v.kind = Value::Int; v.intValue = take().intValue; return v;
        case Tok::Float: v.kind = Value::Float; v.floatValue = take().floatValue; return v;
        case Tok::String: v.kind = Value::String; v.stringValue = take().text; return v;
        case Tok::LBracket: {
            take();
            v.kind = Value::Pair;
            v.h = pairElem();
            expect(Tok::Comma, "in [h, w] pair");
            v.w = pairElem();
            expect(Tok::RBracket, "to close [h, w] pair");
            return v;
        }
        case Tok::Ident:
            if ((cur().text == "true" || cur().text == "false") && next().kind != Tok::LParen &&
                next().kind != Tok::Arrow && next().kind != Tok::Plus) {
                v.kind = Value::Bool;
                v.boolValue = take().text == "true";
                return v;
            }
            break;
        default: break;
        }
        v.kind = Value::Expr;
        v.expr = expr();
        return v;
    }

    PairElem pairElem() {
        PairElem e;
        e.loc = cur().loc;
        if (at(Tok::Int)) e.value = take().intValue;
        else if (at(Tok::Ident)) e.name = take().text;
        else fail("expected an integer");
        return e;
    }

    std::vector<Token> toks_;
    size_t pos_ = 0;
    int depth_ = 0;
};

} // namespace

ast::Program parseProgram(const std::string &source) { return Parser(lex(source)).program(); }

} // namespace cnnc
