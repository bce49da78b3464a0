// lossd_service_bench: a small closed-loop load client for the service
// benchmark. It sends one pre-serialized cross_entropy request (float32 raw
// logits [rows, classes], int64 labels) to lossd's Compute, or the same
// bytes wrapped in an EchoMessage to lossd_bench_echo, keeping
// --concurrency calls in flight, and prints one JSON line: latency
// percentiles, requests/s, GB/s, and, given --server_pid, the server's page
// faults per request and its resident memory.
//
// Both services are called through the same generic stub with the same
// ByteBuffer, so the client does the same work for either and the
// difference between the two is the server's.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "lossd/bench/v1/echo.pb.h"
#include "lossd/v1/loss_service.pb.h"

ABSL_FLAG(std::string, target, "", "host:port of the server.");
ABSL_FLAG(std::string, service, "compute", "compute (lossd) or echo.");
ABSL_FLAG(int64_t, rows, 1024, "Rows of the request's logits.");
ABSL_FLAG(int64_t, classes, 1024, "Classes of the request's logits.");
ABSL_FLAG(std::string, dtype, "float32",
          "The logits' wire dtype (and so the gradient's): float32, "
          "bfloat16 or float16.");
ABSL_FLAG(int, concurrency, 1, "Calls kept in flight.");
ABSL_FLAG(int64_t, warmup_requests, 10, "Calls made before measuring.");
ABSL_FLAG(int64_t, requests, 100, "Calls measured (at most).");
ABSL_FLAG(double, max_seconds, 20, "Stop issuing measured calls after this.");
ABSL_FLAG(int, server_pid, 0,
          "If set, the server's page faults and memory are read from /proc.");
ABSL_FLAG(bool, reset_peak_rss, false,
          "With --server_pid, reset the server's peak RSS (VmHWM) before the "
          "measured calls, so the reported peak is theirs.");

namespace {

using Clock = std::chrono::steady_clock;

struct ProcessSample {
  int64_t minor_faults = 0;
  int64_t major_faults = 0;
  int64_t rss_bytes = 0;
  int64_t peak_rss_bytes = 0;
  double cpu_seconds = 0;  // User and system time.
};

ProcessSample SampleProcess(int pid) {
  ProcessSample sample;
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(stat)),
                   std::istreambuf_iterator<char>());
  // Fields after the command name, which may hold spaces: state is field 3,
  // minflt field 10, majflt field 12, utime and stime fields 14 and 15.
  const size_t close = text.rfind(')');
  if (close != std::string::npos) {
    std::istringstream fields(text.substr(close + 2));
    std::vector<std::string> values;
    for (std::string field; fields >> field;) values.push_back(field);
    if (values.size() > 12) {
      sample.minor_faults = std::stoll(values[7]);
      sample.major_faults = std::stoll(values[9]);
      sample.cpu_seconds =
          static_cast<double>(std::stoll(values[11]) + std::stoll(values[12])) /
          static_cast<double>(sysconf(_SC_CLK_TCK));
    }
  }
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  for (std::string line; std::getline(status, line);) {
    int64_t kib = 0;
    if (std::sscanf(line.c_str(), "VmRSS: %ld kB", &kib) == 1) {
      sample.rss_bytes = kib * 1024;
    } else if (std::sscanf(line.c_str(), "VmHWM: %ld kB", &kib) == 1) {
      sample.peak_rss_bytes = kib * 1024;
    }
  }
  return sample;
}

// The wire dtype called `name`, with its element size; false if unknown.
bool ParseDType(const std::string& name, lossd::v1::DType* dtype,
                size_t* size) {
  if (name == "float32") {
    *dtype = lossd::v1::DTYPE_FLOAT32;
    *size = 4;
  } else if (name == "bfloat16") {
    *dtype = lossd::v1::DTYPE_BFLOAT16;
    *size = 2;
  } else if (name == "float16") {
    *dtype = lossd::v1::DTYPE_FLOAT16;
    *size = 2;
  } else {
    return false;
  }
  return true;
}

// Logits as raw little-endian `dtype` bytes.
std::string EncodeLogits(const std::vector<float>& logits,
                         lossd::v1::DType dtype) {
  if (dtype == lossd::v1::DTYPE_FLOAT32) {
    return std::string(reinterpret_cast<const char*>(logits.data()),
                       logits.size() * sizeof(float));
  }
  std::string raw(logits.size() * 2, '\0');
  for (size_t i = 0; i < logits.size(); ++i) {
    const uint16_t bits =
        dtype == lossd::v1::DTYPE_BFLOAT16
            ? Eigen::numext::bit_cast<uint16_t>(Eigen::bfloat16(logits[i]))
            : Eigen::numext::bit_cast<uint16_t>(Eigen::half(logits[i]));
    std::memcpy(raw.data() + 2 * i, &bits, sizeof bits);
  }
  return raw;
}

std::string BuildComputeRequest(int64_t rows, int64_t classes,
                                lossd::v1::DType dtype) {
  lossd::v1::ComputeRequest request;
  request.set_loss("cross_entropy");
  std::mt19937 random(7);
  std::normal_distribution<float> logit(0.0f, 2.0f);
  std::uniform_int_distribution<int64_t> label(0, classes - 1);
  std::vector<float> logits(rows * classes);
  for (float& x : logits) x = logit(random);
  std::vector<int64_t> labels(rows);
  for (int64_t& y : labels) y = label(random);
  lossd::v1::Tensor* input = request.mutable_input();
  input->set_dtype(dtype);
  input->add_shape(rows);
  input->add_shape(classes);
  input->set_raw(EncodeLogits(logits, dtype));
  lossd::v1::Tensor* target = request.mutable_target();
  target->set_dtype(lossd::v1::DTYPE_INT64);
  target->add_shape(rows);
  target->set_raw(labels.data(), labels.size() * sizeof(int64_t));
  return request.SerializeAsString();
}

// Keeps `concurrency` calls in flight until `total` have been issued or the
// deadline passes; records each call's latency.
class LoadRun {
 public:
  LoadRun(grpc::GenericStub* stub, std::string method,
          const grpc::ByteBuffer* request, int concurrency, int64_t total,
          Clock::time_point deadline)
      : stub_(stub),
        method_(std::move(method)),
        request_(request),
        concurrency_(concurrency),
        total_(total),
        deadline_(deadline),
        slots_(concurrency) {}

  void Run() {
    start_ = Clock::now();
    for (int i = 0; i < concurrency_; ++i) Issue(&slots_[i]);
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [&] { return in_flight_ == 0 && issuing_stopped_; });
    end_ = Clock::now();
  }

  std::vector<double> latencies_seconds() const {
    std::vector<double> all;
    for (const Slot& slot : slots_) {
      all.insert(all.end(), slot.latencies.begin(), slot.latencies.end());
    }
    return all;
  }
  double seconds() const {
    return std::chrono::duration<double>(end_ - start_).count();
  }
  int64_t errors() const { return errors_; }
  std::string first_error() const { return first_error_; }
  int64_t response_bytes() const { return response_bytes_; }
  const grpc::ByteBuffer& last_response() const { return slots_[0].response; }

 private:
  struct Slot {
    std::unique_ptr<grpc::ClientContext> context;
    grpc::ByteBuffer response;
    Clock::time_point start;
    std::vector<double> latencies;
  };

  // Starts a call on `slot` if any remain; false if none was started.
  bool Issue(Slot* slot) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (issued_ >= total_ || Clock::now() > deadline_) {
        issuing_stopped_ = true;
        return false;
      }
      ++issued_;
      ++in_flight_;
    }
    slot->context = std::make_unique<grpc::ClientContext>();
    slot->start = Clock::now();
    stub_->UnaryCall(slot->context.get(), method_, grpc::StubOptions(),
                     request_, &slot->response,
                     [this, slot](grpc::Status status) {
                       Completed(slot, std::move(status));
                     });
    return true;
  }

  void Completed(Slot* slot, grpc::Status status) {
    const double latency =
        std::chrono::duration<double>(Clock::now() - slot->start).count();
    slot->latencies.push_back(latency);
    response_bytes_ += static_cast<int64_t>(slot->response.Length());
    if (!status.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (errors_++ == 0) {
        first_error_ =
            absl::StrCat(status.error_code(), ": ", status.error_message());
      }
    }
    if (slot != &slots_[0]) slot->response.Clear();
    Issue(slot);
    std::lock_guard<std::mutex> lock(mu_);
    --in_flight_;
    if (in_flight_ == 0 && issuing_stopped_) done_.notify_all();
  }

  grpc::GenericStub* stub_;
  const std::string method_;
  const grpc::ByteBuffer* request_;
  const int concurrency_;
  const int64_t total_;
  const Clock::time_point deadline_;
  std::vector<Slot> slots_;
  std::atomic<int64_t> response_bytes_{0};
  std::mutex mu_;
  std::condition_variable done_;
  int64_t issued_ = 0;
  int64_t in_flight_ = 0;
  bool issuing_stopped_ = false;
  int64_t errors_ = 0;
  std::string first_error_;
  Clock::time_point start_, end_;
};

double Percentile(std::vector<double> sorted, double fraction) {
  if (sorted.empty()) return NAN;
  const size_t index =
      std::min(sorted.size() - 1,
               static_cast<size_t>(fraction * (sorted.size() - 1) + 0.5));
  return sorted[index];
}

// Checks that a Compute response carries a finite loss and the gradient.
std::string CheckComputeResponse(const grpc::ByteBuffer& buffer,
                                 int64_t gradient_bytes) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return "cannot read the response";
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  lossd::v1::ComputeResponse response;
  if (!response.ParseFromString(bytes)) return "cannot parse the response";
  if (!std::isfinite(response.loss())) return "the loss is not finite";
  if (static_cast<int64_t>(response.grad_input().raw().size()) !=
      gradient_bytes) {
    return "the gradient has the wrong size";
  }
  return "";
}

int Main() {
  const std::string service = absl::GetFlag(FLAGS_service);
  if (service != "compute" && service != "echo") {
    std::fprintf(stderr, "--service must be compute or echo\n");
    return 2;
  }
  const int64_t rows = absl::GetFlag(FLAGS_rows);
  const int64_t classes = absl::GetFlag(FLAGS_classes);
  lossd::v1::DType dtype;
  size_t element_size;
  if (!ParseDType(absl::GetFlag(FLAGS_dtype), &dtype, &element_size)) {
    std::fprintf(stderr, "--dtype must be float32, bfloat16 or float16\n");
    return 2;
  }
  std::string payload = BuildComputeRequest(rows, classes, dtype);
  std::string method = "/lossd.v1.LossService/Compute";
  if (service == "echo") {
    lossd::bench::v1::EchoMessage echo;
    echo.set_payload(std::move(payload));
    payload = echo.SerializeAsString();
    method = "/lossd.bench.v1.EchoService/Echo";
  }
  grpc::Slice slice(payload.data(), payload.size());
  const grpc::ByteBuffer request(&slice, 1);

  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(-1);
  arguments.SetMaxSendMessageSize(-1);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(absl::GetFlag(FLAGS_target),
                                grpc::InsecureChannelCredentials(), arguments);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() +
                                 std::chrono::seconds(10))) {
    std::fprintf(stderr, "cannot connect to %s\n",
                 absl::GetFlag(FLAGS_target).c_str());
    return 1;
  }
  grpc::GenericStub stub(channel);
  const int concurrency = std::max(1, absl::GetFlag(FLAGS_concurrency));

  LoadRun warmup(&stub, method, &request, concurrency,
                 absl::GetFlag(FLAGS_warmup_requests),
                 Clock::now() + std::chrono::seconds(30));
  warmup.Run();
  if (warmup.errors() > 0) {
    std::fprintf(stderr, "warm-up call failed: %s\n",
                 warmup.first_error().c_str());
    return 1;
  }
  if (service == "compute" && absl::GetFlag(FLAGS_warmup_requests) > 0) {
    if (std::string error = CheckComputeResponse(warmup.last_response(),
                                                 rows * classes * element_size);
        !error.empty()) {
      std::fprintf(stderr, "bad Compute response: %s\n", error.c_str());
      return 1;
    }
  }

  const int pid = absl::GetFlag(FLAGS_server_pid);
  if (pid > 0 && absl::GetFlag(FLAGS_reset_peak_rss)) {
    // "5" resets the peak resident set size to the current one.
    std::ofstream(absl::StrCat("/proc/", pid, "/clear_refs")) << "5";
  }
  const ProcessSample before = pid > 0 ? SampleProcess(pid) : ProcessSample{};
  LoadRun run(
      &stub, method, &request, concurrency, absl::GetFlag(FLAGS_requests),
      Clock::now() +
          std::chrono::duration_cast<Clock::duration>(
              std::chrono::duration<double>(absl::GetFlag(FLAGS_max_seconds))));
  run.Run();
  const ProcessSample after = pid > 0 ? SampleProcess(pid) : ProcessSample{};

  std::vector<double> latencies = run.latencies_seconds();
  std::sort(latencies.begin(), latencies.end());
  const int64_t count = static_cast<int64_t>(latencies.size());
  double sum = 0;
  for (double l : latencies) sum += l;
  const double seconds = run.seconds();
  const double moved_bytes =
      static_cast<double>(payload.size()) * count + run.response_bytes();
  std::string json = absl::StrFormat(
      "{\"service\": \"%s\", \"dtype\": \"%s\", \"rows\": %d, "
      "\"classes\": %d, "
      "\"request_bytes\": %d, \"response_bytes\": %.0f, \"concurrency\": %d, "
      "\"requests\": %d, \"errors\": %d, \"seconds\": %.6f, "
      "\"requests_per_second\": %.3f, \"gigabytes_per_second\": %.4f, "
      "\"mean_ms\": %.4f, \"p50_ms\": %.4f, \"p90_ms\": %.4f, "
      "\"p99_ms\": %.4f, \"min_ms\": %.4f",
      service, absl::GetFlag(FLAGS_dtype), rows, classes, payload.size(),
      count > 0 ? run.response_bytes() / static_cast<double>(count) : 0.0,
      concurrency, count, run.errors(), seconds, count / seconds,
      moved_bytes / seconds / 1e9, count > 0 ? 1e3 * sum / count : NAN,
      1e3 * Percentile(latencies, 0.5), 1e3 * Percentile(latencies, 0.9),
      1e3 * Percentile(latencies, 0.99),
      count > 0 ? 1e3 * latencies.front() : NAN);
  if (pid > 0) {
    absl::StrAppendFormat(
        &json,
        ", \"server_minor_faults_per_request\": %.3f, "
        "\"server_major_faults_per_request\": %.3f, "
        "\"server_cpu_us_per_request\": %.2f, "
        "\"server_rss_bytes_before\": %d, \"server_rss_bytes_after\": %d, "
        "\"server_peak_rss_bytes\": %d",
        count > 0
            ? static_cast<double>(after.minor_faults - before.minor_faults) /
                  count
            : NAN,
        count > 0
            ? static_cast<double>(after.major_faults - before.major_faults) /
                  count
            : NAN,
        count > 0 ? 1e6 * (after.cpu_seconds - before.cpu_seconds) / count
                  : NAN,
        before.rss_bytes, after.rss_bytes, after.peak_rss_bytes);
  }
  if (run.errors() > 0) {
    absl::StrAppendFormat(&json, ", \"first_error\": \"%s\"",
                          absl::CEscape(run.first_error()));
  }
  json += "}";
  std::printf("%s\n", json.c_str());
  return run.errors() > 0 ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return Main();
}
