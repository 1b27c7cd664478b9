// support/list.h - a doubly linked intrusive list (the kernel's list_head, made type-safe).
//
// T has members `T* next` and `T* prev`, reached through the member pointers given.
// Invariants (checked by consistent()): head->prev == nullptr, tail->next == nullptr, every
// node's next->prev is itself, and walking from head reaches tail after length() nodes.
#pragma once

#include <cstddef>

namespace km {

template <class T, T* T::*Next, T* T::*Prev> class IntrusiveList {
public:
  bool empty() const { return head_ == nullptr; }
  T* front() const { return head_; }
  std::size_t length() const { return length_; }

  void push_front(T* node) {
    node->*Prev = nullptr;
    node->*Next = head_;
    if (head_ != nullptr)
      head_->*Prev = node;
    else
      tail_ = node;
    head_ = node;
    ++length_;
  }

  void push_back(T* node) {
    node->*Next = nullptr;
    node->*Prev = tail_;
    if (tail_ != nullptr)
      tail_->*Next = node;
    else
      head_ = node;
    tail_ = node;
    ++length_;
  }

  void remove(T* node) {
    T* next = node->*Next;
    T* prev = node->*Prev;
    if (prev != nullptr)
      prev->*Next = next;
    else
      head_ = next;
    if (next != nullptr)
      next->*Prev = prev;
    else
      tail_ = prev;
    node->*Next = nullptr;
    node->*Prev = nullptr;
    --length_;
  }

  // Walks at most limit nodes. False if links disagree, the walk does not end at tail_, or
  // the number of nodes differs from length().
  bool consistent(std::size_t limit) const {
    std::size_t count = 0;
    const T* prev = nullptr;
    for (const T* node = head_; node != nullptr; node = node->*Next) {
      if (node->*Prev != prev || ++count > limit)
        return false;
      prev = node;
    }
    return prev == tail_ && count == length_;
  }

  template <class F> void for_each(F&& fn) const {
    for (T* node = head_; node != nullptr; node = node->*Next)
      fn(node);
  }

private:
  T* head_ = nullptr;
  T* tail_ = nullptr;
  std::size_t length_ = 0;
};

} // namespace km
