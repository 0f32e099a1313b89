// What `cnnc tune` records from its candidates' times: the rules of
// decideSchedules (codegen/Tuner.h), on made-up times.
#include <gtest/gtest.h>

#include <limits>

#include "codegen/Tuner.h"

namespace cnnc {
namespace {

// Candidate 0 is the default in every case.
TEST(TunerDecision, FastestSummedOverTheBatches) {
    // Per sample at batches 1 and 8: candidate 2 is fastest in sum.
    ScheduleDecision d = decideSchedules({1, 8}, {{100, 100}, {90, 95}, {80, 90}});
    EXPECT_EQ(d.choice, 2u);
    EXPECT_DOUBLE_EQ(d.micros, 170);
    EXPECT_DOUBLE_EQ(d.defaultMicros, 200);
    EXPECT_FALSE(d.largeBatchChoice);
}

TEST(TunerDecision, TheDefaultStaysUnlessClearlyBeaten) {
    EXPECT_EQ(decideSchedules({1, 8}, {{100, 100}, {98, 99}}).choice, 0u); // 1.5% faster
    EXPECT_EQ(decideSchedules({1, 8}, {{100, 100}, {95, 95}}).choice, 1u); // 5%
}

TEST(TunerDecision, RejectedCandidatesLose) {
    const double inf = std::numeric_limits<double>::infinity();
    ScheduleDecision d = decideSchedules({1, 8}, {{100, 100}, {inf, inf}, {90, 90}});
    EXPECT_EQ(d.choice, 2u);
}

TEST(TunerDecision, AVariantWhenTheLargeBatchHasAClearlyFasterSchedule) {
    // Direct (1) wins at batch 1, Winograd (2) at batch 8, by 2x: ResNet-18's 7x7x512 convs.
    ScheduleDecision d = decideSchedules({1, 8}, {{3000, 2500}, {1500, 2100}, {2600, 1000}});
    EXPECT_EQ(d.choice, 1u);
    ASSERT_TRUE(d.largeBatchChoice);
    EXPECT_EQ(*d.largeBatchChoice, 2u);
    EXPECT_EQ(d.largeBatchFrom, 8);
    EXPECT_DOUBLE_EQ(d.smallMicros, 1500);
    EXPECT_DOUBLE_EQ(d.largeMicros, 1000);
    EXPECT_DOUBLE_EQ(d.micros, 2500);
    // The batches in any order.
    ScheduleDecision e = decideSchedules({8, 1}, {{2500, 3000}, {2100, 1500}, {1000, 2600}});
    ASSERT_TRUE(e.largeBatchChoice);
    EXPECT_EQ(e.choice, 1u);
    EXPECT_EQ(*e.largeBatchChoice, 2u);
}

TEST(TunerDecision, NoVariantForSmallGains) {
    // 15% faster at batch 8: one schedule for all.
    ScheduleDecision d = decideSchedules({1, 8}, {{3000, 2500}, {1500, 2000}, {2600, 1700}});
    EXPECT_FALSE(d.largeBatchChoice);
    EXPECT_EQ(d.choice, 1u);
    // 2x faster, but 8 x 20 us per call saved: not worth a second kernel.
    ScheduleDecision e = decideSchedules({1, 8}, {{30, 25}, {15, 40}, {26, 20}});
    EXPECT_FALSE(e.largeBatchChoice);
    // One batch: nothing to vary over.
    EXPECT_FALSE(decideSchedules({8}, {{3000}, {1000}}).largeBatchChoice);
}

// The other width's search: the default, the fastest in sum, the fastest at
// the largest batch; never a rejected candidate.
TEST(TunerDecision, FinalistsForTheOtherWidth) {
    const double inf = std::numeric_limits<double>::infinity();
    // Sums: 200, 150, inf, 120, 175, 190, 130, 160; at batch 8: 100, 80, inf, 70, 20, 95, 65, 90.
    std::vector<std::vector<double>> times{{100, 100}, {70, 80}, {inf, inf}, {50, 70},
                                           {155, 20}, {95, 95}, {65, 65}, {70, 90}};
    // Default 0; the four fastest in sum 3, 6, 1, 7; the two fastest at batch 8, 4 and 6.
    EXPECT_EQ(searchFinalists(times), (std::vector<size_t>{0, 1, 3, 4, 6, 7}));
    // Fewer candidates than finalists: all that compiled.
    EXPECT_EQ(searchFinalists({{100, 100}, {inf, inf}, {90, 90}}), (std::vector<size_t>{0, 2}));
}

} // namespace
} // namespace cnnc
