// The graph IR: a network as a list of SSA nodes in topological order.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ir/Attr.h"
#include "ir/OpDef.h"
#include "ir/SourceLoc.h"
#include "ir/TensorType.h"

namespace cnnc {

// A parameter tensor owned by a node, e.g. "features.0.weight".
struct Param {
    std::string name;
    ParamDecl decl;
};

struct Node {
    int id = -1;                // index in Graph::nodes; printed as %id
    const OpDef *def = nullptr; // null only for the graph input
    std::vector<int> operands;  // node ids
    Attrs attrs;
    std::string name;           // parameter prefix ("conv1"); empty for ops without parameters
    std::vector<Param> params;  // derived from def->params and name
    TensorType type;
    SourceLoc loc;
    int kernel = -1;            // fused kernel this node belongs to (-1: not yet grouped)
    int64_t arenaOffset = -1;   // planned activation offset, floats per sample (-1: not planned / not in the arena)

    bool isInput() const { return def == nullptr; }
    const std::string &opName() const;
};

// An auxiliary classifier head: only training uses it (loss += weight * aux loss).
struct AuxHead {
    int node = -1;
    double weight = 0.0;
};

struct Graph {
    std::string name;           // the network's name; prefixes every exported symbol
    std::vector<Node> nodes;    // nodes[0] is the input
    int result = -1;            // the node the network returns
    std::vector<AuxHead> aux;
    int64_t arenaFloats = -1;   // planned arena size per sample (-1: memory not planned yet)
    // The only batch size the library accepts, or 0: any batch >= 1. An ONNX
    // model's fixed first input dimension above 1 (a symbolic one, or 1,
    // becomes any batch); the runtime refuses other sizes with an error.
    int64_t fixedBatch = 0;
    // What a network may fix its batch at: 2 to 2^31-1 (1 is any batch).
    static constexpr bool validFixedBatch(int64_t batch) { return batch >= 2 && batch <= INT32_MAX; }

    const Node &input() const { return nodes.front(); }
    const std::string &inputName() const { return nodes.front().name; }
    Node &node(int id) { return nodes.at(size_t(id)); }
    const Node &node(int id) const { return nodes.at(size_t(id)); }

    // Appends a node (operands must already exist) and returns its id.
    int add(Node n);
    // A node of `def` reading `operands` (existing nodes) with bound
    // attributes: checks the operand count, infers the output type and
    // declares the parameters, named after `name`. Throws OpError with what
    // is wrong; the caller adds the source location and the node.
    Node create(const OpDef &def, std::vector<int> operands, Attrs attrs, std::string name = "") const;
    // Input types of a node, in operand order.
    std::vector<TensorType> operandTypes(const Node &n) const;
    // Removes nodes not in `keep` (a flag per node id) and renumbers the rest,
    // preserving order. Operands, result and aux heads are remapped.
    void retain(const std::vector<bool> &keep);
    // Visits nodes in order (operands already remapped); where `removes` says
    // so, the node goes away and its users, the result and aux heads read its
    // first operand instead.
    void bypassNodes(const std::function<bool(Node &)> &removes);
    // Number of users of each node (result and aux heads count as users).
    std::vector<int> useCounts() const;
    // A flag per node: whether any of `roots` depends on it (roots included).
    std::vector<bool> liveFrom(const std::vector<int> &roots) const;
    // All parameters in node order.
    std::vector<const Param *> parameters() const;
};

// Fills node.params from its OpDef and name.
void attachParams(Node &node, const std::vector<TensorType> &inputTypes);

} // namespace cnnc
