#include "frontend/LowerToIR.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include "frontend/Diagnostics.h"
#include "ir/OpDef.h"

namespace cnnc {

namespace {

using namespace ast;

// What a name in scope stands for: a tensor (a node) or a block's integer parameter.
struct Binding {
    bool isInt = false;
    int node = -1;
    int64_t value = 0;
};

struct Scope {
    std::map<std::string, Binding> vars;
    std::string prefix;                 // "" in the network, "layer1.0." inside that block instance
    std::map<std::string, int> counters; // per op / block kind, for generated names
    std::set<std::string> taken;        // local names given explicitly or generated so far
};

// Collects explicit `name="..."` strings of calls in a body (not inside other blocks).
void collectNames(const Expr &e, std::set<std::string> &out);
void collectNames(const Call &c, std::set<std::string> &out) {
    for (auto &a : c.args) {
        if (a.keyword == "name" && a.value.kind == Value::String) out.insert(a.value.stringValue);
        if (a.value.expr) collectNames(*a.value.expr, out);
    }
}
void collectNames(const Expr &e, std::set<std::string> &out) {
    switch (e.kind) {
    case Expr::Name: break;
    case Expr::Call: collectNames(e.call, out); break;
    case Expr::Chain:
        collectNames(*e.head, out);
        for (auto &s : e.steps) collectNames(s, out);
        break;
    case Expr::Sum:
        for (auto &t : e.terms) collectNames(*t, out);
        break;
    }
}

struct CallSite {
    std::string callee;
    SourceLoc loc;
};
void collectCalls(const Expr &e, std::vector<CallSite> &out);
void collectCalls(const Call &c, std::vector<CallSite> &out) {
    out.push_back({c.callee, c.loc});
    for (auto &a : c.args)
        if (a.value.expr) collectCalls(*a.value.expr, out);
}
void collectCalls(const Expr &e, std::vector<CallSite> &out) {
    switch (e.kind) {
    case Expr::Name: break;
    case Expr::Call: collectCalls(e.call, out); break;
    case Expr::Chain:
        collectCalls(*e.head, out);
        for (auto &s : e.steps) collectCalls(s, out);
        break;
    case Expr::Sum:
        for (auto &t : e.terms) collectCalls(*t, out);
        break;
    }
}

class Lowerer {
public:
    explicit Lowerer(const Program &p) : prog_(p) {}

    Graph run() {
        const NetworkDef &net = *prog_.network;
        for (auto &b : prog_.blocks) {
            if (OpRegistry::get().find(b.name))
                throw CompileError(b.loc, "block '" + b.name + "' has the same name as an op");
            if (!blocks_.emplace(b.name, &b).second)
                throw CompileError(b.loc, "block '" + b.name + "' is already defined");
        }
        checkRecursion();
        checkExpandedSize(net);

        g_.name = net.name;
        g_.fixedBatch = net.fixedBatch;
        Node in;
        in.name = net.inputName;
        in.type.dims = net.shape;
        in.loc = net.inputLoc;
        g_.add(std::move(in));

        Scope scope;
        scope.vars[net.inputName] = Binding{false, 0, 0};
        for (auto &s : net.body)
            if (s.value) collectNames(*s.value, scope.taken);
        g_.result = lowerBody(net.body, scope);
        pruneUnreachable();
        return std::move(g_);
    }

private:
    int lowerBody(const std::vector<Stmt> &body, Scope &scope) {
        int result = -1;
        for (auto &s : body) {
            int node = lowerExpr(*s.value, scope);
            switch (s.kind) {
            case Stmt::Assign: scope.vars[s.name] = Binding{false, node, 0}; break;
            case Stmt::Return: result = node; break;
            case Stmt::Aux: g_.aux.push_back(AuxHead{node, s.weight}); break;
            }
        }
        return result;
    }

    void checkRecursion() {
        std::map<std::string, std::vector<CallSite>> edges;
        for (auto &b : prog_.blocks) {
            std::vector<CallSite> calls;
            for (auto &s : b.body)
                if (s.value) collectCalls(*s.value, calls);
            auto &out = edges[b.name];
            for (auto &c : calls)
                if (blocks_.count(c.callee)) out.push_back(c);
        }
        // Iterative DFS (a file may define very many blocks).
        enum { White, Gray, Black };
        std::map<std::string, int> color;
        for (auto &b : prog_.blocks) {
            if (color[b.name] != White) continue;
            std::vector<std::pair<std::string, size_t>> stack{{b.name, 0}};
            color[b.name] = Gray;
            while (!stack.empty()) {
                auto &[name, idx] = stack.back();
                auto &out = edges[name];
                if (idx == out.size()) {
                    color[name] = Black;
                    stack.pop_back();
                    continue;
                }
                const CallSite &c = out[idx++];
                int &col = color[c.callee];
                if (col == Gray) {
                    std::string path;
                    size_t i = 0;
                    while (stack[i].first != c.callee) ++i;
                    for (; i < stack.size(); ++i) path += stack[i].first + " -> ";
                    path += c.callee;
                    throw CompileError(c.loc, "recursive use of block '" + c.callee + "' (" + path + ")");
                }
                if (col == White) {
                    col = Gray;
                    stack.push_back({c.callee, 0});
                }
            }
        }
    }

    // Blocks calling blocks several times multiply: nine levels of four calls
    // are 262,144 instances of the innermost. The ops each body would expand
    // to are counted before any is built (op calls only, so never more than
    // the graph gets), and a network over kMaxGraphNodes is an error naming
    // the chain of blocks that multiplies most.
    void checkExpandedSize(const NetworkDef &net) {
        struct Body {
            int64_t ops = 0;
            std::vector<CallSite> blockCalls;
        };
        auto bodyOf = [&](const std::vector<Stmt> &stmts) {
            Body b;
            std::vector<CallSite> calls;
            for (auto &st : stmts)
                if (st.value) collectCalls(*st.value, calls);
            for (auto &c : calls) {
                if (blocks_.count(c.callee)) b.blockCalls.push_back(c);
                else ++b.ops;
            }
            return b;
        };
        std::map<std::string, Body> bodies;
        for (auto &b : prog_.blocks) bodies[b.name] = bodyOf(b.body);
        const int64_t cap = int64_t(kMaxGraphNodes) + 1; // counts saturate here
        std::map<std::string, int64_t> size;
        // Sizes in post-order (no recursion: checkRecursion ran), iteratively.
        auto total = [&](const Body &b) -> int64_t {
            int64_t n = b.ops;
            for (auto &c : b.blockCalls) n = std::min(cap, n + size.at(c.callee));
            return n;
        };
        for (auto &b : prog_.blocks) {
            std::vector<std::pair<std::string, size_t>> stack{{b.name, 0}};
            while (!stack.empty()) {
                auto &[name, idx] = stack.back();
                if (size.count(name)) { stack.pop_back(); continue; }
                const std::vector<CallSite> &calls = bodies.at(name).blockCalls;
                if (idx < calls.size()) {
                    const std::string &callee = calls[idx++].callee;
                    if (!size.count(callee)) stack.push_back({callee, 0});
                    continue;
                }
                size[name] = total(bodies.at(name));
                stack.pop_back();
            }
        }
        Body network = bodyOf(net.body);
        if (total(network) < cap) return;
        // The chain: from the network, each time into the callee contributing most.
        std::string chain = net.name;
        const Body *at = &network;
        SourceLoc loc = net.inputLoc;
        for (int depth = 0; at && !at->blockCalls.empty(); ++depth) {
            std::map<std::string, int64_t> calls;
            for (auto &c : at->blockCalls) ++calls[c.callee];
            auto biggest = std::max_element(calls.begin(), calls.end(), [&](auto &a, auto &b) {
                return std::min(cap, a.second * size.at(a.first)) < std::min(cap, b.second * size.at(b.first));
            });
            if (depth == 0)
                for (auto &c : at->blockCalls)
                    if (c.callee == biggest->first) { loc = c.loc; break; }
            if (depth == 8) { chain += " -> ..."; break; }
            chain += " -> " + biggest->first + (biggest->second > 1 ? " (x" + std::to_string(biggest->second) + ")" : "");
            at = &bodies.at(biggest->first);
        }
        throw CompileError(loc, "network expands to more than " + std::to_string(kMaxGraphNodes) +
                                    " ops through its blocks (" + chain + ")");
    }

    [[noreturn]] void undefinedName(const std::string &name, SourceLoc loc, const Scope &scope) {
        if (OpRegistry::get().find(name) || blocks_.count(name))
            throw CompileError(loc, "use of undefined name '" + name + "' ('" + name +
                                        "' is an op; write 'x -> " + name + "' or '" + name + "(x)')");
        std::vector<std::string> cands;
        for (auto &kv : scope.vars) cands.push_back(kv.first);
        std::string msg = "use of undefined name '" + name + "'";
        std::string s = closestMatch(name, cands);
        if (!s.empty()) msg += "; did you mean '" + s + "'?";
        throw CompileError(loc, msg);
    }

    int lowerExpr(const Expr &e, Scope &scope) {
        switch (e.kind) {
        case Expr::Name: {
            auto it = scope.vars.find(e.name);
            if (it == scope.vars.end()) undefinedName(e.name, e.loc, scope);
            if (it->second.isInt)
                throw CompileError(e.loc, "'" + e.name + "' is an integer parameter, not a tensor");
            return it->second.node;
        }
        case Expr::Call: return lowerCall(e.call, std::nullopt, scope);
        case Expr::Chain: {
            int n = lowerExpr(*e.head, scope);
            for (auto &step : e.steps) n = lowerCall(step, n, scope);
            return n;
        }
        case Expr::Sum: {
            int n = lowerExpr(*e.terms[0], scope);
            const OpDef *add = OpRegistry::get().find("add");
            for (size_t i = 1; i < e.terms.size(); ++i) {
                int r = lowerExpr(*e.terms[i], scope);
                if (!add) throw CompileError(e.plusLocs[i - 1], "'+' needs the 'add' op, which is not registered");
                n = emitOp(*add, {n, r}, {}, {}, std::nullopt, e.plusLocs[i - 1], scope);
            }
            return n;
        }
        }
        throw std::logic_error("bad expression kind");
    }

    // An argument that is a constant: its value, or nullopt if it is a tensor expression.
    std::optional<AttrValue> constant(const Value &v, const Scope &scope) {
        auto elem = [&](const PairElem &p) -> int64_t {
            if (p.name.empty()) return p.value;
            auto it = scope.vars.find(p.name);
            if (it == scope.vars.end()) undefinedName(p.name, p.loc, scope);
            if (!it->second.isInt) throw CompileError(p.loc, "'" + p.name + "' is a tensor, not an integer");
            return it->second.value;
        };
        switch (v.kind) {
        case Value::Int: return AttrValue(v.intValue);
        case Value::Float: return AttrValue(v.floatValue);
        case Value::Bool: return AttrValue(v.boolValue);
        case Value::String: return AttrValue(v.stringValue);
        case Value::Pair: return AttrValue(Pair{elem(v.h), elem(v.w)});
        case Value::Expr:
            if (v.expr->kind == Expr::Name) {
                auto it = scope.vars.find(v.expr->name);
                if (it != scope.vars.end() && it->second.isInt) return AttrValue(it->second.value);
            }
            return std::nullopt;
        }
        return std::nullopt;
    }

    int lowerCall(const Call &call, std::optional<int> lhs, Scope &scope) {
        auto bit = blocks_.find(call.callee);
        if (bit != blocks_.end()) return inlineBlock(*bit->second, call, lhs, scope);
        const OpDef *def = OpRegistry::get().find(call.callee);
        if (!def) {
            if (scope.vars.count(call.callee))
                throw CompileError(call.loc, "'" + call.callee + "' is a value, not an op or block");
            std::vector<std::string> cands;
            for (auto *d : OpRegistry::get().all()) cands.push_back(d->name);
            for (auto &kv : blocks_) cands.push_back(kv.first);
            std::string msg = "unknown op '" + call.callee + "'";
            std::string s = closestMatch(call.callee, cands);
            if (!s.empty()) msg += "; did you mean '" + s + "'?";
            throw CompileError(call.loc, msg);
        }
        std::vector<int> inputs;
        if (lhs) inputs.push_back(*lhs);
        std::vector<AttrValue> positional;
        std::vector<std::pair<std::string, AttrValue>> keywords;
        std::optional<std::string> explicitName;
        for (auto &a : call.args) {
            if (a.keyword == "name") {
                if (!def->hasParams())
                    throw CompileError(a.keywordLoc, "'" + def->name + "' has no parameters to name");
                explicitName = nameArg(a);
                continue;
            }
            std::optional<AttrValue> c = constant(a.value, scope);
            if (c) {
                if (a.keyword.empty()) positional.push_back(std::move(*c));
                else keywords.emplace_back(a.keyword, std::move(*c));
                continue;
            }
            if (!a.keyword.empty())
                throw CompileError(a.value.loc, "argument '" + a.keyword + "' must be a constant, not a tensor");
            inputs.push_back(lowerExpr(*a.value.expr, scope));
        }
        return emitOp(*def, inputs, positional, keywords, explicitName, call.loc, scope);
    }

    static std::string nameArg(const Arg &a) {
        if (a.value.kind != Value::String) throw CompileError(a.value.loc, "'name' must be a string");
        if (a.value.stringValue.empty()) throw CompileError(a.value.loc, "'name' must not be empty");
        return a.value.stringValue;
    }

    std::string localName(Scope &scope, const std::string &base, const std::optional<std::string> &explicitName) {
        int &k = scope.counters[base];
        ++k;
        if (explicitName) {
            scope.taken.insert(*explicitName);
            return *explicitName;
        }
        int i = k;
        std::string cand = base + std::to_string(i);
        while (scope.taken.count(cand)) cand = base + std::to_string(++i);
        scope.taken.insert(cand);
        return cand;
    }

    static std::string plural(size_t n, const char *word) {
        return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
    }

    int emitOp(const OpDef &def, const std::vector<int> &inputs, const std::vector<AttrValue> &positional,
               const std::vector<std::pair<std::string, AttrValue>> &keywords,
               const std::optional<std::string> &explicitName, SourceLoc loc, Scope &scope) {
        if (g_.nodes.size() >= kMaxGraphNodes)
            throw CompileError(loc, "network is too large (more than " + std::to_string(kMaxGraphNodes) + " ops)");
        Node node;
        try {
            std::string name = def.hasParams() ? scope.prefix + localName(scope, def.name, explicitName) : "";
            node = g_.create(def, inputs, bindArguments(def, positional, keywords), name);
        } catch (const OpError &e) {
            throw CompileError(loc, e.what());
        }
        node.loc = loc;
        for (auto &p : node.params) {
            int64_t elems = 1;
            for (int64_t d : p.decl.shape) elems = checkedMul(elems, d);
            if (elems < 0) throw CompileError(loc, "parameter '" + p.name + "' is too large");
            if (!paramNames_.emplace(p.name, loc).second)
                throw CompileError(loc, "duplicate parameter name '" + p.name + "'");
        }
        return g_.add(std::move(node));
    }

    int inlineBlock(const BlockDef &b, const Call &call, std::optional<int> lhs, Scope &scope) {
        for (auto *a : active_)
            if (a == &b) throw CompileError(call.loc, "recursive use of block '" + b.name + "'");
        if (int(active_.size()) >= kMaxBlockDepth)
            throw CompileError(call.loc, "blocks nested too deeply");
        std::vector<int> inputs;
        if (lhs) inputs.push_back(*lhs);
        std::vector<std::optional<int64_t>> bound(b.params.size());
        std::optional<std::string> explicitName;
        size_t npos = 0;
        auto intArg = [&](const Arg &a, const std::string &pname) -> int64_t {
            std::optional<AttrValue> c = constant(a.value, scope);
            if (!c || !std::holds_alternative<int64_t>(*c))
                throw CompileError(a.value.loc, "argument '" + pname + "' of block '" + b.name + "' must be an integer");
            return std::get<int64_t>(*c);
        };
        std::vector<const Arg *> tensorArgs;
        for (auto &a : call.args) {
            if (a.keyword == "name") { explicitName = nameArg(a); continue; }
            if (a.keyword.empty()) {
                if (!constant(a.value, scope)) { tensorArgs.push_back(&a); continue; }
                if (npos >= b.params.size())
                    throw CompileError(a.value.loc, "block '" + b.name + "' takes at most " +
                                                        plural(b.params.size(), "argument") + ", got " +
                                                        std::to_string(npos + 1 + countRemainingPositional(call, &a, scope)));
                bound[npos] = intArg(a, b.params[npos].name);
                ++npos;
                continue;
            }
            size_t i = 0;
            while (i < b.params.size() && b.params[i].name != a.keyword) ++i;
            if (i == b.params.size())
                throw CompileError(a.keywordLoc, "block '" + b.name + "' has no parameter named '" + a.keyword + "'");
            if (bound[i]) throw CompileError(a.keywordLoc, "argument '" + a.keyword + "' given twice");
            bound[i] = intArg(a, a.keyword);
        }
        for (auto *a : tensorArgs) inputs.push_back(lowerExpr(*a->value.expr, scope));
        if (inputs.size() != 1)
            throw CompileError(call.loc, "block '" + b.name + "' takes 1 input tensor, got " + std::to_string(inputs.size()));
        for (size_t i = 0; i < b.params.size(); ++i) {
            if (bound[i]) continue;
            if (!b.params[i].defaultValue)
                throw CompileError(call.loc, "block '" + b.name + "' needs argument '" + b.params[i].name + "'");
            bound[i] = b.params[i].defaultValue;
        }
        Scope inner;
        inner.prefix = scope.prefix + localName(scope, b.name, explicitName) + ".";
        inner.vars[b.inputName] = Binding{false, inputs[0], 0};
        for (size_t i = 0; i < b.params.size(); ++i) inner.vars[b.params[i].name] = Binding{true, -1, *bound[i]};
        for (auto &s : b.body)
            if (s.value) collectNames(*s.value, inner.taken);
        active_.push_back(&b);
        int result = lowerBody(b.body, inner);
        active_.pop_back();
        return result;
    }

    size_t countRemainingPositional(const Call &call, const Arg *after, const Scope &scope) {
        size_t n = 0;
        bool seen = false;
        for (auto &a : call.args) {
            if (&a == after) { seen = true; continue; }
            if (seen && a.keyword.empty() && constant(a.value, scope)) ++n;
        }
        return n;
    }

    void pruneUnreachable() {
        std::vector<bool> keep(g_.nodes.size(), false);
        keep[0] = true;
        if (g_.result >= 0) keep[size_t(g_.result)] = true;
        for (auto &a : g_.aux) keep[size_t(a.node)] = true;
        for (size_t i = g_.nodes.size(); i-- > 0;)
            if (keep[i])
                for (int op : g_.nodes[i].operands) keep[size_t(op)] = true;
        for (bool k : keep)
            if (!k) { g_.retain(keep); return; }
    }

    const Program &prog_;
    Graph g_;
    std::map<std::string, const BlockDef *> blocks_;
    std::unordered_map<std::string, SourceLoc> paramNames_;
    std::vector<const BlockDef *> active_;
};

} // namespace

Graph lowerToIR(const Program &program) {
    if (!program.network) throw CompileError(SourceLoc{1, 1}, "no network definition in file");
    return Lowerer(program).run();
}

} // namespace cnnc
