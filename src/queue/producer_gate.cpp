#include "queue/producer_gate.hpp"

#include "queue/asymmetric_fence.hpp"

#include <thread>

namespace spanline::detail {
namespace {

using ThreadRecord = ProducerGate::ThreadRecord;

// Every record ever made, newest first. Records are never freed (a thread that exits
// hands its record to the next new thread), so a walk never meets freed memory.
std::atomic<ThreadRecord*> all_records{nullptr};

ThreadRecord& claim_record() {
  for (ThreadRecord* record = all_records.load(std::memory_order_acquire); record != nullptr;
       record = record->next) {
    bool free = false;
    if (!record->in_use.load(std::memory_order_relaxed) &&
        record->in_use.compare_exchange_strong(free, true, std::memory_order_acquire)) {
      return *record;
    }
  }
  auto* record = new ThreadRecord;  // lives for the rest of the process
  record->in_use.store(true, std::memory_order_relaxed);
  record->next = all_records.load(std::memory_order_relaxed);
  while (!all_records.compare_exchange_weak(record->next, record, std::memory_order_release,
                                            std::memory_order_relaxed)) {
  }
  return *record;
}

// This thread's record. Trivially destructible, so reading it costs no guard check and
// it stays readable while other thread_local destructors run (one may end a Span).
thread_local ThreadRecord* this_thread_record_ptr = nullptr;
thread_local bool this_thread_exiting = false;

// Hands the record back when the thread exits.
struct RecordReturner {
  ~RecordReturner() {
    this_thread_exiting = true;
    if (this_thread_record_ptr != nullptr)
      this_thread_record_ptr->in_use.store(false, std::memory_order_release);
    this_thread_record_ptr = nullptr;
  }
};

ThreadRecord& claim_this_thread_record() {
  ThreadRecord& record = claim_record();
  this_thread_record_ptr = &record;
  // A thread already past its returner's destruction (logging from a later thread_local
  // destructor) never hands its record back: one record lost, never one shared.
  if (!this_thread_exiting) {
    thread_local RecordReturner returner;
    (void)returner;
  }
  return record;
}

ThreadRecord& this_thread_record() {
  ThreadRecord* record = this_thread_record_ptr;
  return record != nullptr ? *record : claim_this_thread_record();
}

}  // namespace

ProducerGate::Pass ProducerGate::enter() noexcept {
  // claim_record() allocates once per thread; if that fails the process is out of
  // memory and std::terminate (noexcept) is as good an answer as any.
  ThreadRecord& record = this_thread_record();
  record.inside.store(this, std::memory_order_relaxed);
  // Pairs with the heavy fence in close_and_wait(): either that walk sees this record
  // marked, or this load sees the gate closed.
  light_fence();
  return Pass(record, !closed_.load(std::memory_order_relaxed));
}

void ProducerGate::close_and_wait() noexcept {
  closed_.store(true, std::memory_order_seq_cst);
  heavy_fence();
  for (ThreadRecord* record = all_records.load(std::memory_order_acquire); record != nullptr;
       record = record->next) {
    // acquire pairs with the Pass's release: the row its producer queued is visible.
    while (record->inside.load(std::memory_order_acquire) == this) std::this_thread::yield();
  }
}

}  // namespace spanline::detail
