#include "tools/cnnrt/Options.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

namespace cnnrt_tool {

using std::runtime_error;
using std::string;

Options parseOptions(const std::vector<string> &args, const std::set<string> &valueFlags,
                     const std::set<string> &switchFlags) {
    Options o;
    for (size_t i = 0; i < args.size(); ++i) {
        const string &a = args[i];
        if (a.size() < 2 || a[0] != '-' || a == "--") {
            if (a == "--") {
                o.positional.insert(o.positional.end(), args.begin() + long(i) + 1, args.end());
                break;
            }
            o.positional.push_back(a);
            continue;
        }
        if (a[1] != '-') throw runtime_error("unknown option '" + a + "' (options are spelled --name)");
        string flag = a.substr(2), value;
        size_t eq = flag.find('=');
        bool inlineValue = eq != string::npos;
        if (inlineValue) value = flag.substr(eq + 1), flag = flag.substr(0, eq);
        if (switchFlags.count(flag)) {
            if (inlineValue) throw runtime_error("option --" + flag + " takes no value");
            o.switches.insert(flag);
        } else if (valueFlags.count(flag)) {
            if (!inlineValue) {
                if (i + 1 >= args.size()) throw runtime_error("option --" + flag + " needs a value");
                value = args[++i];
            }
            if (o.values.count(flag)) throw runtime_error("option --" + flag + " given twice");
            o.values[flag] = value;
        } else {
            throw runtime_error("unknown option '--" + flag + "'");
        }
    }
    return o;
}

string Options::str(const string &flag, const string &def) const {
    auto it = values.find(flag);
    return it == values.end() ? def : it->second;
}

int64_t Options::integer(const string &flag, int64_t def, int64_t min, int64_t max) const {
    auto it = values.find(flag);
    if (it == values.end()) return def;
    const string &s = it->second;
    char *end = nullptr;
    errno = 0;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end || errno) throw runtime_error("--" + flag + ": '" + s + "' is not an integer");
    if (v < min || v > max)
        throw runtime_error("--" + flag + ": " + s + " is out of range [" + std::to_string(min) + ", " +
                            std::to_string(max) + "]");
    return v;
}

uint64_t Options::uint64(const string &flag, uint64_t def) const {
    auto it = values.find(flag);
    if (it == values.end()) return def;
    const string &s = it->second;
    char *end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(s.c_str(), &end, 10);
    if (s.empty() || s[0] == '-' || *end || errno)
        throw runtime_error("--" + flag + ": '" + s + "' is not a non-negative integer");
    return v;
}

float Options::real(const string &flag, float def, double min, double max, bool minExclusive) const {
    auto it = values.find(flag);
    if (it == values.end()) return def;
    const string &s = it->second;
    char *end = nullptr;
    errno = 0;
    float v = std::strtof(s.c_str(), &end);
    if (s.empty() || *end || errno || !std::isfinite(v)) throw runtime_error("--" + flag + ": '" + s + "' is not a number");
    if (v < min || v > max || (minExclusive && v == min))
        throw runtime_error("--" + flag + ": " + s + " is out of range " + (minExclusive ? "(" : "[") +
                            std::to_string(min) + ", " + std::to_string(max) + "]");
    return v;
}

}  // namespace cnnrt_tool
