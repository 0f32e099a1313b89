#include "lowering/ScheduleChoice.h"

#include <cctype>

namespace cnnc {

std::string ScheduleChoice::str() const {
    if (knobs.empty()) return "default";
    std::string s;
    for (auto &[k, v] : knobs) s += (s.empty() ? "" : ",") + k + "=" + std::to_string(v);
    return s;
}

std::optional<ScheduleChoice> ScheduleChoice::parse(const std::string &text) {
    ScheduleChoice c;
    if (text == "default") return c;
    size_t start = 0;
    while (start <= text.size()) {
        size_t end = text.find(',', start);
        if (end == std::string::npos) end = text.size();
        std::string item = text.substr(start, end - start);
        size_t eq = item.find('=');
        if (eq == 0 || eq == std::string::npos || eq + 1 == item.size() || item.size() - eq > 7) return std::nullopt;
        for (size_t i = 0; i < eq; ++i)
            if (!std::islower(static_cast<unsigned char>(item[i])) && item[i] != '_') return std::nullopt;
        int value = 0;
        for (size_t i = eq + 1; i < item.size(); ++i) {
            if (!std::isdigit(static_cast<unsigned char>(item[i]))) return std::nullopt;
            value = value * 10 + (item[i] - '0');
        }
        if (!c.knobs.emplace(item.substr(0, eq), value).second) return std::nullopt;
        start = end + 1;
    }
    return c;
}

} // namespace cnnc
