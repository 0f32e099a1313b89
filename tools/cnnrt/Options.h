// Command-line parsing for cnnrt's subcommands: "--flag value", "--flag=value", switches.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace cnnrt_tool {

struct Options {
    std::vector<std::string> positional;
    std::map<std::string, std::string> values;  // flag (without "--") -> value
    std::set<std::string> switches;             // given switches

    bool has(const std::string &flag) const { return values.count(flag) || switches.count(flag); }
    std::string str(const std::string &flag, const std::string &def = "") const;
    int64_t integer(const std::string &flag, int64_t def, int64_t min, int64_t max) const;
    uint64_t uint64(const std::string &flag, uint64_t def) const;
    float real(const std::string &flag, float def, double min, double max, bool minExclusive = false) const;
};

// valueFlags take a value, switchFlags do not; anything else starting with "-" is an error.
Options parseOptions(const std::vector<std::string> &args, const std::set<std::string> &valueFlags,
                     const std::set<std::string> &switchFlags);

}  // namespace cnnrt_tool
