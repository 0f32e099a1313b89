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

} // namespace
} // namespace cnnc
