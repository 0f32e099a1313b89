#include "codegen/Preparations.h"

#include <stdexcept>

#include "lowering/Derivation.h"

namespace cnnc {

namespace {

// The parameter at `index` in the same node's list as `p`.
const Param *siblingParam(const Graph &graph, const Param *p, int index) {
    for (const Node &n : graph.nodes)
        if (!n.params.empty() && p >= &n.params.front() && p <= &n.params.back()) return &n.params.at(size_t(index));
    throw std::logic_error("derived parameter '" + p->name + "' outside the inference graph");
}

std::vector<const Param *> sourcesOf(const Graph &graph, const Param *p,
                                     const std::map<const Param *, const Param *> &preparedFrom) {
    if (auto it = preparedFrom.find(p); it != preparedFrom.end()) return {it->second};
    std::vector<const Param *> sources;
    for (int index : p->decl.sources) sources.push_back(index < 0 ? nullptr : siblingParam(graph, p, index));
    return sources;
}

// What the compiled kernel depends on: the derivation, the ranks of the
// sources present and of the result, and the derivation's key.
std::string signature(const ParamDecl &derived, const std::vector<const ParamDecl *> &sources) {
    std::string text = std::string("prepare|") + derived.derivation->name + "|";
    for (const ParamDecl *s : sources) text += (s ? std::to_string(s->shape.size()) : std::string("-")) + ",";
    return text + "|" + std::to_string(derived.shape.size()) + "|" + derived.derivation->key(derived);
}

} // namespace

BuiltKernel buildPreparation(const ParamDecl &derived, const std::vector<const ParamDecl *> &sources) {
    BuiltKernel built;
    std::vector<Halide::ImageParam> inputs;
    for (size_t i = 0; i < sources.size(); ++i) {
        inputs.emplace_back();
        if (!sources[i]) continue;
        inputs.back() = Halide::ImageParam(Halide::Float(32), int(sources[i]->shape.size()), "source" + std::to_string(i));
        built.inputs.push_back(inputs.back());
        built.arguments.push_back(inputs.back());
    }
    Halide::Func out = derived.derivation->define(inputs, derived);
    if (out.dimensions() != int(derived.shape.size()))
        throw std::logic_error(std::string("derivation ") + derived.derivation->name + " defines the wrong rank");
    built.pipeline = Halide::Pipeline(out);
    return built;
}

std::vector<Preparation> planPreparations(const Graph &graph, const std::vector<const Param *> &params,
                                          const std::map<const Param *, const Param *> &preparedFrom,
                                          const Halide::Target &target, KernelSet &kernels, KernelCounts &counts) {
    std::vector<Preparation> preparations;
    for (const Param *p : params) {
        if (!p->decl.derived()) continue;
        Preparation prep{p, sourcesOf(graph, p, preparedFrom), ""};
        std::vector<const ParamDecl *> decls;
        for (const Param *s : prep.sources) decls.push_back(s ? &s->decl : nullptr);
        const ParamDecl derived = p->decl;
        prep.fn = kernels.add(
            signature(derived, decls), target,
            [derived, decls](const Halide::Target &) { return buildPreparation(derived, decls); }, counts);
        preparations.push_back(std::move(prep));
    }
    return preparations;
}

} // namespace cnnc
