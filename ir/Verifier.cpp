#include "ir/Verifier.h"

#include <map>
#include <unordered_map>

#include "ir/Kernels.h"

namespace cnnc {

CompileError invalidNode(const Node &n, const std::string &msg) {
    return CompileError(n.loc, "invalid IR: %" + std::to_string(n.id) + " (" + n.opName() + "): " + msg);
}

namespace {

// Kernel groups (Node::kernel) as the fuse pass makes them, so that codegen
// can build each as one function run at one point: only computing nodes,
// every value but the group's last used only inside the group, and nothing
// the group reads computed from the group (the group would have to run both
// before and after it).
void verifyKernelGroups(const Graph &g) {
    const auto &fail = invalidNode;
    std::map<int, std::vector<int>> groups;
    for (const Node &n : g.nodes)
        if (n.kernel >= 0) {
            if (!needsKernel(n)) throw fail(n, "kernel=" + std::to_string(n.kernel) + " on a node that runs no code");
            groups[n.kernel].push_back(n.id);
        }
    std::vector<std::vector<int>> users(g.nodes.size());
    for (const Node &n : g.nodes)
        for (int op : n.operands) users[size_t(op)].push_back(n.id);
    for (auto &[kernel, ids] : groups) {
        const std::string name = "kernel=" + std::to_string(kernel);
        std::vector<bool> inside(g.nodes.size(), false);
        for (int id : ids) inside[size_t(id)] = true;
        for (int id : ids) {
            if (id == ids.back()) break;
            if (id == g.result) throw fail(g.node(id), "the network's result is not the last node of " + name);
            for (auto &a : g.aux)
                if (a.node == id) throw fail(g.node(id), "an aux head is not the last node of " + name);
            for (int user : users[size_t(id)])
                if (!inside[size_t(user)])
                    throw fail(g.node(user), "reads %" + std::to_string(id) + ", which is inside " + name +
                                                 " but not its output (its last node, %" +
                                                 std::to_string(ids.back()) + ")");
        }
        // Ancestors of the group's operands that come after its first node.
        std::vector<int> stack;
        std::vector<bool> seen(g.nodes.size(), false);
        for (int id : ids)
            for (int op : g.node(id).operands)
                if (!inside[size_t(op)] && op > ids.front()) stack.push_back(op);
        while (!stack.empty()) {
            int v = stack.back();
            stack.pop_back();
            if (seen[size_t(v)]) continue;
            seen[size_t(v)] = true;
            for (int op : g.node(v).operands) {
                if (inside[size_t(op)])
                    throw fail(g.node(v), "is computed from " + name + " (%" + std::to_string(op) +
                                              ") and read by it: the kernel cannot run before or after it");
                if (op > ids.front()) stack.push_back(op);
            }
        }
    }
}

} // namespace

void verify(const Graph &g) {
    const auto &fail = invalidNode;
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
    verifyKernelGroups(g);
}

} // namespace cnnc
