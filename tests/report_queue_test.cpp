// report_queue_test.cpp - report/report_impl.h's ReportQueue, which holds validate()'s reports
// until its locks are released: reports come out in order, with their kind, address and text;
// past its capacity one more report says how many were not shown; deliver() empties it.
#include <gtest/gtest.h>

#include <string>

#include "heap_test_support.h"
#include "report/report_impl.h"

namespace {

using kmtest::Recorder;

TEST(ReportQueue, DeliversInOrderOnlyWhenAsked) {
  km::ReportQueue queue;
  const km::Reporter into = queue.reporter();
  km::report_corruption(into, "AC1", 0x1000, "first %d", 1);
  km::report_page_double_free(into, 0x2000, 3);
  Recorder rec;
  const km::Reporter target{Recorder::handle, &rec};
  EXPECT_EQ(rec.size(), 0u); // nothing reaches the handler before deliver()
  queue.deliver(target);
  ASSERT_EQ(rec.size(), 2u) << rec.dump();
  EXPECT_EQ(rec.reports[0].kind, km::ErrorKind::Corruption);
  EXPECT_EQ(rec.reports[0].address, 0x1000u);
  EXPECT_EQ(rec.reports[0].message, "kmalloc: validate: AC1: first 1");
  EXPECT_EQ(rec.reports[1].kind, km::ErrorKind::PageDoubleFree);
  EXPECT_EQ(rec.reports[1].address, 0x2000u);
  rec.clear();
  queue.deliver(target); // emptied
  EXPECT_EQ(rec.size(), 0u);
}

TEST(ReportQueue, BeyondItsCapacityCountsWhatItDidNotKeep) {
  km::ReportQueue queue;
  const km::Reporter into = queue.reporter();
  const unsigned total = km::ReportQueue::kCapacity + 3;
  for (unsigned i = 0; i < total; ++i)
    km::report_corruption(into, "AC3", i, "report %u", i);
  Recorder rec;
  queue.deliver(km::Reporter{Recorder::handle, &rec});
  ASSERT_EQ(rec.size(), km::ReportQueue::kCapacity + 1) << rec.dump();
  for (unsigned i = 0; i < km::ReportQueue::kCapacity; ++i)
    EXPECT_EQ(rec.reports[i].message, "kmalloc: validate: AC3: report " + std::to_string(i));
  EXPECT_EQ(rec.reports.back().kind, km::ErrorKind::Corruption);
  EXPECT_EQ(rec.reports.back().message, "kmalloc: validate: 3 more reports not shown");
}

TEST(ReportQueue, LongMessagesAreKeptWhole) {
  km::ReportQueue queue;
  const std::string detail(200, 'x');
  km::report_corruption(queue.reporter(), "LIVE", 0, "%s", detail.c_str());
  Recorder rec;
  queue.deliver(km::Reporter{Recorder::handle, &rec});
  ASSERT_EQ(rec.size(), 1u);
  EXPECT_EQ(rec.reports[0].message, "kmalloc: validate: LIVE: " + detail);
}

} // namespace
