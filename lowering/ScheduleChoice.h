// A point in an op's schedule space: a few named integer knobs, e.g.
// "tile_x=2,tile_c=6,chunk=8". The empty choice is the op's default schedule.
// Ops list their candidates (OpDef::scheduleSpace) and read the knobs in their
// lowering and schedule hooks; `cnnc tune` times the candidates and the tuning
// database (TuningDb.h) remembers the best one per kernel.
#pragma once
#include <map>
#include <optional>
#include <string>

namespace cnnc {

struct ScheduleChoice {
    std::map<std::string, int> knobs;

    int get(const std::string &knob, int fallback) const {
        auto it = knobs.find(knob);
        return it == knobs.end() ? fallback : it->second;
    }
    bool has(const std::string &knob) const { return knobs.count(knob) != 0; }
    bool isDefault() const { return knobs.empty(); }
    // "tile_c=6,tile_x=2" (knobs sorted), or "default".
    std::string str() const;
    // Inverse of str(); nullopt on malformed text.
    static std::optional<ScheduleChoice> parse(const std::string &text);

    bool operator==(const ScheduleChoice &o) const { return knobs == o.knobs; }
};

} // namespace cnnc
