// Attribute values carried by IR nodes: the arguments an op was called with.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace cnnc {

// A pair such as kernel size [h, w]. Written `[3, 5]` in source and IR.
struct Pair {
    int64_t h = 0, w = 0;
    bool operator==(const Pair &o) const { return h == o.h && w == o.w; }
};

using AttrValue = std::variant<int64_t, double, bool, std::string, Pair>;

// The kinds an op argument may declare; IntOrPair accepts `3` and stores Pair{3,3}.
enum class AttrKind { Int, Float, Bool, String, IntOrPair };

const char *attrKindName(AttrKind k);

// Formats a value exactly as the IR printer and parser expect it.
std::string formatAttr(const AttrValue &v);

// Attributes in the order the op declares its arguments (deterministic printing).
class Attrs {
public:
    void set(const std::string &name, AttrValue v);
    const AttrValue *find(const std::string &name) const;
    bool has(const std::string &name) const { return find(name) != nullptr; }

    int64_t getInt(const std::string &name) const;
    double getFloat(const std::string &name) const;
    bool getBool(const std::string &name) const;
    const std::string &getString(const std::string &name) const;
    Pair getPair(const std::string &name) const;

    const std::vector<std::pair<std::string, AttrValue>> &items() const { return items_; }
    bool operator==(const Attrs &o) const { return items_ == o.items_; }

private:
    std::vector<std::pair<std::string, AttrValue>> items_;
};

} // namespace cnnc
