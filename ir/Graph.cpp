#include "ir/Graph.h"

#include <stdexcept>

namespace cnnc {

const std::string &Node::opName() const {
    static const std::string input = "input";
    return def ? def->name : input;
}

int Graph::add(Node n) {
    n.id = int(nodes.size());
    for (int op : n.operands)
        if (op < 0 || op >= n.id) throw std::logic_error("operand refers to a later node");
    nodes.push_back(std::move(n));
    return nodes.back().id;
}

static std::string count(size_t n, const char *word) {
    return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

Node Graph::create(const OpDef &def, std::vector<int> operands, Attrs attrs, std::string name) const {
    const size_t n = operands.size();
    if (def.maxInputs >= 0 && def.minInputs == def.maxInputs && n != size_t(def.minInputs))
        throw OpError("'" + def.name + "' takes " + count(size_t(def.minInputs), "input tensor") + ", got " +
                      std::to_string(n));
    if (n < size_t(def.minInputs))
        throw OpError("'" + def.name + "' takes at least " + count(size_t(def.minInputs), "input tensor") +
                      ", got " + std::to_string(n));
    if (def.maxInputs >= 0 && n > size_t(def.maxInputs))
        throw OpError("'" + def.name + "' takes at most " + count(size_t(def.maxInputs), "input tensor") +
                      ", got " + std::to_string(n));
    Node node;
    node.def = &def;
    node.operands = std::move(operands);
    node.attrs = std::move(attrs);
    if (def.hasParams()) node.name = std::move(name);
    const std::vector<TensorType> types = operandTypes(node);
    if (!def.inferType) throw OpError("op '" + def.name + "' has no shape rule");
    node.type = def.inferType(OpCall{types, node.attrs});
    if (node.type.elementsPerSample() < 0) throw OpError("output shape " + node.type.shapeStr() + " is too large");
    attachParams(node, types);
    return node;
}

std::vector<TensorType> Graph::operandTypes(const Node &n) const {
    std::vector<TensorType> types;
    for (int op : n.operands) types.push_back(node(op).type);
    return types;
}

void Graph::retain(const std::vector<bool> &keep) {
    std::vector<int> newId(nodes.size(), -1);
    std::vector<Node> kept;
    for (auto &n : nodes) {
        if (!keep[size_t(n.id)]) continue;
        newId[size_t(n.id)] = int(kept.size());
        kept.push_back(std::move(n));
    }
    for (auto &n : kept) {
        n.id = newId[size_t(n.id)];
        for (int &op : n.operands) {
            op = newId[size_t(op)];
            if (op < 0) throw std::logic_error("retain() dropped a node that is still used");
        }
    }
    nodes = std::move(kept);
    result = newId[size_t(result)];
    std::vector<AuxHead> keptAux;
    for (auto &a : aux)
        if (newId[size_t(a.node)] >= 0) keptAux.push_back({newId[size_t(a.node)], a.weight});
    aux = std::move(keptAux);
}

void Graph::bypassNodes(const std::function<bool(Node &)> &removes) {
    std::vector<int> replacement(nodes.size());
    std::vector<bool> keep(nodes.size(), true);
    for (auto &n : nodes) {
        replacement[size_t(n.id)] = n.id;
        for (int &op : n.operands) op = replacement[size_t(op)];
        if (!n.isInput() && removes(n)) {
            replacement[size_t(n.id)] = n.operands[0];
            keep[size_t(n.id)] = false;
        }
    }
    result = replacement[size_t(result)];
    for (auto &a : aux) a.node = replacement[size_t(a.node)];
    retain(keep);
}

std::vector<bool> Graph::liveFrom(const std::vector<int> &roots) const {
    std::vector<bool> live(nodes.size(), false);
    for (int r : roots) live[size_t(r)] = true;
    for (size_t i = nodes.size(); i-- > 0;) // operands come before their users
        if (live[i])
            for (int op : nodes[i].operands) live[size_t(op)] = true;
    return live;
}

std::vector<int> Graph::useCounts() const {
    std::vector<int> uses(nodes.size(), 0);
    for (auto &n : nodes)
        for (int op : n.operands) ++uses[size_t(op)];
    if (result >= 0) ++uses[size_t(result)];
    for (auto &a : aux) ++uses[size_t(a.node)];
    return uses;
}

std::vector<const Param *> Graph::parameters() const {
    std::vector<const Param *> out;
    for (auto &n : nodes)
        for (auto &p : n.params) out.push_back(&p);
    return out;
}

void attachParams(Node &node, const std::vector<TensorType> &inputTypes) {
    node.params.clear();
    if (!node.def || !node.def->hasParams()) return;
    for (auto &decl : node.def->params(OpCall{inputTypes, node.attrs}))
        node.params.push_back(Param{(decl.owner.empty() ? node.name : decl.owner) + "." + decl.suffix, decl});
}

} // namespace cnnc
