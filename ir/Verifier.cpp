#include "ir/Verifier.h"

#include <unordered_map>

namespace cnnc {

void verify(const Graph &g) {
    auto fail = [](const Node &n, const std::string &msg) -> CompileError {
        return CompileError(n.loc, "invalid IR: %" + std::to_string(n.id) + " (" + n.opName() + "): " + msg);
    };
    if (g.nodes.empty()) throw CompileError(SourceLoc{}, "invalid IR: graph has no nodes");
    if (!g.nodes[0].isInput()) throw CompileError(g.nodes[0].loc, "invalid IR: node 0 is not the input");
    std::unordered_map<std::string, int> paramOwner;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const Node &n = g.nodes[i];
        if (n.id != int(i))
            throw CompileError(n.loc, "invalid IR: node at position " + std::to_string(i) + " has id %" +
                                          std::to_string(n.id));
        if (n.type.rank() != 1 && n.type.rank() != 3) throw fail(n, "type " + n.type.str() + " must have rank 1 or 3");
        for (int64_t d : n.type.dims)
            if (d <= 0) throw fail(n, "type " + n.type.str() + " has a non-positive dimension");
        if (n.type.elementsPerSample() < 0) throw fail(n, "type " + n.type.str() + " is too large");
        if (i == 0) {
            if (!n.operands.empty()) throw fail(n, "the input has operands");
            continue;
        }
        if (n.isInput()) throw fail(n, "a second input node");
        for (int op : n.operands)
            if (op < 0 || op >= n.id) throw fail(n, "operand %" + std::to_string(op) + " is not an earlier node");
        const OpDef &def = *n.def;
        size_t count = n.operands.size();
        if (count < size_t(def.minInputs) || (def.maxInputs >= 0 && count > size_t(def.maxInputs)))
            throw fail(n, std::to_string(count) + " operands is the wrong number");
        std::vector<TensorType> types = g.operandTypes(n);
        TensorType expected;
        try {
            std::vector<std::pair<std::string, AttrValue>> kw(n.attrs.items().begin(), n.attrs.items().end());
            Attrs rebound = bindArguments(def, {}, kw, /*allowInternal=*/true);
            bool same = rebound.items().size() == n.attrs.items().size();
            for (auto &[key, value] : rebound.items()) {
                const AttrValue *have = n.attrs.find(key);
                if (!have || !(*have == value)) same = false;
            }
            if (!same) throw OpError("attributes do not match the op's arguments (missing or mistyped)");
            if (!def.inferType) throw OpError("op has no shape rule");
            expected = def.inferType(OpCall{types, n.attrs});
        } catch (const OpError &e) {
            throw fail(n, e.what());
        }
        if (expected != n.type)
            throw fail(n, "type is " + n.type.str() + " but the op infers " + expected.str());
        if (def.hasParams()) {
            if (n.name.empty()) throw fail(n, "an op with parameters has no name");
            Node copy;
            copy.def = n.def;
            copy.attrs = n.attrs;
            copy.name = n.name;
            try {
                attachParams(copy, types);
            } catch (const OpError &e) {
                throw fail(n, e.what());
            }
            bool same = copy.params.size() == n.params.size();
            for (size_t k = 0; same && k < copy.params.size(); ++k)
                same = copy.params[k].name == n.params[k].name && copy.params[k].decl.shape == n.params[k].decl.shape;
            if (!same) throw fail(n, "parameters do not match the op's declaration");
        } else if (!n.params.empty()) {
            throw fail(n, "an op without parameters has parameters");
        }
        for (auto &p : n.params) {
            auto [it, fresh] = paramOwner.emplace(p.name, n.id);
            if (!fresh)
                throw fail(n, "parameter name '" + p.name + "' is also used by %" + std::to_string(it->second));
        }
    }
    if (g.result < 0 || g.result >= int(g.nodes.size()))
        throw CompileError(SourceLoc{}, "invalid IR: result %" + std::to_string(g.result) + " does not exist");
    for (auto &a : g.aux)
        if (a.node < 0 || a.node >= int(g.nodes.size()))
            throw CompileError(SourceLoc{}, "invalid IR: aux head %" + std::to_string(a.node) + " does not exist");
}

} // namespace cnnc
