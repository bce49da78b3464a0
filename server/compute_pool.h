// A fixed set of threads that compute large requests, so that gRPC's own
// threads (which receive and send every call's bytes) are never held up for
// long by one computation. The queue is not bounded here: admission
// (admission.h) bounds how many requests can be in it.

#ifndef LOSSD_SERVER_COMPUTE_POOL_H_
#define LOSSD_SERVER_COMPUTE_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace lossd::server {

class ComputePool {
 public:
  // `threads` <= 0 means one per core.
  explicit ComputePool(int threads);
  // Runs the work already submitted, then joins the threads.
  ~ComputePool();
  ComputePool(const ComputePool&) = delete;
  ComputePool& operator=(const ComputePool&) = delete;

  // Runs `work` on one of the threads, in submission order.
  void Submit(std::function<void()> work);

 private:
  void Loop();

  absl::Mutex mutex_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mutex_);
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace lossd::server

#endif  // LOSSD_SERVER_COMPUTE_POOL_H_
