#include "ir/OpDef.h"

namespace cnnc {

const ArgSpec *OpDef::findArg(const std::string &n) const {
    for (auto &a : args)
        if (a.name == n) return &a;
    return nullptr;
}

std::string OpDef::signature() const {
    std::string out = name + "(";
    const char *separator = "";
    // Inputs after the first come from `->` only for one-input ops; others name theirs.
    if (maxInputs < 0) out += "tensors...", separator = ", ";
    else if (minInputs > 1)
        for (int i = 0; i < minInputs; ++i) out += separator + std::string(1, char('a' + i)), separator = ", ";
    for (const ArgSpec &a : args) {
        if (a.internal) continue;
        out += separator + a.name;
        separator = ", ";
        if (!a.defaultFrom.empty()) {
            out += "=" + a.defaultFrom;
        } else if (a.defaultValue) {
            const Pair *square = std::get_if<Pair>(&*a.defaultValue);
            out += "=" + (square && square->h == square->w ? std::to_string(square->h) : formatAttr(*a.defaultValue));
        }
    }
    return out + ")";
}

OpRegistry &OpRegistry::get() {
    static OpRegistry registry;
    return registry;
}

void OpRegistry::add(OpDef def) {
    std::string key = def.name;
    ops_[key] = std::move(def);
}

const OpDef *OpRegistry::find(const std::string &name) const {
    auto it = ops_.find(name);
    return it == ops_.end() ? nullptr : &it->second;
}

std::vector<const OpDef *> OpRegistry::all() const {
    std::vector<const OpDef *> out;
    for (auto &kv : ops_) out.push_back(&kv.second);
    return out;
}

// Converts a value to the declared kind, or explains why it cannot be.
static AttrValue coerce(const ArgSpec &spec, const AttrValue &v) {
    auto bad = [&]() -> OpError {
        return OpError("argument '" + spec.name + "' expects " + attrKindName(spec.kind) + ", got " + formatAttr(v));
    };
    switch (spec.kind) {
    case AttrKind::Int:
        if (std::holds_alternative<int64_t>(v)) return v;
        throw bad();
    case AttrKind::Float:
        if (auto i = std::get_if<int64_t>(&v)) return double(*i);
        if (std::holds_alternative<double>(v)) return v;
        throw bad();
    case AttrKind::Bool:
        if (std::holds_alternative<bool>(v)) return v;
        throw bad();
    case AttrKind::String:
        if (std::holds_alternative<std::string>(v)) return v;
        throw bad();
    case AttrKind::IntOrPair:
        if (auto i = std::get_if<int64_t>(&v)) return Pair{*i, *i};
        if (std::holds_alternative<Pair>(v)) return v;
        throw bad();
    }
    throw bad();
}

Attrs bindArguments(const OpDef &def, const std::vector<AttrValue> &positional,
                    const std::vector<std::pair<std::string, AttrValue>> &keywords, bool allowInternal) {
    size_t publicArgs = 0;
    while (publicArgs < def.args.size() && !def.args[publicArgs].internal) ++publicArgs;
    if (positional.size() > publicArgs)
        throw OpError("'" + def.name + "' takes at most " + std::to_string(publicArgs) + " argument" +
                      (publicArgs == 1 ? "" : "s") + ", got " + std::to_string(positional.size()));
    std::vector<std::optional<AttrValue>> bound(def.args.size());
    for (size_t i = 0; i < positional.size(); ++i) bound[i] = coerce(def.args[i], positional[i]);
    for (auto &[key, value] : keywords) {
        size_t i = 0;
        while (i < def.args.size() && def.args[i].name != key) ++i;
        if (i == def.args.size() || (def.args[i].internal && !allowInternal))
            throw OpError("'" + def.name + "' has no argument named '" + key + "'");
        if (bound[i]) throw OpError("argument '" + key + "' given twice");
        bound[i] = coerce(def.args[i], value);
    }
    Attrs attrs;
    for (size_t i = 0; i < def.args.size(); ++i) {
        if (def.args[i].internal && !bound[i]) continue;
        if (!bound[i] && !def.args[i].defaultFrom.empty()) {
            const AttrValue *from = attrs.find(def.args[i].defaultFrom);
            if (from) bound[i] = *from;
        }
        if (!bound[i]) {
            if (!def.args[i].defaultValue) throw OpError("'" + def.name + "' needs argument '" + def.args[i].name + "'");
            bound[i] = coerce(def.args[i], *def.args[i].defaultValue);
        }
        attrs.set(def.args[i].name, *bound[i]);
    }
    return attrs;
}

} // namespace cnnc
