#include "ir/Attr.h"

#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace cnnc {

const char *attrKindName(AttrKind k) {
    switch (k) {
    case AttrKind::Int: return "integer";
    case AttrKind::Float: return "number";
    case AttrKind::Bool: return "boolean";
    case AttrKind::String: return "string";
    case AttrKind::IntOrPair: return "integer or [h, w] pair";
    }
    return "?";
}

static std::string formatFloat(double d) {
    // Shortest text that reads back to the same double, always with a '.' or exponent
    // so the IR parser knows it is a float.
    char buf[64];
    for (int precision = 1; precision <= 17; ++precision) {
        std::snprintf(buf, sizeof buf, "%.*g", precision, d);
        if (std::strtod(buf, nullptr) == d) break;
    }
    std::string s = buf;
    if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
    return s;
}

std::string formatAttr(const AttrValue &v) {
    if (auto i = std::get_if<int64_t>(&v)) return std::to_string(*i);
    if (auto d = std::get_if<double>(&v)) return formatFloat(*d);
    if (auto b = std::get_if<bool>(&v)) return *b ? "true" : "false";
    if (auto p = std::get_if<Pair>(&v)) return "[" + std::to_string(p->h) + ", " + std::to_string(p->w) + "]";
    std::string out = "\"";
    for (char ch : std::get<std::string>(v)) {
        if (ch == '"' || ch == '\\') out += '\\';
        out += ch;
    }
    return out + "\"";
}

void Attrs::set(const std::string &name, AttrValue v) {
    for (auto &item : items_)
        if (item.first == name) { item.second = std::move(v); return; }
    items_.emplace_back(name, std::move(v));
}

const AttrValue *Attrs::find(const std::string &name) const {
    for (auto &item : items_)
        if (item.first == name) return &item.second;
    return nullptr;
}

template <typename T>
static const T &getAs(const Attrs &attrs, const std::string &name) {
    const AttrValue *v = attrs.find(name);
    if (!v) throw std::logic_error("missing attribute '" + name + "'");
    const T *t = std::get_if<T>(v);
    if (!t) throw std::logic_error("attribute '" + name + "' has the wrong kind");
    return *t;
}

int64_t Attrs::getInt(const std::string &name) const { return getAs<int64_t>(*this, name); }
double Attrs::getFloat(const std::string &name) const {
    const AttrValue *v = find(name);
    if (v && std::holds_alternative<int64_t>(*v)) return double(std::get<int64_t>(*v));
    return getAs<double>(*this, name);
}
bool Attrs::getBool(const std::string &name) const { return getAs<bool>(*this, name); }
const std::string &Attrs::getString(const std::string &name) const { return getAs<std::string>(*this, name); }
Pair Attrs::getPair(const std::string &name) const { return getAs<Pair>(*this, name); }

} // namespace cnnc
