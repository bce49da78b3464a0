#include "bench/call_lane.h"

#include <deque>
#include <list>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpcpp/generic/generic_stub.h"

namespace lossctl::bench {
namespace {

constexpr char kComputeMethod[] = "/lossd.v1.LossService/Compute";
constexpr char kComputeStreamMethod[] = "/lossd.v1.LossService/ComputeStream";

class UnaryLane final : public CallLane {
 public:
  UnaryLane(std::shared_ptr<grpc::Channel> channel,
            const PreparedRequests* requests, absl::Duration timeout,
            std::string authorization, CompletionHandler handler)
      : stub_(std::move(channel)),
        requests_(requests),
        timeout_(timeout),
        authorization_(std::move(authorization)),
        handler_(std::move(handler)) {}

  void Submit(const Ticket& ticket) override {
    // Owned by the callback, which is always called exactly once.
    auto* call = new Call{.ticket = ticket};
    call->context.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
    if (!authorization_.empty()) {
      call->context.AddMetadata("authorization", authorization_);
    }
    stub_.UnaryCall(&call->context, kComputeMethod, grpc::StubOptions(),
                    &requests_->buffers[ticket.request_index], &call->response,
                    [this, call](grpc::Status status) {
                      handler_(call->ticket, status,
                               status.ok() ? &call->response : nullptr,
                               call->context);
                      delete call;
                    });
  }

  void Close() override {}

 private:
  struct Call {
    Ticket ticket;
    grpc::ClientContext context;
    grpc::ByteBuffer response;
  };

  grpc::GenericStub stub_;
  const PreparedRequests* requests_;
  absl::Duration timeout_;
  std::string authorization_;
  CompletionHandler handler_;
};

// One ComputeStream. Tickets are written in order, one write in flight at a
// time (the callback API's rule), and answered in order, so the front of
// `pending_` is the ticket the next answer belongs to.
class StreamCall final
    : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  StreamCall(grpc::GenericStub* stub, const PreparedRequests* requests,
             const std::string& authorization, const CompletionHandler* handler)
      : requests_(requests), handler_(handler) {
    if (!authorization.empty()) {
      context_.AddMetadata("authorization", authorization);
    }
    stub->PrepareBidiStreamingCall(&context_, kComputeStreamMethod,
                                   grpc::StubOptions(), this);
    // The hold keeps the stream open between our writes; released when the
    // stream breaks or closes.
    AddHold();
    StartRead(&response_);
    StartCall();
  }

  // False when this stream can take no more (it broke or is closing).
  bool Enqueue(const Ticket& ticket) {
    const grpc::ByteBuffer* write = nullptr;
    {
      absl::MutexLock lock(&mu_);
      if (broken_ || closing_) return false;
      pending_.push_back(ticket);
      if (!writing_) write = NextWriteLocked();
    }
    if (write != nullptr) StartWrite(write);
    return true;
  }

  // Half-closes once every write is out; OnDone follows.
  void Close() {
    bool writes_done = false;
    {
      absl::MutexLock lock(&mu_);
      closing_ = true;
      writes_done = ShouldEndWritesLocked();
    }
    if (writes_done) EndWrites();
  }

  bool done() const {
    absl::MutexLock lock(&mu_);
    return done_;
  }
  void WaitDone() const {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
  }

  void OnWriteDone(bool ok) override {
    const grpc::ByteBuffer* write = nullptr;
    bool writes_done = false;
    bool release = false;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) {
        broken_ = true;
        release = ReleaseHoldLocked();
      } else if (next_write_ < pending_.size()) {
        write = NextWriteLocked();
      } else {
        writes_done = ShouldEndWritesLocked();
      }
    }
    if (write != nullptr) StartWrite(write);
    if (writes_done) EndWrites();
    if (release) RemoveHold();
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      bool release;
      {
        absl::MutexLock lock(&mu_);
        broken_ = true;
        release = ReleaseHoldLocked();
      }
      if (release) RemoveHold();
      return;
    }
    Ticket ticket;
    bool unexpected = false;
    {
      absl::MutexLock lock(&mu_);
      if (pending_.empty() || next_write_ == 0) {
        unexpected = true;  // An answer nothing was sent for.
      } else {
        ticket = pending_.front();
        pending_.pop_front();
        --next_write_;
      }
    }
    if (!unexpected) {
      (*handler_)(ticket, grpc::Status::OK, &response_, context_);
    }
    response_.Clear();
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    std::deque<Ticket> unanswered;
    {
      absl::MutexLock lock(&mu_);
      unanswered.swap(pending_);
      next_write_ = 0;
    }
    const grpc::Status failure =
        status.ok() ? grpc::Status(grpc::StatusCode::UNKNOWN,
                                   "the stream ended before this answer")
                    : status;
    for (const Ticket& ticket : unanswered) {
      (*handler_)(ticket, failure, nullptr, context_);
    }
    absl::MutexLock lock(&mu_);
    done_ = true;
  }

 private:
  const grpc::ByteBuffer* NextWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    writing_ = true;
    return &requests_->buffers[pending_[next_write_++].request_index];
  }
  bool ShouldEndWritesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!closing_ || writing_ || broken_ || writes_done_ ||
        next_write_ < pending_.size()) {
      return false;
    }
    writes_done_ = true;
    return true;
  }
  bool ReleaseHoldLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (hold_released_) return false;
    hold_released_ = true;
    return true;
  }
  void EndWrites() {
    StartWritesDone();
    bool release;
    {
      absl::MutexLock lock(&mu_);
      release = ReleaseHoldLocked();
    }
    if (release) RemoveHold();
  }

  const PreparedRequests* requests_;
  const CompletionHandler* handler_;
  grpc::ClientContext context_;
  grpc::ByteBuffer response_;  // Only touched by the one read in flight.

  mutable absl::Mutex mu_;
  std::deque<Ticket> pending_ ABSL_GUARDED_BY(mu_);
  size_t next_write_ ABSL_GUARDED_BY(mu_) = 0;  // Index into pending_.
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool writes_done_ ABSL_GUARDED_BY(mu_) = false;
  bool hold_released_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

class StreamLane final : public CallLane {
 public:
  StreamLane(std::shared_ptr<grpc::Channel> channel,
             const PreparedRequests* requests, std::string authorization,
             CompletionHandler handler)
      : stub_(std::move(channel)),
        requests_(requests),
        authorization_(std::move(authorization)),
        handler_(std::move(handler)) {}

  ~StreamLane() override { Close(); }

  void Submit(const Ticket& ticket) override {
    while (true) {
      std::shared_ptr<StreamCall> stream;
      {
        absl::MutexLock lock(&mu_);
        // Finished streams are dropped here; a stream is done only after
        // its OnDone, so gRPC no longer uses it.
        streams_.remove_if(
            [](const std::shared_ptr<StreamCall>& s) { return s->done(); });
        if (current_ == nullptr || current_->done()) {
          current_ = std::make_shared<StreamCall>(&stub_, requests_,
                                                  authorization_, &handler_);
          streams_.push_back(current_);
        }
        stream = current_;
      }
      // Outside the lock: a completion handler may call Submit again.
      if (stream->Enqueue(ticket)) return;
      absl::MutexLock lock(&mu_);
      if (current_ == stream) current_ = nullptr;  // Broken: open another.
    }
  }

  void Close() override {
    std::list<std::shared_ptr<StreamCall>> streams;
    {
      absl::MutexLock lock(&mu_);
      streams.swap(streams_);
      current_ = nullptr;
    }
    for (auto& stream : streams) stream->Close();
    for (auto& stream : streams) stream->WaitDone();
  }

 private:
  grpc::GenericStub stub_;
  const PreparedRequests* requests_;
  std::string authorization_;
  CompletionHandler handler_;
  absl::Mutex mu_;
  std::list<std::shared_ptr<StreamCall>> streams_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<StreamCall> current_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<CallLane> MakeUnaryLane(std::shared_ptr<grpc::Channel> channel,
                                        const PreparedRequests* requests,
                                        absl::Duration timeout,
                                        std::string authorization,
                                        CompletionHandler handler) {
  return std::make_unique<UnaryLane>(std::move(channel), requests, timeout,
                                     std::move(authorization),
                                     std::move(handler));
}

std::unique_ptr<CallLane> MakeStreamLane(std::shared_ptr<grpc::Channel> channel,
                                         const PreparedRequests* requests,
                                         std::string authorization,
                                         CompletionHandler handler) {
  return std::make_unique<StreamLane>(std::move(channel), requests,
                                      std::move(authorization),
                                      std::move(handler));
}

}  // namespace lossctl::bench
