// list_test.cpp - support/list.h: the intrusive doubly linked list and its consistent() check.
#include "support/list.h"

#include <gtest/gtest.h>

#include <vector>

namespace {

struct Node {
  int value = 0;
  Node* next = nullptr;
  Node* prev = nullptr;
};

using List = km::IntrusiveList<Node, &Node::next, &Node::prev>;

std::vector<int> values(const List& list) {
  std::vector<int> out;
  list.for_each([&](const Node* n) { out.push_back(n->value); });
  return out;
}

TEST(IntrusiveList, EmptyList) {
  List list;
  EXPECT_TRUE(list.empty());
  EXPECT_EQ(list.front(), nullptr);
  EXPECT_EQ(list.length(), 0u);
  EXPECT_TRUE(list.consistent(0));
  EXPECT_TRUE(values(list).empty());
}

TEST(IntrusiveList, PushFrontAndBackOrder) {
  Node a{1}, b{2}, c{3}, d{4};
  List list;
  list.push_front(&b);
  list.push_front(&a);
  list.push_back(&c);
  list.push_back(&d);
  EXPECT_FALSE(list.empty());
  EXPECT_EQ(list.front(), &a);
  EXPECT_EQ(list.length(), 4u);
  EXPECT_EQ(values(list), (std::vector<int>{1, 2, 3, 4}));
  EXPECT_TRUE(list.consistent(4));
  EXPECT_EQ(a.prev, nullptr);
  EXPECT_EQ(d.next, nullptr);
  EXPECT_EQ(b.prev, &a);
  EXPECT_EQ(c.next, &d);
}

TEST(IntrusiveList, RemoveHeadMiddleTail) {
  Node n[5] = {{0}, {1}, {2}, {3}, {4}};
  List list;
  for (Node& x : n)
    list.push_back(&x);
  list.remove(&n[2]); // middle
  EXPECT_EQ(values(list), (std::vector<int>{0, 1, 3, 4}));
  EXPECT_EQ(n[2].next, nullptr);
  EXPECT_EQ(n[2].prev, nullptr);
  EXPECT_TRUE(list.consistent(10));
  list.remove(&n[0]); // head
  EXPECT_EQ(list.front(), &n[1]);
  EXPECT_EQ(n[1].prev, nullptr);
  EXPECT_TRUE(list.consistent(10));
  list.remove(&n[4]); // tail
  EXPECT_EQ(n[3].next, nullptr);
  EXPECT_EQ(values(list), (std::vector<int>{1, 3}));
  EXPECT_TRUE(list.consistent(10));
  list.remove(&n[1]);
  list.remove(&n[3]);
  EXPECT_TRUE(list.empty());
  EXPECT_EQ(list.length(), 0u);
  EXPECT_TRUE(list.consistent(0));
  // The list is reusable after being emptied (head and tail were reset).
  list.push_back(&n[4]);
  EXPECT_EQ(values(list), (std::vector<int>{4}));
  EXPECT_TRUE(list.consistent(1));
}

TEST(IntrusiveList, ConsistentRespectsLimit) {
  Node n[3] = {{0}, {1}, {2}};
  List list;
  for (Node& x : n)
    list.push_back(&x);
  EXPECT_TRUE(list.consistent(3));
  EXPECT_FALSE(list.consistent(2)); // the walk is cut off before the end
}

TEST(IntrusiveList, CorruptedPrevLinkIsInconsistent) {
  Node n[3] = {{0}, {1}, {2}};
  List list;
  for (Node& x : n)
    list.push_back(&x);
  Node* saved = n[2].prev;
  n[2].prev = &n[0]; // should be &n[1]
  EXPECT_FALSE(list.consistent(100));
  n[2].prev = saved;
  EXPECT_TRUE(list.consistent(100));
}

TEST(IntrusiveList, CorruptedHeadPrevIsInconsistent) {
  Node n[2] = {{0}, {1}};
  List list;
  list.push_back(&n[0]);
  list.push_back(&n[1]);
  n[0].prev = &n[1];
  EXPECT_FALSE(list.consistent(100));
}

TEST(IntrusiveList, CorruptedNextLinkCutsTheWalk) {
  Node n[3] = {{0}, {1}, {2}};
  List list;
  for (Node& x : n)
    list.push_back(&x);
  n[1].next = nullptr; // the walk ends at n[1], not at the tail, after 2 of 3 nodes
  EXPECT_FALSE(list.consistent(100));
}

TEST(IntrusiveList, SelfLoopIsInconsistent) {
  Node n[2] = {{0}, {1}};
  List list;
  list.push_back(&n[0]);
  list.push_back(&n[1]);
  n[1].next = &n[1]; // a cycle; the prev check stops the walk at once
  EXPECT_FALSE(list.consistent(100));
}

// Same length, links agree, but the walk ends at a node that is not the list's tail.
TEST(IntrusiveList, WrongTailIsInconsistent) {
  Node a{0}, b{1}, c{2};
  List list;
  list.push_back(&a);
  list.push_back(&b);
  a.next = &c; // c replaces b behind the list's back
  c.prev = &a;
  c.next = nullptr;
  EXPECT_FALSE(list.consistent(100));
}

TEST(IntrusiveList, LengthMismatchIsInconsistent) {
  Node n[3] = {{0}, {1}, {2}};
  List list;
  list.push_back(&n[0]);
  list.push_back(&n[1]);
  // Unlink n[1] behind the list's back: links agree, but the tail and length no longer do.
  n[0].next = nullptr;
  EXPECT_FALSE(list.consistent(100));
}

} // namespace
